package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

func TestEventAggregation(t *testing.T) {
	g := newGroup(core.RestartAlways, "app")
	g.Record(at(0), NoteStarted("app"))
	g.Record(at(5), NoteStarted("app"))
	g.Record(at(3), NoteStarted("app")) // out of order: LastTimestamp does not go back
	g.Record(at(6), NoteStarted("db"))
	g.Record(at(7), Note{core.EventWarning, EventReasonStarted, "Started container app"}) // other type
	want := []core.Event{
		{Type: core.EventNormal, Reason: "Started", Message: "Started container app", Count: 3, FirstTimestamp: at(0), LastTimestamp: at(5)},
		{Type: core.EventNormal, Reason: "Started", Message: "Started container db", Count: 1, FirstTimestamp: at(6), LastTimestamp: at(6)},
		{Type: core.EventWarning, Reason: "Started", Message: "Started container app", Count: 1, FirstTimestamp: at(7), LastTimestamp: at(7)},
	}
	if !reflect.DeepEqual(g.Events, want) {
		t.Fatalf("events\n got %+v\nwant %+v", g.Events, want)
	}
}

func TestEventBound(t *testing.T) {
	g := newGroup(core.RestartAlways, "app")
	g.Config.MaxEvents = 3
	g.Record(at(0), NoteCreated("a"))
	g.Record(at(1), NoteCreated("b"))
	g.Record(at(2), NoteCreated("c"))
	g.Record(at(3), NoteCreated("a")) // a is now the most recently seen
	g.Record(at(4), NoteCreated("d")) // drops b, the least recently seen
	var got []string
	for _, e := range g.Events {
		got = append(got, fmt.Sprintf("%s×%d", e.Message, e.Count))
	}
	want := []string{"Created container a×2", "Created container c×1", "Created container d×1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}

	g = newGroup(core.RestartAlways, "app") // default bound: 100
	for i := range 150 {
		g.Record(at(float64(i)), NoteCreated(fmt.Sprint(i)))
	}
	if len(g.Events) != DefaultMaxEvents || g.Events[0].Message != "Created container 50" {
		t.Fatalf("%d events, first %q", len(g.Events), g.Events[0].Message)
	}
}

func TestNoteMessages(t *testing.T) {
	err := errors.New("boom")
	tests := []struct {
		got  Note
		want Note
	}{
		{NotePulling("nginx"), Note{"Normal", "Pulling", "Pulling image `nginx`"}},
		{NotePulled("nginx"), Note{"Normal", "Pulled", "Successfully pulled image `nginx`"}},
		{NoteImagePresent("nginx"), Note{"Normal", "Pulled", "Container image `nginx` already present on machine"}},
		{NoteCreated("nginx-container"), Note{"Normal", "Created", "Created container nginx-container"}},
		{NoteStarted("nginx-container"), Note{"Normal", "Started", "Started container nginx-container"}},
		{NotePullFailed("x", err), Note{"Warning", "Failed", "Failed to pull image `x`: boom"}},
		{NotePullFailed("x", nil), Note{"Warning", "Failed", "Failed to pull image `x`: unknown error"}},
		{NoteError(ReasonErrImagePull), Note{"Warning", "Failed", "Error: ErrImagePull"}},
		{NotePullBackOff("x"), Note{"Warning", "BackOff", "Back-off pulling image `x`"}},
		{NoteRestartBackOff("web"), Note{"Warning", "BackOff", "Back-off restarting failed container web"}},
		{NoteKilling("web"), Note{"Normal", "Killing", "Stopping container web"}},
		{NoteOOMKilled("web"), Note{"Warning", "OOMKilling", "Memory limit exceeded: container web was OOM-killed"}},
		{NoteSetupFailed(err), Note{"Warning", "FailedCreatePodSandBox", "Failed to create container group sandbox: boom"}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %+v, want %+v", tt.got, tt.want)
		}
	}
}

func TestPhase(t *testing.T) {
	type script func(t *testing.T, g *Group)
	crash := func(name string, code int) script {
		return func(t *testing.T, g *Group) {
			run(t, g, at(0), name)
			mustDecide(t)(g.Exited(at(10), name, code, false))
		}
	}
	running := func(name string) script { return func(t *testing.T, g *Group) { run(t, g, at(0), name) } }
	pulling := func(name string) script {
		return func(t *testing.T, g *Group) { must(t, g.PullStarted(at(0), name)) }
	}
	pullBackOff := func(name string) script {
		return func(t *testing.T, g *Group) {
			must(t, g.PullStarted(at(0), name))
			mustDecide(t)(g.PullFailed(at(1), name, errors.New("x")))
		}
	}
	created := func(name string) script {
		return func(t *testing.T, g *Group) {
			must(t, g.ImagePresent(at(0), name))
			must(t, g.Created(at(0), name))
		}
	}
	createBackOff := func(name string) script {
		return func(t *testing.T, g *Group) {
			must(t, g.ImagePresent(at(0), name))
			mustDecide(t)(g.CreateFailed(at(0), name, errors.New("bad mount")))
		}
	}
	stop := func(t *testing.T, g *Group) { g.Stop(at(20)) }
	exitAll := func(code int) script {
		return func(t *testing.T, g *Group) {
			for _, c := range g.Containers {
				if c.Stage == StageRunning {
					mustDecide(t)(g.Exited(at(21), c.Name, code, false))
				}
			}
		}
	}
	setupFailed := func(t *testing.T, g *Group) { g.SetupFailed(at(0), errors.New("no IP left")) }
	setupSucceeded := func(t *testing.T, g *Group) { g.SetupSucceeded() }

	tests := []struct {
		name   string
		policy core.RestartPolicy
		names  []string
		steps  []script
		want   core.Phase
	}{
		{"no containers", core.RestartAlways, nil, nil, core.PhasePending},
		{"all new", core.RestartAlways, []string{"a", "b"}, nil, core.PhasePending},
		{"pulling first time", core.RestartAlways, []string{"a", "b"}, []script{pulling("a")}, core.PhaseImagePulling},
		{"pull back-off is still pulling", core.RestartAlways, []string{"a"}, []script{pullBackOff("a")}, core.PhaseImagePulling},
		{"one pulling, one running", core.RestartAlways, []string{"a", "b"}, []script{running("a"), pulling("b")}, core.PhaseImagePulling},
		{"one created, one running", core.RestartAlways, []string{"a", "b"}, []script{running("a"), created("b")}, core.PhasePending},
		{"create error never ran", core.RestartAlways, []string{"a"}, []script{createBackOff("a")}, core.PhasePending},
		{"all running", core.RestartAlways, []string{"a", "b"}, []script{running("a"), running("b")}, core.PhaseRunning},
		{"Never: one done, one running", core.RestartNever, []string{"a", "b"}, []script{crash("a", 0), running("b")}, core.PhaseRunning},
		{"Never: one failed, one running", core.RestartNever, []string{"a", "b"}, []script{crash("a", 1), running("b")}, core.PhaseRunning},
		{"Always: all in crash loop", core.RestartAlways, []string{"a", "b"}, []script{crash("a", 1), crash("b", 0)}, core.PhaseRunning},
		{"OnFailure: one done, one restarting", core.RestartOnFailure, []string{"a", "b"}, []script{crash("a", 0), crash("b", 3)}, core.PhaseRunning},
		{"OnFailure: all exit 0", core.RestartOnFailure, []string{"a", "b"}, []script{crash("a", 0), crash("b", 0)}, core.PhaseSucceeded},
		{"Never: all exit 0", core.RestartNever, []string{"a", "b"}, []script{crash("a", 0), crash("b", 0)}, core.PhaseSucceeded},
		{"Never: one non-zero", core.RestartNever, []string{"a", "b"}, []script{crash("a", 0), crash("b", 1)}, core.PhaseFailed},
		{"Never: all non-zero", core.RestartNever, []string{"a", "b"}, []script{crash("a", 2), crash("b", 1)}, core.PhaseFailed},
		{"Always: stopped, killed", core.RestartAlways, []string{"a", "b"}, []script{running("a"), running("b"), stop, exitAll(137)}, core.PhaseFailed},
		{"Always: stopped, clean exits", core.RestartAlways, []string{"a", "b"}, []script{running("a"), running("b"), stop, exitAll(0)}, core.PhaseSucceeded},
		{"Always: stopped during crash loop", core.RestartAlways, []string{"a"}, []script{crash("a", 1), stop}, core.PhaseFailed},
		{"Always: stopping, still running", core.RestartAlways, []string{"a"}, []script{running("a"), stop}, core.PhaseRunning},
		{"setup failed", core.RestartAlways, []string{"a"}, []script{setupFailed}, core.PhaseCreateError},
		{"setup failed wins", core.RestartAlways, []string{"a"}, []script{running("a"), setupFailed}, core.PhaseCreateError},
		{"setup failed, then succeeded", core.RestartAlways, []string{"a"}, []script{setupFailed, setupSucceeded, running("a")}, core.PhaseRunning},
		{"setup succeeded before anything ran", core.RestartAlways, []string{"a"}, []script{setupFailed, setupSucceeded}, core.PhasePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(tt.policy, tt.names...)
			for _, s := range tt.steps {
				s(t, g)
			}
			if got := g.Phase(); got != tt.want {
				t.Errorf("phase %s, want %s", got, tt.want)
			}
			if got := g.Status(at(30)).Phase; got != tt.want {
				t.Errorf("Status phase %s, want %s", got, tt.want)
			}
			if (g.SucceededTime() != nil) != (tt.want == core.PhaseSucceeded) {
				t.Errorf("SucceededTime %v in phase %s", g.SucceededTime(), tt.want)
			}
		})
	}
}

