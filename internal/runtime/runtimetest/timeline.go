package runtimetest

import (
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// testStartTimeline: a group's first start has the timeline steps both
// runtimes observe — Accepted at the group's creation, NetworkReady, and
// per container ImageReady, ContainerCreated and ContainerStarted, then
// Running — each once and each container's in the order a start passes
// them; a container's restart adds nothing. Steps are compared in whole seconds: on
// Kubernetes a step has the cluster's second or a moment within it.
func testStartTimeline(t *testing.T, e Env) {
	g := e.NewGroup(t, "timeline")
	g.CreatedAt = time.Now().UTC()
	g.Containers = []core.Container{
		e.ctr("a", "sh", "-c", "exec sleep 3600"),
		e.ctr("b", "sh", "-c", "sleep 3; exit 1"),
	}
	e.start(t, g)
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		return s.Phase == core.PhaseRunning && Container(s, "b").RestartCount > 0
	})
	type key struct {
		step      core.StartStep
		container string
	}
	at := map[key]time.Time{}
	for _, m := range st.Timeline {
		k := key{m.Step, m.Container}
		if _, dup := at[k]; dup {
			t.Errorf("%s %q recorded twice: %+v", m.Step, m.Container, st.Timeline)
		}
		at[k] = m.At
	}
	accepted := key{core.StepAccepted, ""}
	network, running := key{core.StepNetworkReady, ""}, key{core.StepRunning, ""}
	for _, k := range []key{accepted, network, running} {
		if _, ok := at[k]; !ok {
			t.Fatalf("no %s in %+v", k.step, st.Timeline)
		}
	}
	if !at[accepted].Equal(g.CreatedAt) {
		t.Errorf("Accepted at %v, want the group's creation %v", at[accepted], g.CreatedAt)
	}
	before := func(a, b key) {
		if at[b].Truncate(time.Second).Before(at[a].Truncate(time.Second)) {
			t.Errorf("%s %q at %v before %s %q at %v", b.step, b.container, at[b], a.step, a.container, at[a])
		}
	}
	// NetworkReady only after Accepted: on Kubernetes it is when the
	// kubelet reported the sandbox ready, in the status of the sync after
	// the one that started the containers, so it may come after Running.
	before(accepted, network)
	for _, c := range []string{"a", "b"} {
		steps := []key{{core.StepImageReady, c}, {core.StepContainerCreated, c}, {core.StepContainerStarted, c}}
		for _, k := range steps {
			if _, ok := at[k]; !ok {
				t.Fatalf("no %s of %s in %+v", k.step, c, st.Timeline)
			}
		}
		before(accepted, steps[0])
		before(steps[0], steps[1])
		before(steps[1], steps[2])
		before(steps[2], running)
	}
}
