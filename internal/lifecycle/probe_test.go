package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

func probe(initial, period, success, failure int) *core.Probe {
	return &core.Probe{Exec: []string{"true"}, InitialDelaySeconds: initial, PeriodSeconds: period,
		TimeoutSeconds: 1, SuccessThreshold: success, FailureThreshold: failure}
}

// TestProbes drives Probes with scripted results at whole seconds after
// the start and checks, after each step, which probes were due, the
// readiness, and the outcome.
func TestProbes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A step: at second At, the due probes must be Due (in order); each
	// gets the result in Results (by kind, "ok" or the failure output);
	// afterwards Ready and Started must hold, and Kill is the kind that
	// asked for a kill in this step, if any.
	type step struct {
		At      int
		Due     []string
		Results map[string]string
		Ready   bool
		Started bool
		Kill    string
	}
	L, R, S := core.ProbeLiveness, core.ProbeReadiness, core.ProbeStartup
	for _, tc := range []struct {
		name  string
		ctr   core.Container
		steps []step
	}{
		{"no probes: ready at once, nothing due", core.Container{Name: "c"}, []step{
			{At: 0, Ready: true, Started: true},
			{At: 100, Ready: true, Started: true},
		}},
		{"liveness: initial delay, then every period; killed after 3 failures in a row", core.Container{Name: "c", LivenessProbe: probe(5, 2, 1, 3)}, []step{
			{At: 0, Ready: true, Started: true},
			{At: 4, Ready: true, Started: true},
			{At: 5, Due: []string{L}, Results: map[string]string{L: "ok"}, Ready: true, Started: true},
			{At: 6, Ready: true, Started: true},
			{At: 7, Due: []string{L}, Results: map[string]string{L: "HTTP probe failed with statuscode: 500"}, Ready: true, Started: true},
			{At: 9, Due: []string{L}, Results: map[string]string{L: "x"}, Ready: true, Started: true},
			{At: 11, Due: []string{L}, Results: map[string]string{L: "ok"}, Ready: true, Started: true}, // the run of failures breaks
			{At: 13, Due: []string{L}, Results: map[string]string{L: "x"}, Ready: true, Started: true},
			{At: 15, Due: []string{L}, Results: map[string]string{L: "x"}, Ready: true, Started: true},
			{At: 17, Due: []string{L}, Results: map[string]string{L: "x"}, Ready: false, Started: true, Kill: L},
			{At: 30, Ready: false, Started: true}, // nothing runs after a kill
		}},
		{"readiness: not ready until it passes SuccessThreshold times, flips both ways", core.Container{Name: "c", ReadinessProbe: probe(0, 1, 2, 2)}, []step{
			{At: 0, Due: []string{R}, Results: map[string]string{R: "ok"}, Ready: false, Started: true},
			{At: 1, Due: []string{R}, Results: map[string]string{R: "ok"}, Ready: true, Started: true},
			{At: 2, Due: []string{R}, Results: map[string]string{R: "not yet"}, Ready: true, Started: true},
			{At: 3, Due: []string{R}, Results: map[string]string{R: "not yet"}, Ready: false, Started: true},
			{At: 4, Due: []string{R}, Results: map[string]string{R: "not yet"}, Ready: false, Started: true},
			{At: 5, Due: []string{R}, Results: map[string]string{R: "ok"}, Ready: false, Started: true},
			{At: 6, Due: []string{R}, Results: map[string]string{R: "ok"}, Ready: true, Started: true},
		}},
		{"startup holds liveness and readiness off, then runs no more", core.Container{Name: "c",
			StartupProbe: probe(0, 1, 1, 10), LivenessProbe: probe(0, 1, 1, 1), ReadinessProbe: probe(0, 1, 1, 1)}, []step{
			{At: 0, Due: []string{S}, Results: map[string]string{S: "no"}, Ready: false, Started: false},
			{At: 1, Due: []string{S}, Results: map[string]string{S: "no"}, Ready: false, Started: false},
			{At: 2, Due: []string{S}, Results: map[string]string{S: "ok"}, Ready: false, Started: true},
			{At: 2, Due: []string{L, R}, Results: map[string]string{L: "ok", R: "ok"}, Ready: true, Started: true},
			{At: 3, Due: []string{L, R}, Results: map[string]string{L: "dead", R: "ok"}, Ready: false, Started: true, Kill: L},
		}},
		{"startup failing FailureThreshold times asks for a kill", core.Container{Name: "c", StartupProbe: probe(1, 1, 1, 2), LivenessProbe: probe(0, 1, 1, 1)}, []step{
			{At: 0, Ready: false, Started: false},
			{At: 1, Due: []string{S}, Results: map[string]string{S: "no"}, Ready: false, Started: false},
			{At: 2, Due: []string{S}, Results: map[string]string{S: "no"}, Ready: false, Started: false, Kill: S},
			{At: 3, Ready: false, Started: false},
		}},
		{"liveness keeps its initial delay after a fast startup", core.Container{Name: "c", StartupProbe: probe(0, 1, 1, 3), LivenessProbe: probe(4, 1, 1, 1)}, []step{
			{At: 0, Due: []string{S}, Results: map[string]string{S: "ok"}, Ready: true, Started: true},
			{At: 1, Ready: true, Started: true},
			{At: 4, Due: []string{L}, Results: map[string]string{L: "ok"}, Ready: true, Started: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProbes(&tc.ctr, t0)
			for i, s := range tc.steps {
				now := t0.Add(time.Duration(s.At) * time.Second)
				due, _ := p.Due(now)
				if !slices.Equal(due, s.Due) {
					t.Fatalf("step %d (t=%ds): due %v, want %v", i, s.At, due, s.Due)
				}
				kill := ""
				for _, kind := range due {
					res := ProbeResult{OK: s.Results[kind] == "ok", Output: s.Results[kind]}
					out := p.Record(now, kind, res)
					if out.Kill {
						kill = out.Kind
					}
					if res.OK != (len(out.Notes) == 0) {
						t.Errorf("step %d: %s result %+v gave notes %v", i, kind, res, out.Notes)
					}
					for _, n := range out.Notes {
						if n.Type != core.EventWarning || n.Reason != "Unhealthy" || n.Message != fmt.Sprintf("%s probe failed: %s", kind, res.Output) {
							t.Errorf("step %d: note %+v", i, n)
						}
					}
				}
				if p.Ready() != s.Ready || p.Started() != s.Started || kill != s.Kill {
					t.Fatalf("step %d (t=%ds): ready %v started %v kill %q, want %v %v %q", i, s.At, p.Ready(), p.Started(), kill, s.Ready, s.Started, s.Kill)
				}
			}
		})
	}
}

