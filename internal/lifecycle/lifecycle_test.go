package lifecycle

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func newGroup(policy core.RestartPolicy, names ...string) *Group {
	spec := &core.Group{ID: "kci-test", RestartPolicy: policy}
	for _, n := range names {
		spec.Containers = append(spec.Containers, core.Container{Name: n, Image: n + ":latest"})
	}
	return New(spec, Config{})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mustDecide(t)(g.Exited(...)) fails t on an error and returns the decision.
func mustDecide(t *testing.T) func(Decision, error) Decision {
	return func(d Decision, err error) Decision {
		t.Helper()
		must(t, err)
		return d
	}
}

// run takes a new container through pull, create and start at now.
func run(t *testing.T, g *Group, now time.Time, name string) {
	t.Helper()
	must(t, g.PullStarted(now, name))
	must(t, g.Pulled(now, name))
	must(t, g.Created(now, name))
	must(t, g.Started(now, name))
}

// restart starts a new attempt of a container in a back-off stage.
func restart(t *testing.T, g *Group, now time.Time, name string) {
	t.Helper()
	must(t, g.Created(now, name))
	must(t, g.Started(now, name))
}

func status(t *testing.T, g *Group, now time.Time, name string) core.ContainerStatus {
	t.Helper()
	for _, cs := range g.Status(now).Containers {
		if cs.Name == name {
			return cs
		}
	}
	t.Fatalf("no status for %q", name)
	return core.ContainerStatus{}
}

func ptr[T any](v T) *T { return &v }

func TestBackOffCurve(t *testing.T) {
	tests := []struct {
		cfg      Config
		failures int
		want     time.Duration
	}{
		{Config{}, 0, 10 * time.Second},
		{Config{}, 1, 20 * time.Second},
		{Config{}, 2, 40 * time.Second},
		{Config{}, 3, 80 * time.Second},
		{Config{}, 4, 160 * time.Second},
		{Config{}, 5, 300 * time.Second},
		{Config{}, 6, 300 * time.Second},
		{Config{}, 1000, 300 * time.Second},
		{DefaultConfig(), 2, 40 * time.Second},
		{Config{BackOffBase: time.Second, BackOffMax: 5 * time.Second}, 2, 4 * time.Second},
		{Config{BackOffBase: time.Second, BackOffMax: 5 * time.Second}, 3, 5 * time.Second},
		{Config{BackOffBase: time.Minute, BackOffMax: time.Second}, 0, time.Minute}, // max below base
	}
	for _, tt := range tests {
		if got := tt.cfg.BackOff(tt.failures); got != tt.want {
			t.Errorf("%+v.BackOff(%d) = %v, want %v", tt.cfg, tt.failures, got, tt.want)
		}
	}
}

func TestCrashLoopBackOffSequence(t *testing.T) {
	for _, policy := range []core.RestartPolicy{core.RestartAlways, core.RestartOnFailure} {
		t.Run(string(policy), func(t *testing.T) {
			g := newGroup(policy, "app")
			now := at(0)
			run(t, g, now, "app")
			want := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
			for i, w := range want {
				now = now.Add(time.Second) // crashes after 1 s each time
				d := mustDecide(t)(g.Exited(now, "app", 1, false))
				wantD := Decision{
					Container: "app", Action: ActionStart, At: now.Add(w * time.Second),
					Delay: w * time.Second, Restart: true, Reason: ReasonCrashLoopBackOff,
				}
				if d != wantD {
					t.Fatalf("crash %d: decision %+v, want %+v", i+1, d, wantD)
				}
				cs := status(t, g, now, "app")
				if cs.Current.State != core.StateWaiting || cs.Current.Reason != ReasonCrashLoopBackOff {
					t.Fatalf("crash %d: current %+v", i+1, cs.Current)
				}
				if cs.RestartCount != i {
					t.Fatalf("crash %d: RestartCount %d, want %d", i+1, cs.RestartCount, i)
				}
				if p := g.Next(now); len(p.Due) != 0 || !p.WakeAt.Equal(d.At) {
					t.Fatalf("crash %d: Next before back-off = %+v", i+1, p)
				}
				now = d.At
				if p := g.Next(now); len(p.Due) != 1 || p.Due[0].Action != ActionStart {
					t.Fatalf("crash %d: Next at back-off end = %+v", i+1, p)
				}
				restart(t, g, now, "app")
				if got := status(t, g, now, "app").RestartCount; got != i+1 {
					t.Fatalf("after restart %d: RestartCount %d", i+1, got)
				}
			}
			if n := g.Events[slices.IndexFunc(g.Events, func(e core.Event) bool { return e.Reason == EventReasonBackOff })].Count; n != len(want) {
				t.Errorf("BackOff event count %d, want %d", n, len(want))
			}
		})
	}
}

func TestBackOffResetAfterCleanRun(t *testing.T) {
	tests := []struct {
		name string
		ran  time.Duration
		want time.Duration
	}{
		{"short run keeps doubling", time.Second, 80 * time.Second},
		{"just under 10 min keeps doubling", 10*time.Minute - time.Second, 80 * time.Second},
		{"10 min resets", 10 * time.Minute, 10 * time.Second},
		{"an hour resets", time.Hour, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(core.RestartAlways, "app")
			now := at(0)
			run(t, g, now, "app")
			for range 3 { // 10s, 20s, 40s
				now = now.Add(time.Second)
				d := mustDecide(t)(g.Exited(now, "app", 1, false))
				now = d.At
				restart(t, g, now, "app")
			}
			now = now.Add(tt.ran)
			d := mustDecide(t)(g.Exited(now, "app", 1, false))
			if d.Delay != tt.want {
				t.Errorf("delay after %v run = %v, want %v", tt.ran, d.Delay, tt.want)
			}
		})
	}
}

