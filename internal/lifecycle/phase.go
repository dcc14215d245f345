package lifecycle

import (
	"slices"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// Phase derives the group's phase the way Kubernetes derives a pod's,
// checked in this order:
//
//   - CreateError if SetupFailed was recorded;
//   - while an init container has not completed: Failed if it failed for
//     good (policy Never, or stopped after a failure), ImagePulling while
//     it pulls, else Pending (also while it runs or backs off);
//   - Pending while any container has never run (ImagePulling if one of
//     those is pulling its image or backing off a failed pull); a group
//     without containers is Pending;
//   - Running while any container runs or waits to be restarted;
//   - Succeeded when every container terminated with exit code 0 and none
//     will be restarted;
//   - Failed when every container terminated, at least one did not exit 0
//     (or was OOM-killed or lost) and none will be restarted.
//
// A container waiting after an earlier attempt while stopping (Killing)
// counts with its last terminated state. Phase does not depend on time.
func (g *Group) Phase() core.Phase {
	if g.SetupError != "" {
		return core.PhaseCreateError
	}
	if c := g.initPending(); c != nil {
		switch {
		case c.Stage == StageTerminated || c.Stage != StageRunning && (g.Stopping || c.Stopping) && c.Previous != nil:
			return core.PhaseFailed // failed for good: the containers never start
		case c.Stage == StagePulling || c.Stage == StagePullBackOff:
			return core.PhaseImagePulling
		default:
			return core.PhasePending
		}
	}
	var never, pulling, running, restarting, stopped, succeeded int
	for _, c := range g.Containers {
		switch {
		case c.Stage == StageRunning:
			running++
		case c.Current.Kind == core.StateTerminated:
			stopped++
			if !c.Current.failed() {
				succeeded++
			}
		case c.Previous != nil && !c.Stopping && !g.Stopping:
			restarting++
		case c.Previous != nil:
			stopped++
			if !c.Previous.failed() {
				succeeded++
			}
		default:
			never++
			if c.Stage == StagePulling || c.Stage == StagePullBackOff {
				pulling++
			}
		}
	}
	switch {
	case len(g.Containers) == 0:
		return core.PhasePending
	case never > 0 && pulling > 0:
		return core.PhaseImagePulling
	case never > 0:
		return core.PhasePending
	case running > 0 || restarting > 0:
		return core.PhaseRunning
	case succeeded == stopped:
		return core.PhaseSucceeded
	default:
		return core.PhaseFailed
	}
}

// SucceededTime is, for a Succeeded group, when its last container
// finished; nil otherwise.
func (g *Group) SucceededTime() *time.Time {
	if g.Phase() != core.PhaseSucceeded {
		return nil
	}
	var last time.Time
	for _, c := range g.Containers {
		s := c.Current
		if s.Kind != core.StateTerminated && c.Previous != nil {
			s = *c.Previous
		}
		if s.FinishedAt.After(last) {
			last = s.FinishedAt
		}
	}
	if last.IsZero() {
		return nil
	}
	return &last
}

// Values of the DescribeContainerGroup `status` filter. The API documents
// Running, Succeeded and Failed (SEED) plus Unknown and ImagePulling
// (SDK docs); Pending and CreateError are accepted as well.
const (
	FilterUnknown = "Unknown"
)

// StatusFilterValues returns the `status` filter values a group in phase p
// matches: its own phase name, plus the coarser documented value it belongs
// to (ImagePulling is also Pending; CreateError is also Failed). An empty
// phase matches Unknown.
func StatusFilterValues(p core.Phase) []string {
	switch p {
	case "":
		return []string{FilterUnknown}
	case core.PhaseImagePulling:
		return []string{string(core.PhaseImagePulling), string(core.PhasePending)}
	case core.PhaseCreateError:
		return []string{string(core.PhaseCreateError), string(core.PhaseFailed)}
	default:
		return []string{string(p)}
	}
}

// MatchesStatusFilter reports whether phase p matches any of the filter
// values (exact, case-sensitive as the API's other filters).
func MatchesStatusFilter(p core.Phase, values []string) bool {
	for _, v := range StatusFilterValues(p) {
		if slices.Contains(values, v) {
			return true
		}
	}
	return false
}
