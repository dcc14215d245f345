package kube

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
)

var timelineT0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// ms is timelineT0 plus n milliseconds.
func ms(n int) time.Time { return timelineT0.Add(time.Duration(n) * time.Millisecond) }

func kubeletEvent(uid, reason, fieldPath string, firstMs int) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Reason: reason,
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", UID: "pod-1", FieldPath: fieldPath},
		FirstTimestamp: metav1.NewTime(ms(firstMs)), LastTimestamp: metav1.NewTime(ms(firstMs)), Count: 1}
}

// timelineString writes a timeline as Step/container@ms since timelineT0.
func timelineString(tl core.StartTimeline) string {
	var out []string
	for _, m := range tl {
		s := string(m.Step)
		if m.Container != "" {
			s += "/" + m.Container
		}
		out = append(out, fmt.Sprintf("%s@%d", s, m.At.Sub(timelineT0).Milliseconds()))
	}
	return strings.Join(out, " ")
}

func TestPodTimeline(t *testing.T) {
	at := func(msec int) metav1.Time { return metav1.NewTime(ms(msec)) }
	ready := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: at(2000)}
	running := func(name string, msec int, restarts int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(msec)}}}
	}
	waiting := corev1.ContainerStatus{Name: "b", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	done := func(name string, msec int) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: at(msec), FinishedAt: at(msec + 1000)}}}
	}
	scheduled := &corev1.Event{ObjectMeta: metav1.ObjectMeta{UID: "e-s"}, Reason: "Scheduled", EventTime: metav1.NewMicroTime(ms(1234))}
	cases := []struct {
		name       string
		conditions []corev1.PodCondition
		init       []corev1.ContainerStatus
		statuses   []corev1.ContainerStatus
		events     []*corev1.Event
		phase      core.Phase
		want       string
	}{
		{"just accepted", nil, nil, nil, nil, core.PhasePending, "Accepted@0"},
		{"network ready, a container still waiting", []corev1.PodCondition{ready}, nil, []corev1.ContainerStatus{running("a", 3000, 0), waiting}, nil, core.PhasePending,
			"Accepted@0 NetworkReady@2000 ContainerStarted/a@3000"},
		{"both started: Running at the later", []corev1.PodCondition{ready}, nil, []corev1.ContainerStatus{running("a", 5000, 0), running("b", 3000, 0)}, nil, core.PhaseRunning,
			"Accepted@0 NetworkReady@2000 ContainerStarted/b@3000 ContainerStarted/a@5000 Running@5000"},
		{"a finished container counts as started", []corev1.PodCondition{ready}, nil, []corev1.ContainerStatus{running("a", 3000, 0), done("b", 4000)}, nil, core.PhaseRunning,
			"Accepted@0 NetworkReady@2000 ContainerStarted/a@3000 ContainerStarted/b@4000 Running@4000"},
		{"a restarted container's first start is unknown", []corev1.PodCondition{ready}, nil, []corev1.ContainerStatus{running("a", 30000, 2)}, nil, core.PhaseRunning,
			"Accepted@0 NetworkReady@2000"},
		{"condition not true yet", []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse, LastTransitionTime: at(1000)}}, nil, nil, nil, core.PhasePending,
			"Accepted@0"},
		{"an init container's start; Running waits for the containers", []corev1.PodCondition{ready}, []corev1.ContainerStatus{done("init", 3000)}, []corev1.ContainerStatus{waiting}, nil, core.PhasePending,
			"Accepted@0 NetworkReady@2000 ContainerStarted/init@3000"},
		{"events: scheduled with its microseconds, each container's image and creation", []corev1.PodCondition{ready}, nil, []corev1.ContainerStatus{running("a", 4000, 0)},
			[]*corev1.Event{
				kubeletEvent("e-c", "Created", "spec.containers{a}", 3000),
				scheduled,
				kubeletEvent("e-p", "Pulled", "spec.containers{a}", 3000),
				kubeletEvent("e-pi", "Pulled", "spec.initContainers{init}", 2000),
				kubeletEvent("e-x", "Pulled", "", 2000),                    // not about a container
				kubeletEvent("e-k", "Killing", "spec.containers{a}", 9000), // not a start step
			}, core.PhaseRunning,
			"Accepted@0 Scheduled@1234 NetworkReady@2000 ImageReady/init@2000 ContainerCreated/a@3000 ImageReady/a@3000 ContainerStarted/a@4000 Running@4000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{Conditions: tc.conditions, InitContainerStatuses: tc.init, ContainerStatuses: tc.statuses}}
			got := timelineString(podTimeline(p, &core.Group{CreatedAt: timelineT0}, tc.phase, tc.events, nil))
			if got != tc.want {
				t.Fatalf("timeline\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPodTimelineRefined: a whole-second step takes the moment the watch
// delivered it only within its second; a step there before kcid watched,
// or delivered a second late, keeps the cluster's second; the scheduler's
// exact time is kept as it is.
func TestPodTimelineRefined(t *testing.T) {
	at := func(msec int) metav1.Time { return metav1.NewTime(ms(msec)) }
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "pod-1"}, Status: corev1.PodStatus{
		Conditions: []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: at(2000)}},
		ContainerStatuses: []corev1.ContainerStatus{
			{Name: "a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(3000)}}},
			{Name: "b", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(4000)}}},
		}}}
	scheduled := &corev1.Event{ObjectMeta: metav1.ObjectMeta{UID: "e-s"}, Reason: "Scheduled", EventTime: metav1.NewMicroTime(ms(1234))}
	pulled := kubeletEvent("e-p", "Pulled", "spec.containers{a}", 2000)
	step := func(s core.StartStep, c string, msec int, exact bool) clusterStep {
		return clusterStep{stepKey: stepKey{s, c}, at: ms(msec), exact: exact}
	}
	w := newWatchTimes()
	w.podListed("pod-1", []clusterStep{step(core.StepNetworkReady, "", 2000, false)})
	// Arrived, in the second the cluster says: refined.
	w.arrived("pod-1", []clusterStep{step(core.StepImageReady, "a", 2000, false)}, ms(2071), true)
	w.arrived("pod-1", []clusterStep{step(core.StepContainerStarted, "a", 3000, false), step(core.StepRunning, "", 4000, false)}, ms(3420), true)
	// Arrived a second late: the cluster's second.
	w.arrived("pod-1", []clusterStep{step(core.StepContainerStarted, "b", 4000, false)}, ms(5010), true)
	// Arrived 0.9 s late: the scheduler's own time stays.
	w.arrived("pod-1", []clusterStep{step(core.StepScheduled, "", 1234, true)}, ms(2134), true)
	// Running arrives with the latest start (b's) in the same update.
	w.steps["pod-1"][stepKey{core.StepRunning, ""}] = seenStep{clusterStep: step(core.StepRunning, "", 4000, false), seen: ms(5010)}

	got := timelineString(podTimeline(p, &core.Group{CreatedAt: timelineT0}, core.PhaseRunning, []*corev1.Event{scheduled, pulled}, w))
	want := "Accepted@0 Scheduled@1234 NetworkReady@2000 ImageReady/a@2071 ContainerStarted/a@3420 ContainerStarted/b@4000 Running@4000"
	if got != want {
		t.Fatalf("timeline\n got %s\nwant %s", got, want)
	}
}