func TestRestartPolicy(t *testing.T) {
	tests := []struct {
		policy    core.RestartPolicy
		code      int
		oom       bool
		restart   bool
		reason    string // terminated reason
		phase     core.Phase
		succeeded bool
	}{
		{core.RestartAlways, 0, false, true, ReasonCompleted, core.PhaseRunning, false},
		{core.RestartAlways, 1, false, true, ReasonError, core.PhaseRunning, false},
		{core.RestartAlways, 137, true, true, ReasonOOMKilled, core.PhaseRunning, false},
		{core.RestartOnFailure, 0, false, false, ReasonCompleted, core.PhaseSucceeded, true},
		{core.RestartOnFailure, 2, false, true, ReasonError, core.PhaseRunning, false},
		{core.RestartOnFailure, 137, true, true, ReasonOOMKilled, core.PhaseRunning, false},
		{core.RestartOnFailure, 0, true, true, ReasonOOMKilled, core.PhaseRunning, false},
		{core.RestartNever, 0, false, false, ReasonCompleted, core.PhaseSucceeded, true},
		{core.RestartNever, 1, false, false, ReasonError, core.PhaseFailed, false},
		{core.RestartNever, 137, true, false, ReasonOOMKilled, core.PhaseFailed, false},
		{"", 0, false, true, ReasonCompleted, core.PhaseRunning, false}, // empty means Always
	}
	for _, tt := range tests {
		name := string(tt.policy) + "/" + tt.reason
		t.Run(name, func(t *testing.T) {
			g := newGroup(tt.policy, "app")
			run(t, g, at(0), "app")
			d := mustDecide(t)(g.Exited(at(30), "app", tt.code, tt.oom))
			if d.Restart != tt.restart {
				t.Fatalf("Restart = %v, want %v", d.Restart, tt.restart)
			}
			cs := status(t, g, at(30), "app")
			term := cs.Current
			if tt.restart {
				if d.Action != ActionStart || d.Delay != 10*time.Second || d.Reason != ReasonCrashLoopBackOff {
					t.Errorf("decision %+v", d)
				}
				term = cs.Previous
			} else {
				if d.Action != ActionNone || !d.At.IsZero() || d.Reason != tt.reason {
					t.Errorf("decision %+v", d)
				}
				if cs.Previous != nil {
					t.Errorf("Previous = %+v, want nil", cs.Previous)
				}
			}
			want := &core.ContainerState{
				State: core.StateTerminated, Reason: tt.reason, ExitCode: ptr(tt.code),
				StartTime: ptr(at(0)), FinishTime: ptr(at(30)),
			}
			if !reflect.DeepEqual(term, want) {
				t.Errorf("terminated state = %+v, want %+v", term, want)
			}
			st := g.Status(at(30))
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s", st.Phase, tt.phase)
			}
			if tt.succeeded != (st.SucceededTime != nil) || (st.SucceededTime != nil && !st.SucceededTime.Equal(at(30))) {
				t.Errorf("SucceededTime = %v", st.SucceededTime)
			}
		})
	}
}