func TestSucceededTimeIsLastFinish(t *testing.T) {
	g := newGroup(core.RestartOnFailure, "a", "b")
	run(t, g, at(0), "a")
	run(t, g, at(0), "b")
	mustDecide(t)(g.Exited(at(50), "b", 0, false))
	if g.SucceededTime() != nil {
		t.Fatal("SucceededTime while a runs")
	}
	mustDecide(t)(g.Exited(at(40), "a", 0, false))
	if st := g.SucceededTime(); st == nil || !st.Equal(at(50)) {
		t.Fatalf("SucceededTime %v, want %v", st, at(50))
	}
}

func TestStatusFilter(t *testing.T) {
	tests := []struct {
		phase core.Phase
		want  []string
	}{
		{core.PhaseRunning, []string{"Running"}},
		{core.PhaseSucceeded, []string{"Succeeded"}},
		{core.PhaseFailed, []string{"Failed"}},
		{core.PhasePending, []string{"Pending"}},
		{core.PhaseImagePulling, []string{"ImagePulling", "Pending"}},
		{core.PhaseCreateError, []string{"CreateError", "Failed"}},
		{"", []string{"Unknown"}},
	}
	for _, tt := range tests {
		if got := StatusFilterValues(tt.phase); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("StatusFilterValues(%q) = %q, want %q", tt.phase, got, tt.want)
		}
	}
	if !MatchesStatusFilter(core.PhaseCreateError, []string{"Running", "Failed"}) {
		t.Error("CreateError should match Failed")
	}
	if MatchesStatusFilter(core.PhaseRunning, []string{"Succeeded", "Failed"}) {
		t.Error("Running should not match Succeeded/Failed")
	}
}