func TestWatchTimesArrived(t *testing.T) {
	s := func(step core.StartStep, c string) clusterStep {
		return clusterStep{stepKey: stepKey{step, c}, at: ms(1000)}
	}
	w := newWatchTimes()
	w.podListed("old", []clusterStep{s(core.StepNetworkReady, "")})
	tests := []struct {
		name  string
		pod   types.UID
		steps []clusterStep
		known bool
		want  int
	}{
		{"a step there when kcid began to watch is not new", "old", []clusterStep{s(core.StepNetworkReady, "")}, true, 0},
		{"a later step of a listed pod is", "old", []clusterStep{s(core.StepNetworkReady, ""), s(core.StepContainerStarted, "a")}, true, 1},
		{"and only once", "old", []clusterStep{s(core.StepContainerStarted, "a")}, true, 0},
		{"an event's step of a pod not watched is ignored", "gone", []clusterStep{s(core.StepImageReady, "a")}, false, 0},
		{"a new pod's steps", "new", []clusterStep{s(core.StepNetworkReady, ""), s(core.StepImageReady, "a")}, true, 2},
		{"an event's step of a watched pod", "new", []clusterStep{s(core.StepContainerCreated, "a")}, false, 1},
	}
	for _, tc := range tests {
		if got := w.arrived(tc.pod, tc.steps, ms(1500), tc.known); len(got) != tc.want {
			t.Errorf("%s: %d new steps %+v, want %d", tc.name, len(got), got, tc.want)
		}
	}
	if _, ok := w.steps["gone"]; ok {
		t.Error("an event of a pod not watched made an entry")
	}
	w.podGone("new")
	if _, ok := w.steps["new"]; ok {
		t.Error("a gone pod is remembered")
	}
}

