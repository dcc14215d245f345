package kube

import (
	"time"

	corev1 "k8s.io/api/core/v1"
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