func TestTransitionTable(t *testing.T) {
	all := []Stage{StageNew, StagePulling, StagePullBackOff, StagePulled, StageCreated,
		StageCreateBackOff, StageRunning, StageCrashBackOff, StageTerminated}
	if len(transitions) != len(all) {
		t.Fatalf("transitions has %d stages, want %d", len(transitions), len(all))
	}
	for _, to := range all {
		if CanMove(StageTerminated, to) {
			t.Errorf("Terminated → %s allowed: a finished attempt must be final", to)
		}
		if to != StageCrashBackOff && to != StageTerminated && CanMove(StageRunning, to) {
			t.Errorf("Running → %s allowed: only an exit leaves Running", to)
		}
		if (to == StageCrashBackOff || to == StageTerminated) && !CanMove(StageRunning, to) {
			t.Errorf("Running → %s not allowed", to)
		}
	}
	for from, tos := range transitions {
		for _, to := range tos {
			if to == StageTerminated && from != StageRunning {
				t.Errorf("%s → Terminated: only a running attempt terminates", from)
			}
		}
	}
}

func TestInvalidObservations(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, g *Group)
		do    func(g *Group) error
		want  error
	}{
		{"unknown container", nil, func(g *Group) error { return g.PullStarted(at(1), "nope") }, ErrUnknownContainer},
		{"unknown container exit", nil, func(g *Group) error { _, err := g.Exited(at(1), "nope", 0, false); return err }, ErrUnknownContainer},
		{"unknown container kill", nil, func(g *Group) error { return g.Killing(at(1), "nope") }, ErrUnknownContainer},
		{"exit before start", nil, func(g *Group) error { _, err := g.Exited(at(1), "app", 0, false); return err }, ErrInvalidTransition},
		{"pull failed without pull", nil, func(g *Group) error { _, err := g.PullFailed(at(1), "app", nil); return err }, ErrInvalidTransition},
		{"pulled while running", func(t *testing.T, g *Group) { run(t, g, at(0), "app") },
			func(g *Group) error { return g.Pulled(at(1), "app") }, ErrInvalidTransition},
		{"started twice", func(t *testing.T, g *Group) { run(t, g, at(0), "app") },
			func(g *Group) error { return g.Started(at(1), "app") }, ErrInvalidTransition},
		{"exited twice", func(t *testing.T, g *Group) { run(t, g, at(0), "app"); mustDecide(t)(g.Exited(at(1), "app", 0, false)) },
			func(g *Group) error { _, err := g.Exited(at(2), "app", 0, false); return err }, ErrInvalidTransition},
		{"terminated never runs again", func(t *testing.T, g *Group) { run(t, g, at(0), "app"); mustDecide(t)(g.Exited(at(1), "app", 0, false)) },
			func(g *Group) error { return g.Started(at(2), "app") }, ErrInvalidTransition},
		{"terminated is not re-created", func(t *testing.T, g *Group) { run(t, g, at(0), "app"); mustDecide(t)(g.Exited(at(1), "app", 0, false)) },
			func(g *Group) error { return g.Created(at(2), "app") }, ErrInvalidTransition},
		{"terminated is not re-pulled", func(t *testing.T, g *Group) { run(t, g, at(0), "app"); mustDecide(t)(g.Exited(at(1), "app", 0, false)) },
			func(g *Group) error { return g.PullStarted(at(2), "app") }, ErrInvalidTransition},
		{"lost when not running", nil, func(g *Group) error { _, err := g.Lost(at(1), "app"); return err }, ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(core.RestartNever, "app")
			if tt.setup != nil {
				tt.setup(t, g)
			}
			before, _ := json.Marshal(g)
			err := tt.do(g)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if after, _ := json.Marshal(g); string(after) != string(before) {
				t.Errorf("failed observation changed the group:\n%s\n%s", before, after)
			}
		})
	}
}