// TestProbeDueWakeAt: Due says when the next probe is due.
func TestProbeDueWakeAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewProbes(&core.Container{Name: "c", LivenessProbe: probe(3, 10, 1, 3), ReadinessProbe: probe(5, 1, 1, 3)}, t0)
	if due, wake := p.Due(t0); len(due) != 0 || !wake.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("due %v wake %v, want none and +3s", due, wake)
	}
	p.Record(t0.Add(3*time.Second), core.ProbeLiveness, ProbeResult{OK: true})
	if _, wake := p.Due(t0.Add(3 * time.Second)); !wake.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("wake %v, want +5s (readiness)", wake)
	}
	// A stale result (a startup probe that is not there) changes nothing.
	if out := p.Record(t0, core.ProbeStartup, ProbeResult{}); out.Kill || len(out.Notes) != 0 {
		t.Fatalf("stale result: %+v", out)
	}
}

// TestProbeKilling: the Killing event says whether the policy restarts.
func TestProbeKilling(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		policy core.RestartPolicy
		want   string
	}{
		{core.RestartAlways, "Container c failed liveness probe, will be restarted"},
		{core.RestartOnFailure, "Container c failed liveness probe, will be restarted"},
		{core.RestartNever, "Container c failed liveness probe"},
	} {
		g := New(&core.Group{RestartPolicy: tc.policy, Containers: []core.Container{{Name: "c"}}}, Config{})
		g.ProbeKilling(t0, "c", core.ProbeLiveness)
		e := g.Events[len(g.Events)-1]
		if e.Reason != "Killing" || e.Type != core.EventNormal || e.Message != tc.want {
			t.Errorf("%s: event %+v, want Normal Killing %q", tc.policy, e, tc.want)
		}
		if strings.Contains(tc.want, "restarted") && g.Containers[0].Stopping {
			t.Errorf("%s: a probe kill must not stop the container for good", tc.policy)
		}
	}
}
