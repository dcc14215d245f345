package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/core"
)

// TestStartTimelineOnCluster: a runtime watching the real cluster while a
// group starts gives its start timeline from Accepted to Running with each
// step the cluster records (Scheduled, NetworkReady, the container's
// ImageReady, ContainerCreated and ContainerStarted, Running) and no
// VolumesReady, each at the cluster's time or within the second the cluster
// recorded it in; its StartObserver is told of each step once, at the
// timeline's time.
func TestStartTimelineOnCluster(t *testing.T) {
	e := newE2E(t)
	rec := &timelineRecorder{recorder: recorder{restarts: map[string]int{}}, steps: map[stepKey][]time.Duration{}}
	watcher, err := New(Config{Client: e.cs, Observer: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	g := e.group(t, "timeline")
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", "exec sleep 3600"}}}
	ctx := context.Background()
	if err := e.rt.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })

	want := []stepKey{
		{core.StepAccepted, ""}, {core.StepScheduled, ""}, {core.StepNetworkReady, ""},
		{core.StepImageReady, "main"}, {core.StepContainerCreated, "main"}, {core.StepContainerStarted, "main"},
		{core.StepRunning, ""},
	}
	var st core.GroupStatus
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err = watcher.Status(ctx, g.ID)
		if err == nil && st.Phase == core.PhaseRunning && len(st.Timeline) >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not Running with a full timeline within 90 s: %v %+v", err, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tl := st.Timeline
	marks := map[stepKey]time.Time{}
	for _, m := range tl {
		marks[stepKey{m.Step, m.Container}] = m.At
	}
	if len(tl) != len(want) {
		t.Errorf("timeline has %d steps, want %d: %+v", len(tl), len(want), tl)
	}
	for _, k := range want {
		if _, ok := marks[k]; !ok {
			t.Fatalf("no %s %q in %+v", k.step, k.container, tl)
		}
	}
	if !marks[stepKey{core.StepAccepted, ""}].Equal(g.CreatedAt) {
		t.Errorf("Accepted at %v, want the group's CreatedAt %v", marks[stepKey{core.StepAccepted, ""}], g.CreatedAt)
	}
	// In the order the kubelet passes them, compared in whole seconds
	// (steps of one second may be refined or not). NetworkReady is when
	// the kubelet reported the sandbox ready, in the status of the sync
	// after the one that made the sandbox, pulled and started: it may
	// come after the container's start, so only Scheduled is before it.
	for _, p := range [][2]stepKey{
		{want[0], want[1]}, {want[1], want[2]}, {want[1], want[3]}, {want[3], want[4]},
		{want[4], want[5]}, {want[5], want[6]},
	} {
		a, b := marks[p[0]], marks[p[1]]
		if b.Truncate(time.Second).Before(a.Truncate(time.Second)) {
			t.Errorf("%s at %v before %s at %v", p[1].step, b, p[0].step, a)
		}
	}

	// Each step against what the cluster recorded.
	p := watcher.pod(g.ID)
	evs, err := e.cs.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(p.UID)})
	if err != nil {
		t.Fatal(err)
	}
	cluster := map[stepKey]time.Time{}
	exact := map[stepKey]bool{}
	for _, s := range podSteps(p, true) {
		cluster[s.stepKey] = s.at
	}
	for i := range evs.Items {
		if s, ok := eventStep(&evs.Items[i]); ok {
			if at, seen := cluster[s.stepKey]; !seen || s.at.Before(at) {
				cluster[s.stepKey], exact[s.stepKey] = s.at, s.exact
			}
		}
	}
	refined := 0
	for _, k := range want[1:] {
		at, ok := cluster[k]
		if !ok {
			t.Errorf("the cluster records no %s %q (events %d)", k.step, k.container, len(evs.Items))
			continue
		}
		got := marks[k]
		switch {
		case exact[k]:
			if !got.Equal(at) {
				t.Errorf("%s at %v, want the cluster's %v", k.step, got, at)
			}
		case got.Before(at) || !got.Before(at.Add(time.Second)):
			t.Errorf("%s %q at %v, outside the second the cluster recorded (%v)", k.step, k.container, got, at)
		case !got.Equal(at):
			refined++
		}
	}
	t.Logf("timeline: %s (%d of %d whole-second steps to the millisecond, as the watch delivered them)", timelineSummary(tl), refined, len(want)-2)

	// The observer: each step once, at the timeline's time.
	deadline = time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.steps)
		rec.mu.Unlock()
		if n >= len(want)-1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, k := range want[1:] {
		got := rec.steps[k]
		if len(got) != 1 || got[0] != marks[k].Sub(g.CreatedAt) {
			t.Errorf("observer told %s %q %v, want once at %v", k.step, k.container, got, marks[k].Sub(g.CreatedAt))
		}
	}
	if len(rec.steps) != len(want)-1 {
		t.Errorf("observer told %d steps, want %d: %v", len(rec.steps), len(want)-1, rec.steps)
	}
}

func timelineSummary(tl core.StartTimeline) string {
	var out []string
	for _, m := range tl {
		s := string(m.Step)
		if m.Container != "" {
			s += "/" + m.Container
		}
		out = append(out, fmt.Sprintf("%s +%dms", s, m.At.Sub(tl[0].At).Milliseconds()))
	}
	return strings.Join(out, ", ")
}

// timelineRecorder is a recorder that is also a StartObserver.
type timelineRecorder struct {
	recorder
	steps map[stepKey][]time.Duration
}

func (r *timelineRecorder) GroupStartStep(step core.StartStep, container string, since time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := stepKey{step, container}
	r.steps[k] = append(r.steps[k], since)
}

var _ StartObserver = (*timelineRecorder)(nil)