func TestKillingSuppressesRestart(t *testing.T) {
	g := newGroup(core.RestartAlways, "app", "side")
	run(t, g, at(0), "app")
	run(t, g, at(0), "side")
	must(t, g.Killing(at(10), "app"))
	d := mustDecide(t)(g.Exited(at(11), "app", 143, false))
	if d.Restart || d.Action != ActionNone || d.Reason != ReasonError {
		t.Fatalf("decision after Killing %+v", d)
	}
	if c := g.Container("app"); c.Stage != StageTerminated {
		t.Fatalf("stage %s", c.Stage)
	}
	// The other container still restarts.
	if d := mustDecide(t)(g.Exited(at(12), "side", 1, false)); !d.Restart {
		t.Fatalf("side not restarted: %+v", d)
	}
	g.Stop(at(13))
	if p := g.Next(at(1000)); len(p.Due) != 0 || !p.WakeAt.IsZero() {
		t.Fatalf("Next after Stop = %+v", p)
	}
	must(t, g.Killing(at(14), "app")) // terminated: no-op
	n := 0
	for _, e := range g.Events {
		if e.Reason == EventReasonKilling {
			n += e.Count
		}
	}
	if n != 1 { // only the running container was killed
		t.Errorf("%d Killing events, want 1", n)
	}
}

func TestLost(t *testing.T) {
	g := newGroup(core.RestartOnFailure, "app")
	run(t, g, at(0), "app")
	d := mustDecide(t)(g.Lost(at(100), "app"))
	if !d.Restart || d.Delay != 10*time.Second {
		t.Fatalf("decision %+v", d)
	}
	prev := status(t, g, at(100), "app").Previous
	if prev.Reason != ReasonContainerStatusUnknown || *prev.ExitCode != LostExitCode {
		t.Fatalf("previous %+v", prev)
	}
}

func TestCreateFailedBackOff(t *testing.T) {
	g := newGroup(core.RestartNever, "app")
	must(t, g.ImagePresent(at(0), "app"))
	for i, want := range []time.Duration{10, 20, 40} {
		now := at(float64(100 * i))
		d := mustDecide(t)(g.CreateFailed(now, "app", errors.New("no such volume")))
		if d.Action != ActionStart || d.Delay != want*time.Second || d.Reason != ReasonCreateContainerError {
			t.Fatalf("failure %d: %+v", i, d)
		}
	}
	cs := status(t, g, at(250), "app")
	if cs.Current.Reason != ReasonCreateContainerError || cs.RestartCount != 0 {
		t.Fatalf("status %+v", cs.Current)
	}
	restart(t, g, at(300), "app")
	if c := g.Container("app"); c.CreateFailures != 0 || c.RestartCount() != 0 {
		t.Fatalf("after start: %+v", c)
	}
}

