package lifecycle

import (
	"strings"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// ProbeResult is the outcome of one run of a probe: OK, or a failure
// with Output saying why (the command's output, the HTTP status, the
// dial error), which goes into the Unhealthy event.
type ProbeResult struct {
	OK     bool
	Output string
}

// probeTrack is one probe of a container attempt, as kubelet's prober
// worker keeps it: the result flips only after SuccessThreshold
// consecutive successes or FailureThreshold consecutive failures.
type probeTrack struct {
	kind   string
	spec   *core.Probe
	nextAt time.Time
	// result is the probe's current verdict after the thresholds.
	result bool
	// last and run count the consecutive equal raw results.
	last, lastSet bool
	run           int
}

// Probes decides when each probe of one running attempt of a container
// runs and what its results mean, with kubelet's semantics:
//
//   - every probe runs first InitialDelaySeconds after the container
//     started, then every PeriodSeconds;
//   - until the startup probe (if any) has succeeded, it is the only one
//     that runs, and the container is neither started nor ready; once it
//     succeeded it never runs again for this attempt;
//   - liveness starts as success, readiness as failure; a result flips
//     after its threshold of consecutive equal outcomes;
//   - a liveness or startup probe that flips to failure asks for the
//     attempt to be killed (Outcome.Kill); no probe runs after that;
//   - every failed run is a Warning Unhealthy event.
//
// Probes is pure: the caller runs the probes and passes the times. A new
// attempt of the container gets a new Probes. Not safe for concurrent
// use.
type Probes struct {
	Container string
	tracks    []*probeTrack // startup first
	started   bool          // no startup probe, or it succeeded
	killed    bool
}

// ProbeOutcome is what one probe result means.
type ProbeOutcome struct {
	// Notes are events to record (Warning Unhealthy on a failed run).
	Notes []Note
	// Kill: a liveness or startup probe failed FailureThreshold times in
	// a row; the attempt is to be killed (and restarted by policy). Kind
	// says which.
	Kill bool
	Kind string
}

// NewProbes returns the probes of the attempt of c that started at
// startedAt; a container without probes gets an empty Probes, which is
// started and ready.
func NewProbes(c *core.Container, startedAt time.Time) *Probes {
	p := &Probes{Container: c.Name, started: c.StartupProbe == nil}
	for _, k := range []struct {
		kind string
		spec *core.Probe
	}{{core.ProbeStartup, c.StartupProbe}, {core.ProbeLiveness, c.LivenessProbe}, {core.ProbeReadiness, c.ReadinessProbe}} {
		if k.spec == nil {
			continue
		}
		p.tracks = append(p.tracks, &probeTrack{
			kind: k.kind, spec: k.spec,
			nextAt: startedAt.Add(time.Duration(k.spec.InitialDelaySeconds) * time.Second),
			result: k.kind == core.ProbeLiveness,
		})
	}
	return p
}

// Empty reports whether the container has no probes at all.
func (p *Probes) Empty() bool { return len(p.tracks) == 0 }

// Started reports whether the startup probe succeeded (or there is none).
func (p *Probes) Started() bool { return p.started }

// Ready reports the container's readiness: started, not killed, and its
// readiness probe (if any) passing.
func (p *Probes) Ready() bool {
	if !p.started || p.killed {
		return false
	}
	if t := p.track(core.ProbeReadiness); t != nil {
		return t.result
	}
	return true
}

func (p *Probes) track(kind string) *probeTrack {
	for _, t := range p.tracks {
		if t.kind == kind {
			return t
		}
	}
	return nil
}

// active are the probes that may run now: only the startup probe until it
// succeeded, then the others; none once the attempt is to be killed.
func (p *Probes) active() []*probeTrack {
	if p.killed {
		return nil
	}
	var out []*probeTrack
	for _, t := range p.tracks {
		if (t.kind == core.ProbeStartup) != p.started {
			out = append(out, t)
		}
	}
	return out
}

// Due returns the kinds of the probes to run at now, and when the next
// one is due after them (zero if none ever is).
func (p *Probes) Due(now time.Time) (due []string, wakeAt time.Time) {
	for _, t := range p.active() {
		if !now.Before(t.nextAt) {
			due = append(due, t.kind)
			continue
		}
		if wakeAt.IsZero() || t.nextAt.Before(wakeAt) {
			wakeAt = t.nextAt
		}
	}
	return due, wakeAt
}

// Record takes the result of a run of the kind's probe that began at
// began (its next run is a period after that) and says what follows. A
// result for a probe that is not active (the startup probe after it
// succeeded, anything after a kill) is ignored.
func (p *Probes) Record(began time.Time, kind string, r ProbeResult) ProbeOutcome {
	var out ProbeOutcome
	t := p.track(kind)
	if t == nil || p.killed || (kind == core.ProbeStartup) == p.started {
		return out
	}
	t.nextAt = began.Add(time.Duration(t.spec.PeriodSeconds) * time.Second)
	if !r.OK {
		out.Notes = append(out.Notes, NoteUnhealthy(kind, r.Output))
	}
	if t.lastSet && t.last == r.OK {
		t.run++
	} else {
		t.last, t.lastSet, t.run = r.OK, true, 1
	}
	threshold := t.spec.FailureThreshold
	if r.OK {
		threshold = t.spec.SuccessThreshold
	}
	if t.run < max(threshold, 1) {
		return out
	}
	t.result = r.OK
	switch {
	case kind == core.ProbeStartup && r.OK:
		p.started = true
		// The other probes start now, each not before its initial delay.
		for _, o := range p.tracks {
			if o.nextAt.Before(began) {
				o.nextAt = began
			}
		}
	case kind != core.ProbeReadiness && !r.OK:
		p.killed = true
		out.Kill, out.Kind = true, kind
	}
	return out
}

// Event reason of a failed probe, as kubelet names it.
const EventReasonUnhealthy = "Unhealthy"

// NoteUnhealthy: Warning Unhealthy "KIND probe failed: OUTPUT".
func NoteUnhealthy(kind, output string) Note {
	return Note{core.EventWarning, EventReasonUnhealthy, kind + " probe failed: " + strings.TrimSpace(output)}
}

// ProbeKilling records that the runtime kills the running attempt of a
// container because its liveness or startup probe failed (Normal
// Killing "Container NAME failed liveness probe, will be restarted", the
// last words only when the restart policy restarts it). The exit that
// follows is reported with Exited as any other.
func (g *Group) ProbeKilling(now time.Time, name, kind string) {
	msg := "Container " + name + " failed " + strings.ToLower(kind) + " probe"
	if g.RestartPolicy != core.RestartNever && !g.Stopping {
		msg += ", will be restarted"
	}
	g.Record(now, Note{core.EventNormal, EventReasonKilling, msg})
}