// TestEventTimesRefined: a kubelet event's whole-second times take the
// moments its occurrences arrived, within their seconds; an
// events.k8s.io event keeps its own time to the millisecond.
func TestEventTimesRefined(t *testing.T) {
	w := newWatchTimes()
	e := kubeletEvent("e-1", "Pulled", "spec.containers{a}", 2000)
	w.eventArrived(nil, e, ms(2300))
	again := e.DeepCopy()
	again.Count, again.LastTimestamp = 2, metav1.NewTime(ms(5000))
	lateSecond := kubeletEvent("e-2", "Created", "spec.containers{a}", 2000)
	w.eventArrived(nil, lateSecond, ms(3100))
	listed := kubeletEvent("e-3", "Started", "spec.containers{a}", 2000)
	scheduler := &corev1.Event{ObjectMeta: metav1.ObjectMeta{UID: "e-4"}, Reason: "Scheduled", EventTime: metav1.NewMicroTime(ms(1234).Add(567 * time.Microsecond))}
	tests := []struct {
		name        string
		e           *corev1.Event
		arrive      time.Time // when the version e arrived (zero: not again)
		first, last int
		count       int
	}{
		{"arrived in its second", e, time.Time{}, 2300, 2300, 1},
		{"repeated: the last occurrence arrived in its second", again, ms(5040), 2300, 5040, 2},
		{"arrived a second late: whole seconds", lateSecond, time.Time{}, 2000, 2000, 1},
		{"listed when kcid began to watch: whole seconds", listed, time.Time{}, 2000, 2000, 1},
		{"events.k8s.io: its own time in milliseconds", scheduler, time.Time{}, 1234, 1234, 1},
	}
	prev := e
	for _, tc := range tests {
		if !tc.arrive.IsZero() {
			w.eventArrived(prev, tc.e, tc.arrive)
		}
		first, last, count := eventTimes(tc.e, w)
		if !first.Equal(ms(tc.first)) || !last.Equal(ms(tc.last)) || count != tc.count {
			t.Errorf("%s: first %v last %v count %d; want +%dms +%dms %d", tc.name, first.Sub(timelineT0), last.Sub(timelineT0), count, tc.first, tc.last, tc.count)
		}
	}
}

