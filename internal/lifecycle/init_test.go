package lifecycle

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// newInitGroup is a group with init containers i1, i2 and container app.
func newInitGroup(policy core.RestartPolicy) *Group {
	spec := &core.Group{ID: "kci-test", RestartPolicy: policy,
		InitContainers: []core.Container{{Name: "i1", Image: "busybox"}, {Name: "i2", Image: "busybox"}},
		Containers:     []core.Container{{Name: "app", Image: "busybox"}}}
	return New(spec, Config{})
}

// attempt drives one attempt of a container from pull to exit at start..end.
func attempt(t *testing.T, g *Group, name string, start, end float64, code int) Decision {
	t.Helper()
	must(t, g.ImagePresent(at(start), name))
	must(t, g.Started(at(start), name))
	d, err := g.Exited(at(end), name, code, false)
	must(t, err)
	return d
}

func dueNames(p Plan) []string {
	var out []string
	for _, d := range p.Due {
		out = append(out, d.Container)
	}
	return out
}

func TestInitContainers(t *testing.T) {
	tests := []struct {
		name   string
		policy core.RestartPolicy
		// steps: name, exit code (-1: no attempt, only check)
		drive     func(t *testing.T, g *Group)
		now       float64
		wantDue   []string
		wantWake  float64 // 0: none
		wantPhase core.Phase
		// wantInit is each init container's current state reason and
		// restart count; wantApp the app's current reason.
		wantInit []string
		wantApp  string
	}{
		{name: "fresh: only the first init container is due", policy: core.RestartAlways,
			drive: func(*testing.T, *Group) {}, wantDue: []string{"i1"}, wantPhase: core.PhasePending,
			wantInit: []string{"ContainerCreating/0", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "first completed: the second is due, not the app", policy: core.RestartAlways,
			drive: func(t *testing.T, g *Group) {
				if d := attempt(t, g, "i1", 1, 2, 0); d.Restart {
					t.Fatalf("a completed init container restarts under Always: %+v", d)
				}
			}, now: 2, wantDue: []string{"i2"}, wantPhase: core.PhasePending,
			wantInit: []string{"Completed/0", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "all completed: the app is due", policy: core.RestartAlways,
			drive: func(t *testing.T, g *Group) {
				attempt(t, g, "i1", 1, 2, 0)
				attempt(t, g, "i2", 3, 4, 0)
			}, now: 4, wantDue: []string{"app"}, wantPhase: core.PhasePending,
			wantInit: []string{"Completed/0", "Completed/0"}, wantApp: "PodInitializing"},
		{name: "app runs after the init containers", policy: core.RestartAlways,
			drive: func(t *testing.T, g *Group) {
				attempt(t, g, "i1", 1, 2, 0)
				attempt(t, g, "i2", 3, 4, 0)
				must(t, g.ImagePresent(at(5), "app"))
				must(t, g.Started(at(5), "app"))
			}, now: 5, wantPhase: core.PhaseRunning,
			wantInit: []string{"Completed/0", "Completed/0"}, wantApp: ""},
		{name: "Never: a failed init container fails the group", policy: core.RestartNever,
			drive: func(t *testing.T, g *Group) {
				if d := attempt(t, g, "i1", 1, 2, 3); d.Restart || d.Reason != ReasonError {
					t.Fatalf("decision %+v", d)
				}
			}, now: 100, wantPhase: core.PhaseFailed,
			wantInit: []string{"Error/0", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "OnFailure: a failed init container is retried with back-off", policy: core.RestartOnFailure,
			drive: func(t *testing.T, g *Group) {
				if d := attempt(t, g, "i1", 1, 2, 1); !d.Restart || d.Delay != 10*time.Second {
					t.Fatalf("decision %+v", d)
				}
			}, now: 5, wantWake: 12, wantPhase: core.PhasePending,
			wantInit: []string{"CrashLoopBackOff/0", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "Always: the second failure waits twice as long, restarts counted", policy: core.RestartAlways,
			drive: func(t *testing.T, g *Group) {
				attempt(t, g, "i1", 1, 2, 1)
				if d := attempt(t, g, "i1", 12, 13, 1); d.Delay != 20*time.Second {
					t.Fatalf("decision %+v", d)
				}
			}, now: 33, wantDue: []string{"i1"}, wantPhase: core.PhasePending,
			wantInit: []string{"CrashLoopBackOff/1", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "a retried init container that completes lets the next run", policy: core.RestartOnFailure,
			drive: func(t *testing.T, g *Group) {
				attempt(t, g, "i1", 1, 2, 1)
				attempt(t, g, "i1", 12, 13, 0)
			}, now: 13, wantDue: []string{"i2"}, wantPhase: core.PhasePending,
			wantInit: []string{"Completed/1", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "pulling the init container's image", policy: core.RestartAlways,
			drive: func(t *testing.T, g *Group) { must(t, g.PullStarted(at(1), "i1")) },
			now:   1, wantDue: []string{"i1"}, wantPhase: core.PhaseImagePulling,
			wantInit: []string{"ContainerCreating/0", "PodInitializing/0"}, wantApp: "PodInitializing"},
		{name: "deleted during a back-off: Failed, nothing due", policy: core.RestartAlways,
			drive: func(t *testing.T, g *Group) {
				attempt(t, g, "i1", 1, 2, 1)
				g.Stop(at(3))
			}, now: 20, wantPhase: core.PhaseFailed,
			wantInit: []string{"CrashLoopBackOff/0", "PodInitializing/0"}, wantApp: "PodInitializing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newInitGroup(tt.policy)
			tt.drive(t, g)
			// A persisted and reloaded tracker decides the same.
			b, err := json.Marshal(g)
			must(t, err)
			var back Group
			must(t, json.Unmarshal(b, &back))
			for _, g := range []*Group{g, &back} {
				p := g.Next(at(tt.now))
				if !reflect.DeepEqual(dueNames(p), tt.wantDue) {
					t.Errorf("due %v, want %v", dueNames(p), tt.wantDue)
				}
				var wake time.Time
				if tt.wantWake != 0 {
					wake = at(tt.wantWake)
				}
				if !p.WakeAt.Equal(wake) {
					t.Errorf("wake %v, want %v", p.WakeAt, wake)
				}
				if ph := g.Phase(); ph != tt.wantPhase {
					t.Errorf("phase %s, want %s", ph, tt.wantPhase)
				}
				st := g.Status(at(tt.now))
				var init []string
				for _, cs := range st.InitContainers {
					init = append(init, cs.Current.Reason+"/"+itoa(cs.RestartCount))
				}
				if !reflect.DeepEqual(init, tt.wantInit) {
					t.Errorf("init containers %v, want %v", init, tt.wantInit)
				}
				if len(st.Containers) != 1 || st.Containers[0].Current.Reason != tt.wantApp {
					t.Errorf("app %+v, want reason %q", st.Containers, tt.wantApp)
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestInitExitCodeShown: a failed init container's exit code is in its
// terminated state.
func TestInitExitCodeShown(t *testing.T) {
	g := newInitGroup(core.RestartNever)
	attempt(t, g, "i1", 1, 2, 7)
	cs := g.Status(at(3)).InitContainers[0]
	if cs.Current.State != core.StateTerminated || cs.Current.ExitCode == nil || *cs.Current.ExitCode != 7 {
		t.Fatalf("state %+v", cs.Current)
	}
}
