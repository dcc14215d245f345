package kube

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openkci/openkci/internal/core"
)

// Observer is told of what the runtime sees happen to pods, for metrics
// (*metrics.Recorder is one). Its methods must not block.
type Observer interface {
	// ContainerRestarted: a container of the account started again (its
	// restartCount grew).
	ContainerRestarted(accountID string)
	// GroupRunning: a group's pod reached phase Running for the first
	// time, d after it was created.
	GroupRunning(d time.Duration)
	// ImagePulled: the kubelet pulled an image for a group (bytes and d
	// from its event) or failed to (d 0: not known).
	ImagePulled(bytes int64, d time.Duration, err error)
}

// StartObserver is told of each step of a group's first start as kcid's
// watches deliver it (metrics: a histogram per step). It is optional: an
// Observer that also implements it is told.
type StartObserver interface {
	// GroupStartStep: the group reached step (of container, "" for a
	// group step) sinceAccepted after the API accepted it, at the time its
	// StartTimeline shows.
	GroupStartStep(step core.StartStep, container string, sinceAccepted time.Duration)
}

// watchPodSteps records the start steps a pod's status shows as they
// arrive (listed: the pod was there when kcid began to watch) and tells
// a StartObserver of those new.
func (r *Runtime) watchPodSteps(obj any, listed bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok || !r.ours(p.Namespace) || p.Labels[LabelGroupID] == "" || p.UID == "" {
		return
	}
	steps := podSteps(p, p.Status.Phase == corev1.PodRunning)
	if listed {
		r.watched.podListed(p.UID, steps)
		return
	}
	added := r.watched.arrived(p.UID, steps, r.cfg.Clock.Now(), true)
	// The group is read even with no step yet: watchEventStep finds it
	// by the pod's UID.
	if g, err := r.group(p); err == nil {
		r.observeSteps(p.UID, g, added)
	}
}

// watchEventStep records the start step a new event tells (Scheduled,
// Pulled, Created) as it arrives, for a pod being watched, and tells a
// StartObserver of it.
func (r *Runtime) watchEventStep(e *corev1.Event) {
	s, ok := eventStep(e)
	uid := e.InvolvedObject.UID
	if !ok || uid == "" {
		return
	}
	if added := r.watched.arrived(uid, []clusterStep{s}, r.cfg.Clock.Now(), false); len(added) > 0 {
		r.mu.Lock()
		g := r.groups[uid]
		r.mu.Unlock()
		if g != nil {
			r.observeSteps(uid, g, added)
		}
	}
}

// observeSteps tells a StartObserver of steps of g's pod at the times its
// timeline gives them.
func (r *Runtime) observeSteps(pod types.UID, g *core.Group, steps []clusterStep) {
	o, ok := r.cfg.Observer.(StartObserver)
	if !ok || g.CreatedAt.IsZero() {
		return
	}
	for _, s := range steps {
		if d := r.watched.stepTime(pod, s, g.CreatedAt).Sub(g.CreatedAt); d >= 0 {
			o.GroupStartStep(s.step, s.container, d)
		}
	}
}

// observePodUpdate tells the observer what one informer update of a pod
// of ours shows: restarts (restartCount grown) and a first Running (the
// phase turned Running with no restart yet). Pods listed when kcid starts
// arrive as adds, not updates, so they are not counted again.
func (r *Runtime) observePodUpdate(oldObj, newObj any) {
	o := r.cfg.Observer
	old, ok1 := oldObj.(*corev1.Pod)
	p, ok2 := newObj.(*corev1.Pod)
	if o == nil || !ok1 || !ok2 || !r.ours(p.Namespace) || p.Labels[LabelGroupID] == "" {
		return
	}
	before := map[string]int32{}
	for _, c := range old.Status.ContainerStatuses {
		before[c.Name] = c.RestartCount
	}
	restarts := int32(0)
	for _, c := range p.Status.ContainerStatuses {
		restarts += c.RestartCount
		for n := before[c.Name]; n < c.RestartCount; n++ {
			o.ContainerRestarted(p.Labels[LabelAccountID])
		}
	}
	if old.Status.Phase != corev1.PodRunning && p.Status.Phase == corev1.PodRunning && restarts == 0 {
		o.GroupRunning(r.cfg.Clock.Now().Sub(p.CreationTimestamp.Time))
	}
}

// pulledRE reads the kubelet's Pulled event: `Successfully pulled image
// "x" in 285ms (285ms including waiting). Image size: 2160406 bytes.` An
// image already present is a Pulled event too, without these figures.
var pulledRE = regexp.MustCompile(`^Successfully pulled image .* in ([0-9.]+[a-zµ]+) \(.*\)\. Image size: ([0-9]+) bytes`)

// observeEvent tells the observer of image pulls from the kubelet's events
// on pods of ours: a Pulled event with the pull's time and size, a Failed
// one that failed to pull (time unknown). An event repeated (its count
// grown) is as many pulls; events listed when kcid starts are not counted.
func (r *Runtime) observeEvent(old, e *corev1.Event) {
	o := r.cfg.Observer
	if o == nil || e == nil || !r.ours(e.Namespace) {
		return
	}
	n := max(e.Count, 1)
	if old != nil {
		n = e.Count - old.Count
	}
	for range n {
		switch {
		case e.Reason == "Pulled":
			m := pulledRE.FindStringSubmatch(e.Message)
			if m == nil {
				return // already present: not a pull
			}
			d, _ := time.ParseDuration(m[1])
			size, _ := strconv.ParseInt(m[2], 10, 64)
			o.ImagePulled(size, d, nil)
		case e.Reason == "Failed" && strings.HasPrefix(e.Message, "Failed to pull image"):
			o.ImagePulled(0, 0, errors.New(e.Message))
		default:
			return
		}
	}
}