// TestWatchPodStepsObserved: steps are told to a StartObserver once, as
// they arrive, at their timeline times; a pod listed at kcid's start is
// not told again.
func TestWatchPodStepsObserved(t *testing.T) {
	created := ms(0)
	clk := clock.NewFake(ms(2040))
	rec := &timelineRecorder{steps: map[stepKey][]time.Duration{}}
	r := &Runtime{cfg: Config{Observer: rec, NamespacePrefix: "kci-", Clock: clk}, watched: newWatchTimes(),
		groups: map[types.UID]*core.Group{"pod-1": {CreatedAt: created}, "pod-2": {CreatedAt: created}}}
	pod := func(uid types.UID, started bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid, Namespace: "kci-1", Labels: map[string]string{LabelGroupID: "g"}}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(ms(2000))}}
		if started {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(ms(3000))}}}}
		}
		return p
	}
	r.watchPodSteps(pod("pod-2", true), true) // listed: told nothing, now or later
	r.watchPodSteps(pod("pod-1", false), false)
	clk.Set(ms(3500))
	r.watchPodSteps(pod("pod-1", true), false)
	r.watchPodSteps(pod("pod-1", true), false)
	r.watchPodSteps(pod("pod-2", true), false)
	clk.Set(ms(3600))
	r.watchEventStep(kubeletEvent("e-1", "Created", "spec.containers{a}", 3000))
	want := map[stepKey][]time.Duration{
		{core.StepNetworkReady, ""}:      {2040 * time.Millisecond},
		{core.StepContainerStarted, "a"}: {3500 * time.Millisecond},
		{core.StepRunning, ""}:           {3500 * time.Millisecond},
		{core.StepContainerCreated, "a"}: {3600 * time.Millisecond},
	}
	if !reflect.DeepEqual(rec.steps, want) {
		t.Fatalf("observed\n got %v\nwant %v", rec.steps, want)
	}
}

// TestPodTimelineRemembersFirstStart: a container's first start seen by
// the watch stays in the timeline after the pod shows only a later
// attempt, and Running with it.
func TestPodTimelineRemembersFirstStart(t *testing.T) {
	at := func(msec int) metav1.Time { return metav1.NewTime(ms(msec)) }
	first := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "pod-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(3000)}}}}}}
	restarted := first.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].State.Running.StartedAt = at(9000)
	g := &core.Group{CreatedAt: timelineT0}
	w := newWatchTimes()
	w.arrived("pod-1", podSteps(first, true), ms(3100), true)
	for _, tc := range []struct {
		name string
		seen *watchTimes
		want string
	}{
		{"watched", w, "Accepted@0 ContainerStarted/a@3100 Running@3100"},
		{"not watched: the pod alone no longer shows it", nil, "Accepted@0"},
	} {
		if got := timelineString(podTimeline(restarted, g, core.PhaseRunning, nil, tc.seen)); got != tc.want {
			t.Errorf("%s: timeline\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestStepTime(t *testing.T) {
	accepted := ms(1500)
	w := newWatchTimes()
	step := func(s core.StartStep, sec int, exact bool) clusterStep {
		return clusterStep{stepKey: stepKey{s, "a"}, at: ms(sec), exact: exact}
	}
	w.arrived("pod-1", []clusterStep{step(core.StepImageReady, 1000, false), step(core.StepContainerCreated, 1000, false)}, ms(1700), true)
	w.arrived("pod-1", []clusterStep{step(core.StepContainerStarted, 1000, false)}, ms(2100), true)
	tests := []struct {
		name string
		s    clusterStep
		want int
	}{
		{"arrived within its second", step(core.StepImageReady, 1000, false), 1700},
		{"arrived a second late, its second began before the acceptance", step(core.StepContainerStarted, 1000, false), 1500},
		{"not seen, a later second", step(core.StepRunning, 2000, false), 2000},
		{"exact: the cluster's time", step(core.StepScheduled, 1234, true), 1234},
	}
	for _, tc := range tests {
		if got := w.stepTime("pod-1", tc.s, accepted); !got.Equal(ms(tc.want)) {
			t.Errorf("%s: %v, want +%dms", tc.name, got.Sub(timelineT0), tc.want)
		}
	}
	if got := (*watchTimes)(nil).stepTime("pod-1", step(core.StepRunning, 1000, false), accepted); !got.Equal(accepted) {
		t.Errorf("nothing watched: %v, want the acceptance", got.Sub(timelineT0))
	}
}