func TestOOMKilled(t *testing.T) {
	g := newGroup(core.RestartNever, "app")
	run(t, g, at(0), "app")
	mustDecide(t)(g.Exited(at(5), "app", 137, true))
	cs := status(t, g, at(5), "app")
	if cs.Current.Reason != ReasonOOMKilled || *cs.Current.ExitCode != 137 {
		t.Errorf("current %+v", cs.Current)
	}
	i := slices.IndexFunc(g.Events, func(e core.Event) bool { return e.Reason == EventReasonOOMKilling })
	if i < 0 || g.Events[i].Type != core.EventWarning || g.Events[i].Message != "Memory limit exceeded: container app was OOM-killed" {
		t.Errorf("no OOMKilling event: %+v", g.Events)
	}
}

func TestPreviousStateAfterRestart(t *testing.T) {
	g := newGroup(core.RestartAlways, "app")
	run(t, g, at(0), "app")
	mustDecide(t)(g.Exited(at(60), "app", 2, false))
	restart(t, g, at(70), "app")

	cs := status(t, g, at(80), "app")
	want := core.ContainerStatus{
		Name:         "app",
		RestartCount: 1,
		Current:      &core.ContainerState{State: core.StateRunning, StartTime: ptr(at(70))},
		Previous: &core.ContainerState{
			State: core.StateTerminated, Reason: ReasonError, ExitCode: ptr(2),
			StartTime: ptr(at(0)), FinishTime: ptr(at(60)),
		},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("status\n got %+v %+v %+v\nwant %+v %+v %+v", cs, cs.Current, cs.Previous, want, want.Current, want.Previous)
	}

	// The second exit replaces Previous with the latest attempt.
	mustDecide(t)(g.Exited(at(100), "app", 0, false))
	cs = status(t, g, at(100), "app")
	if cs.Previous.Reason != ReasonCompleted || !cs.Previous.StartTime.Equal(at(70)) || !cs.Previous.FinishTime.Equal(at(100)) {
		t.Errorf("previous %+v", cs.Previous)
	}
}

