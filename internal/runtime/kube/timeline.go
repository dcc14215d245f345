package kube

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openkci/openkci/internal/core"
)

// The start timeline on Kubernetes is what the cluster records of a pod's
// first start, each step at the time the cluster gives it:
//
//   - Accepted: the group's creation (kcid's own time, milliseconds);
//   - Scheduled: the scheduler's Scheduled event (its eventTime, which
//     has microseconds);
//   - NetworkReady: condition PodReadyToStartContainers true (sandbox and
//     CNI done);
//   - ImageReady per container: the kubelet's Pulled event of the
//     container (pulled, or already present);
//   - ContainerCreated per container: the kubelet's Created event;
//   - ContainerStarted per container: its first attempt's startedAt (kept
//     by watchTimes once seen: the pod shows only the latest attempt);
//   - Running: the latest of those starts, once the group is Running.
//
// The pod says nothing of volumes, so VolumesReady is absent. Except for
// the scheduler's event, the cluster keeps whole seconds. kcid refines
// such a time with the moment its watch delivered the step (watchTimes)
// when that moment lies within the second the cluster recorded: never
// before the step, at most the watch's delay after it. A step kcid did not
// see arrive (it happened before kcid watched, or the watch delivered it
// in a later second) keeps the cluster's whole second, or the group's
// acceptance if that came later within the second (stepTime).

// stepKey is one step of a start (of a container; "" for a group step).
type stepKey struct {
	step      core.StartStep
	container string
}

// clusterStep is a step as the cluster records it: at is exact when the
// cluster keeps sub-seconds, else the whole second it happened in.
type clusterStep struct {
	stepKey
	at    time.Time
	exact bool
}

// podSteps lists the steps of the pod's first start that its status shows;
// running says whether the group is Running.
func podSteps(p *corev1.Pod, running bool) []clusterStep {
	var out []clusterStep
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReadyToStartContainers && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			out = append(out, clusterStep{stepKey: stepKey{core.StepNetworkReady, ""}, at: c.LastTransitionTime.Time})
		}
	}
	started := func(css []corev1.ContainerStatus) (all bool, last time.Time) {
		all = true
		for _, cs := range css {
			var st corev1.ContainerState
			if cs.RestartCount == 0 {
				st = cs.State
			}
			var at time.Time
			switch {
			case st.Running != nil:
				at = st.Running.StartedAt.Time
			case st.Terminated != nil:
				at = st.Terminated.StartedAt.Time
			}
			if at.IsZero() {
				all = false
				continue
			}
			out = append(out, clusterStep{stepKey: stepKey{core.StepContainerStarted, cs.Name}, at: at})
			if at.After(last) {
				last = at
			}
		}
		return all, last
	}
	_, _ = started(p.Status.InitContainerStatuses)
	all, last := started(p.Status.ContainerStatuses)
	if running && all && len(p.Status.ContainerStatuses) > 0 {
		out = append(out, clusterStep{stepKey: stepKey{core.StepRunning, ""}, at: last})
	}
	return out
}

// reFieldPath reads the container an event of the kubelet is about.
var reFieldPath = regexp.MustCompile(`^spec\.(?:initContainers|containers)\{(.+)\}$`)

// eventStep is the step of a first start an event records, if any: the
// scheduler's Scheduled, the kubelet's Pulled and Created of a container
// (their first occurrence: a repeated event keeps its first time).
func eventStep(e *corev1.Event) (clusterStep, bool) {
	switch e.Reason {
	case "Scheduled":
		if !e.EventTime.IsZero() {
			return clusterStep{stepKey: stepKey{core.StepScheduled, ""}, at: e.EventTime.Time, exact: true}, true
		}
		if !e.FirstTimestamp.IsZero() {
			return clusterStep{stepKey: stepKey{core.StepScheduled, ""}, at: e.FirstTimestamp.Time}, true
		}
	case "Pulled", "Created":
		m := reFieldPath.FindStringSubmatch(e.InvolvedObject.FieldPath)
		if m == nil || e.FirstTimestamp.IsZero() {
			return clusterStep{}, false
		}
		step := core.StepImageReady
		if e.Reason == "Created" {
			step = core.StepContainerCreated
		}
		return clusterStep{stepKey: stepKey{step, m[1]}, at: e.FirstTimestamp.Time}, true
	}
	return clusterStep{}, false
}

// podTimeline is the group's start timeline (see above) from the pod, its
// events and what kcid's watches saw (nil: nothing).
func podTimeline(p *corev1.Pod, g *core.Group, phase core.Phase, evs []*corev1.Event, seen *watchTimes) core.StartTimeline {
	var tl core.StartTimeline
	if !g.CreatedAt.IsZero() {
		tl.Mark(core.StepAccepted, "", g.CreatedAt)
	}
	steps := append(podSteps(p, phase == core.PhaseRunning), seen.remembered(p.UID)...)
	for _, e := range evs {
		if s, ok := eventStep(e); ok {
			steps = append(steps, s)
		}
	}
	// Earliest first, so that a step told twice (a Scheduled event of each
	// API group) keeps its first time.
	slices.SortStableFunc(steps, func(a, b clusterStep) int { return a.at.Compare(b.at) })
	for _, s := range steps {
		tl.Mark(s.step, s.container, seen.stepTime(p.UID, s, g.CreatedAt))
	}
	return tl
}