func TestNext(t *testing.T) {
	g := newGroup(core.RestartAlways, "a", "b", "c")
	p := g.Next(at(0))
	if len(p.Due) != 3 || p.Due[0].Action != ActionPull || !p.WakeAt.IsZero() {
		t.Fatalf("fresh group: %+v", p)
	}
	must(t, g.PullStarted(at(0), "a"))
	mustDecide(t)(g.PullFailed(at(0), "a", errors.New("x"))) // retry at 10
	must(t, g.ImagePresent(at(0), "b"))                      // due Start now
	run(t, g, at(0), "c")
	mustDecide(t)(g.Exited(at(2), "c", 1, false)) // restart at 12

	p = g.Next(at(3))
	want := Plan{Due: []Decision{{Container: "b", Action: ActionStart, At: at(3), Reason: ReasonContainerCreating}}, WakeAt: at(10)}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Next(3) = %+v, want %+v", p, want)
	}
	p = g.Next(at(12))
	want = Plan{Due: []Decision{
		{Container: "a", Action: ActionPull, At: at(10), Reason: ReasonImagePullBackOff},
		{Container: "b", Action: ActionStart, At: at(12), Reason: ReasonContainerCreating},
		{Container: "c", Action: ActionStart, At: at(12), Reason: ReasonCrashLoopBackOff},
	}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Next(12) = %+v, want %+v", p, want)
	}
	g.SetupFailed(at(13), errors.New("netns gone"))
	if p := g.Next(at(14)); len(p.Due) != 0 {
		t.Fatalf("CreateError group has work: %+v", p)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	g := newGroup(core.RestartOnFailure, "web", "pull", "done", "new")
	g.Config = Config{BackOffBase: time.Second} // not persisted
	run(t, g, at(0), "web")
	mustDecide(t)(g.Exited(at(5), "web", 1, true))
	restart(t, g, at(6), "web")
	must(t, g.PullStarted(at(1), "pull"))
	mustDecide(t)(g.PullFailed(at(2), "pull", errors.New("denied")))
	run(t, g, at(0), "done")
	mustDecide(t)(g.Exited(at(3), "done", 0, false))

	data, err := json.Marshal(g)
	must(t, err)
	var back Group
	must(t, json.Unmarshal(data, &back))
	if back.Config != (Config{}) {
		t.Errorf("Config persisted: %+v", back.Config)
	}
	g.Config = Config{}
	if !reflect.DeepEqual(&back, g) {
		t.Fatalf("round trip differs\n got %s\nwant %s", mustJSON(t, &back), data)
	}
	if !reflect.DeepEqual(back.Status(at(30)), g.Status(at(30))) {
		t.Fatal("Status differs after round trip")
	}
	// The decoded group keeps deciding where the original left off.
	d1 := mustDecide(t)(g.Exited(at(40), "web", 1, false))
	d2 := mustDecide(t)(back.Exited(at(40), "web", 1, false))
	if d1 != d2 || d1.Delay != 20*time.Second {
		t.Fatalf("decisions after round trip %+v vs %+v", d1, d2)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

func TestStatusIsACopy(t *testing.T) {
	g := newGroup(core.RestartAlways, "app")
	run(t, g, at(0), "app")
	st := g.Status(at(1))
	*st.Containers[0].Current.StartTime = at(99)
	st.Events[0].Count = 99
	st2 := g.Status(at(1))
	if !st2.Containers[0].Current.StartTime.Equal(at(0)) || st2.Events[0].Count != 1 {
		t.Fatal("Status aliases the group's state")
	}
}

// TestNextAfterClockJumpBack: retries timed before the wall clock jumped
// back by an hour are due at once, not an hour late; a back-off within
// its bounds still waits (the chaos suite's clock-jump fault found pull
// and crash retries an hour late).
func TestNextAfterClockJumpBack(t *testing.T) {
	jumped := func(s float64) time.Time { return at(s).Add(-time.Hour) }
	for _, tc := range []struct {
		name    string
		fail    func(g *Group)
		now     time.Time
		wantDue bool
	}{
		{"pull retry, clock back an hour", func(g *Group) {
			must(t, g.PullStarted(at(0), "a"))
			mustDecide(t)(g.PullFailed(at(0), "a", errors.New("x"))) // retry at 10
		}, jumped(1), true},
		{"crash restart, clock back an hour", func(g *Group) {
			run(t, g, at(0), "a")
			mustDecide(t)(g.Exited(at(2), "a", 1, false)) // restart at 12
		}, jumped(3), true},
		{"pull retry, no jump", func(g *Group) {
			must(t, g.PullStarted(at(0), "a"))
			mustDecide(t)(g.PullFailed(at(0), "a", errors.New("x")))
		}, at(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroup(core.RestartAlways, "a")
			tc.fail(g)
			p := g.Next(tc.now)
			if due := len(p.Due) == 1; due != tc.wantDue {
				t.Errorf("Next after the failure: %+v, want due=%v", p, tc.wantDue)
			}
		})
	}
}