func TestImagePullBackOff(t *testing.T) {
	g := newGroup(core.RestartAlways, "app")
	pullErr := errors.New("not found")

	steps := []struct {
		now   float64
		do    func(now time.Time) (Decision, error)
		want  Decision
		shown map[float64]string // waiting reason shown at these times
	}{
		{0, func(now time.Time) (Decision, error) { return Decision{}, g.PullStarted(now, "app") }, Decision{},
			map[float64]string{0: ReasonContainerCreating}},
		{0, func(now time.Time) (Decision, error) { return g.PullFailed(now, "app", pullErr) },
			Decision{Container: "app", Action: ActionPull, At: at(10), Delay: 10 * time.Second, Reason: ReasonErrImagePull},
			map[float64]string{0: ReasonErrImagePull, 9.9: ReasonErrImagePull, 10: ReasonImagePullBackOff}},
		{10, func(now time.Time) (Decision, error) { return Decision{}, g.PullStarted(now, "app") }, Decision{},
			map[float64]string{10: ReasonImagePullBackOff}},
		{10, func(now time.Time) (Decision, error) { return g.PullFailed(now, "app", pullErr) },
			Decision{Container: "app", Action: ActionPull, At: at(30), Delay: 20 * time.Second, Reason: ReasonErrImagePull},
			map[float64]string{10: ReasonErrImagePull, 19: ReasonErrImagePull, 20: ReasonImagePullBackOff, 29: ReasonImagePullBackOff}},
		{30, func(now time.Time) (Decision, error) { return Decision{}, g.PullStarted(now, "app") }, Decision{},
			map[float64]string{30: ReasonImagePullBackOff}},
		{30, func(now time.Time) (Decision, error) { return g.PullFailed(now, "app", pullErr) },
			Decision{Container: "app", Action: ActionPull, At: at(70), Delay: 40 * time.Second, Reason: ReasonErrImagePull},
			map[float64]string{30: ReasonErrImagePull, 40: ReasonImagePullBackOff}},
		{70, func(now time.Time) (Decision, error) { return Decision{}, g.PullStarted(now, "app") }, Decision{}, nil},
		{75, func(now time.Time) (Decision, error) { return Decision{}, g.Pulled(now, "app") }, Decision{},
			map[float64]string{75: ReasonContainerCreating}},
	}
	for i, s := range steps {
		d, err := s.do(at(s.now))
		must(t, err)
		if d != s.want {
			t.Fatalf("step %d: decision %+v, want %+v", i, d, s.want)
		}
		for when, reason := range s.shown {
			cs := status(t, g, at(when), "app")
			if cs.Current.State != core.StateWaiting || cs.Current.Reason != reason {
				t.Errorf("step %d at %v: shown %s/%s, want waiting/%s", i, when, cs.Current.State, cs.Current.Reason, reason)
			}
		}
		wantPhase := core.PhaseImagePulling
		if i == len(steps)-1 {
			wantPhase = core.PhasePending // pulled, not yet started
		}
		if ph := g.Phase(); ph != wantPhase {
			t.Errorf("step %d: phase %s, want %s", i, ph, wantPhase)
		}
	}
	if c := g.Container("app"); c.PullFailures != 0 || c.Current.Message != "" {
		t.Errorf("pull back-off not reset: %+v", c)
	}

	wantEvents := []core.Event{
		{Type: core.EventNormal, Reason: "Pulling", Message: "Pulling image `app:latest`", Count: 4, FirstTimestamp: at(0), LastTimestamp: at(70)},
		{Type: core.EventWarning, Reason: "Failed", Message: "Failed to pull image `app:latest`: not found", Count: 3, FirstTimestamp: at(0), LastTimestamp: at(30)},
		{Type: core.EventWarning, Reason: "Failed", Message: "Error: ErrImagePull", Count: 3, FirstTimestamp: at(0), LastTimestamp: at(30)},
		{Type: core.EventWarning, Reason: "BackOff", Message: "Back-off pulling image `app:latest`", Count: 3, FirstTimestamp: at(0), LastTimestamp: at(30)},
		{Type: core.EventNormal, Reason: "Pulled", Message: "Successfully pulled image `app:latest`", Count: 1, FirstTimestamp: at(75), LastTimestamp: at(75)},
	}
	if !reflect.DeepEqual(g.Events, wantEvents) {
		t.Errorf("events\n got %+v\nwant %+v", g.Events, wantEvents)
	}

	// After a success, a later failed pull backs off from 10 s again.
	must(t, g.Created(at(80), "app"))
	must(t, g.Started(at(80), "app"))
	mustDecide(t)(g.Exited(at(90), "app", 1, false))
	must(t, g.PullStarted(at(100), "app"))
	if d := mustDecide(t)(g.PullFailed(at(100), "app", pullErr)); d.Delay != 10*time.Second {
		t.Errorf("pull back-off after a success = %v, want 10s", d.Delay)
	}
	if ph := g.Phase(); ph != core.PhaseRunning {
		t.Errorf("restarting container re-pulling: phase %s, want Running", ph)
	}
}
