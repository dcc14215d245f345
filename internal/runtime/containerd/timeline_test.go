package containerd

import (
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// TestStartTimeline: a group's first start on real containerd records
// every step once, in the order reached, from the API's acceptance to
// Running, and state.json holds the same timeline; a restart of a
// container adds nothing.
func TestStartTimeline(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("timeline", ip(40), cidr, gw, sid,
		core.Container{Name: "a", Image: e.image, Command: sleeper("")},
		core.Container{Name: "b", Image: e.image, Command: []string{"sh", "-c", "sleep 0.5; exit 1"}})
	g.CreatedAt = time.Now()
	e.start(g)
	st := e.waitStatus(g.ID, 60*time.Second, func(st core.GroupStatus) bool {
		return st.Phase == core.PhaseRunning && st.Containers[1].RestartCount > 0
	})

	// The network is attached while the containers are created, so its
	// place among their steps varies; what a start must keep is below.
	want := []struct {
		step      core.StartStep
		container string
	}{
		{core.StepAccepted, ""}, {core.StepVolumesReady, ""}, {core.StepNetworkReady, ""},
		{core.StepImageReady, "a"}, {core.StepContainerCreated, "a"}, {core.StepContainerStarted, "a"},
		{core.StepImageReady, "b"}, {core.StepContainerCreated, "b"}, {core.StepContainerStarted, "b"},
		{core.StepRunning, ""},
	}
	tl := st.Timeline
	if len(tl) != len(want) {
		t.Fatalf("timeline has %d steps, want %d: %+v", len(tl), len(want), tl)
	}
	pos := map[core.StartMark]int{}
	for i, m := range tl {
		pos[core.StartMark{Step: m.Step, Container: m.Container}] = i
		if i > 0 && m.At.Before(tl[i-1].At) {
			t.Errorf("step %d (%s) at %v, before the step before it at %v", i, m.Step, m.At, tl[i-1].At)
		}
	}
	at := func(step core.StartStep, container string) int {
		i, ok := pos[core.StartMark{Step: step, Container: container}]
		if !ok {
			t.Fatalf("no %s %q in %+v", step, container, tl)
		}
		return i
	}
	for _, w := range want {
		at(w.step, w.container)
	}
	// Each pair: the first step comes before the second.
	for _, p := range [][2]struct {
		step      core.StartStep
		container string
	}{
		{{core.StepAccepted, ""}, {core.StepVolumesReady, ""}},
		{{core.StepVolumesReady, ""}, {core.StepNetworkReady, ""}},
		{{core.StepVolumesReady, ""}, {core.StepImageReady, "a"}},
		{{core.StepNetworkReady, ""}, {core.StepContainerStarted, "a"}},
		{{core.StepImageReady, "a"}, {core.StepContainerCreated, "a"}},
		{{core.StepContainerCreated, "a"}, {core.StepContainerStarted, "a"}},
		{{core.StepContainerStarted, "a"}, {core.StepImageReady, "b"}},
		{{core.StepImageReady, "b"}, {core.StepContainerCreated, "b"}},
		{{core.StepContainerCreated, "b"}, {core.StepContainerStarted, "b"}},
		{{core.StepContainerStarted, "b"}, {core.StepRunning, ""}},
	} {
		if at(p[0].step, p[0].container) > at(p[1].step, p[1].container) {
			t.Errorf("%s %q after %s %q: %+v", p[0].step, p[0].container, p[1].step, p[1].container, tl)
		}
	}
	if tl[0].Step != core.StepAccepted || tl[len(tl)-1].Step != core.StepRunning {
		t.Errorf("timeline does not go from Accepted to Running: %+v", tl)
	}
	if !tl[0].At.Equal(g.CreatedAt) {
		t.Errorf("Accepted at %v, want the group's CreatedAt %v", tl[0].At, g.CreatedAt)
	}
	if !tl[len(tl)-1].At.After(tl[0].At) {
		t.Errorf("Running at %v, not after Accepted at %v", tl[len(tl)-1].At, tl[0].At)
	}

	saved, err := readState(e.rt.groupDir(g.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !sameTimeline(saved.Timeline, tl) {
		t.Fatalf("state.json's timeline:\n got %+v\nwant %+v", saved.Timeline, tl)
	}
}

// sameTimeline compares timelines by step, container and instant (a
// timeline read back has no monotonic clock reading).
func sameTimeline(a, b core.StartTimeline) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Step != b[i].Step || a[i].Container != b[i].Container || !a[i].At.Equal(b[i].At) {
			return false
		}
	}
	return true
}