// watchTimes remembers when kcid's watches delivered what the cluster
// records in whole seconds: per pod, each step of its first start (and
// the step itself, so that a container's first start stays in the
// timeline after the pod shows only a later attempt); per event, its
// first and latest occurrence. It lives in memory only: after a restart
// of kcid, the steps and events of before keep whole seconds, and a first
// start the pod no longer shows is gone.
type watchTimes struct {
	mu sync.Mutex
	// steps[pod][step] is the step and when it arrived (seen zero: it was
	// there when kcid began to watch the pod).
	steps map[types.UID]map[stepKey]seenStep
	// events[event] is when its first and latest occurrence arrived.
	events map[types.UID]eventSeen
}

type seenStep struct {
	clusterStep
	seen time.Time
}

type eventSeen struct {
	first, last time.Time
	count       int32
}

func newWatchTimes() *watchTimes {
	return &watchTimes{steps: map[types.UID]map[stepKey]seenStep{}, events: map[types.UID]eventSeen{}}
}

// podListed records the steps a pod had when kcid began to watch it
// (arrival unknown).
func (w *watchTimes) podListed(uid types.UID, steps []clusterStep) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.steps[uid]
	if m == nil {
		m = map[stepKey]seenStep{}
		w.steps[uid] = m
	}
	for _, s := range steps {
		if _, ok := m[s.stepKey]; !ok {
			m[s.stepKey] = seenStep{clusterStep: s}
		}
	}
}

// arrived records the steps of a pod delivered at now and returns those
// new to it. Steps of a pod not watched (podListed or an earlier arrived)
// are ignored when known is false: an event of a pod already gone.
func (w *watchTimes) arrived(uid types.UID, steps []clusterStep, now time.Time, known bool) []clusterStep {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.steps[uid]
	if m == nil {
		if !known {
			return nil
		}
		m = map[stepKey]seenStep{}
		w.steps[uid] = m
	}
	var added []clusterStep
	for _, s := range steps {
		if _, ok := m[s.stepKey]; !ok {
			m[s.stepKey] = seenStep{clusterStep: s, seen: now}
			added = append(added, s)
		}
	}
	return added
}

// remembered returns the steps of the pod seen so far.
func (w *watchTimes) remembered(uid types.UID) []clusterStep {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]clusterStep, 0, len(w.steps[uid]))
	for _, s := range w.steps[uid] {
		out = append(out, s.clusterStep)
	}
	// Not in map order: steps of one time in the order a start passes
	// them, as podSteps gives them (the timeline keeps the order of ties).
	slices.SortFunc(out, func(a, b clusterStep) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.step.Rank(), b.step.Rank()), strings.Compare(a.container, b.container))
	})
	return out
}

// podGone forgets a pod.
func (w *watchTimes) podGone(uid types.UID) {
	w.mu.Lock()
	delete(w.steps, uid)
	w.mu.Unlock()
}

// stepTime is the time the timeline gives a step of the pod: the
// cluster's when exact; for a whole second, the moment the step arrived
// when that lies within the second, else the start of the second, raised
// to the group's acceptance when that lies within the second (a step is
// never before its group was accepted, but its whole second may begin
// before). w may be nil.
func (w *watchTimes) stepTime(pod types.UID, s clusterStep, accepted time.Time) time.Time {
	if s.exact {
		return s.at
	}
	var seen time.Time
	if w != nil {
		w.mu.Lock()
		seen = w.steps[pod][s.stepKey].seen
		w.mu.Unlock()
	}
	if t := within(s.at, seen); !t.Equal(s.at) {
		return t
	}
	return within(s.at, accepted)
}

// within returns seen if it lies in the second starting at at (whole
// seconds), else at.
func within(at, seen time.Time) time.Time {
	if !seen.IsZero() && !seen.Before(at) && seen.Before(at.Add(time.Second)) {
		return seen
	}
	return at
}

// eventArrived records an event delivered at now (old: its previous
// version, nil for a new event): a new event's first and last occurrence,
// a repeated one's last.
func (w *watchTimes) eventArrived(old, e *corev1.Event, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.events[e.UID]
	switch {
	case old == nil || !ok:
		if old != nil {
			// Repeated, first seen before kcid watched: only its latest
			// occurrence is known.
			s.first = time.Time{}
		} else {
			s.first = now
		}
		s.last, s.count = now, e.Count
	case e.Count != s.count || !e.LastTimestamp.Equal(&old.LastTimestamp):
		s.last, s.count = now, e.Count
	default:
		return
	}
	w.events[e.UID] = s
}

// eventGone forgets an event.
func (w *watchTimes) eventGone(uid types.UID) {
	w.mu.Lock()
	delete(w.events, uid)
	w.mu.Unlock()
}

// eventSeenTimes returns when the event's first and latest occurrence
// arrived (zero: not seen arrive).
func (w *watchTimes) eventSeenTimes(uid types.UID) (first, last time.Time) {
	if w == nil {
		return time.Time{}, time.Time{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.events[uid]
	return s.first, s.last
}
