package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openkci/openkci/internal/core"
)

// Pods removed behind kcid's back. The pod is the only record of a group,
// so every pod carries FinalizerGroup, which only Remove takes off: a pod
// deleted by someone else (kubectl delete, the eviction API, a controller)
// stays, terminating, and its group shows Failed with an event saying what
// happened until DeleteContainerGroup removes it. An evicted pod that the
// kubelet failed (node pressure) stays as phase Failed, reason Evicted,
// with the kubelet's Evicted event.

// Event reasons of a pod that went away without kcid asking.
const (
	ReasonPodDeleted = "PodDeleted"
	ReasonEvicted    = "Evicted"
)

func hasFinalizer(p *corev1.Pod) bool { return slices.Contains(p.Finalizers, FinalizerGroup) }

// deletedOutOfBand reports whether the pod is being deleted without kcid
// having accepted a deletion of its group (which marks the pod first).
func deletedOutOfBand(p *corev1.Pod) bool {
	_, marked := p.Annotations[AnnotationDeletedAt]
	return p.DeletionTimestamp != nil && !marked
}

// kubeletEvicted reports whether the kubelet evicted the pod (node
// pressure): phase Failed, reason Evicted; the pod is not deleted.
func kubeletEvicted(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed && p.Status.Reason == ReasonEvicted
}

// goneEvent is the event a group shows when its pod was deleted or evicted
// without kcid asking; ok is false for any other pod. For a pod the
// kubelet evicted, the event is built from the pod's status only when the
// cluster's own Evicted event is not among evs (expired).
func goneEvent(p *corev1.Pod, evs []core.Event) (_ core.Event, ok bool) {
	if kubeletEvicted(p) && !deletedOutOfBand(p) {
		if slices.ContainsFunc(evs, func(e core.Event) bool { return e.Reason == ReasonEvicted }) {
			return core.Event{}, false
		}
		at := p.CreationTimestamp.Time.UTC()
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.LastTransitionTime.After(at) {
				at = c.LastTransitionTime.Time.UTC()
			}
		}
		return core.Event{Type: core.EventWarning, Reason: ReasonEvicted, Count: 1, FirstTimestamp: at, LastTimestamp: at,
			Message: "The container group's pod was evicted by its node: " + p.Status.Message}, true
	}
	if !deletedOutOfBand(p) {
		return core.Event{}, false
	}
	at := p.DeletionTimestamp.Time.UTC()
	ev := core.Event{
		Type: core.EventWarning, Reason: ReasonPodDeleted, Count: 1, FirstTimestamp: at, LastTimestamp: at,
		Message: "The container group's pod was deleted outside kcid; its containers are stopped and not restarted. Delete the container group to release it.",
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.DisruptionTarget || c.Status != corev1.ConditionTrue {
			continue
		}
		if !c.LastTransitionTime.IsZero() {
			ev.FirstTimestamp = c.LastTransitionTime.Time.UTC()
		}
		cause := c.Reason
		if c.Message != "" {
			cause += ": " + c.Message
		}
		if c.Reason == "EvictionByEvictionAPI" {
			ev.Reason = ReasonEvicted
			ev.Message = "The container group's pod was evicted (" + cause + "); its containers are stopped and not restarted. Delete the container group to release it."
		} else {
			ev.Message = "The container group's pod was deleted outside kcid (" + cause + "); its containers are stopped and not restarted. Delete the container group to release it."
		}
	}
	return ev, true
}

// setFinalizer puts FinalizerGroup on the pod (on) or takes it off, under
// the pod's resourceVersion. A pod already being deleted gets none (the
// apiserver refuses new finalizers then); a pod that is gone needs none.
func (r *Runtime) setFinalizer(ctx context.Context, ns, name string, on bool) error {
	for attempt := 0; ; attempt++ {
		p, err := r.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return classify("get pod", err)
		}
		if hasFinalizer(p) == on || on && p.DeletionTimestamp != nil {
			return nil
		}
		fins := slices.DeleteFunc(slices.Clone(p.Finalizers), func(f string) bool { return f == FinalizerGroup })
		if on {
			fins = append(fins, FinalizerGroup)
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": p.ResourceVersion,
			"finalizers":      fins,
		}})
		if err != nil {
			return err
		}
		_, err = r.cs.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		switch {
		case apierrors.IsConflict(err) && attempt < 5:
			continue
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return classify(fmt.Sprintf("update the finalizers of pod %s/%s", ns, name), err)
		}
		return nil
	}
}

// resyncLoop runs resync every ResyncInterval until Close.
func (r *Runtime) resyncLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-r.stop; cancel() }()
	t := time.NewTicker(r.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.resync(ctx)
		}
	}
}

// resync puts the finalizer on every pod of this runtime's namespaces that
// lacks it (created by a kcid without finalizers) and is not being
// deleted; the pods' statuses need no resync, they are read from the
// informer cache at each Describe. It returns how many pods it fixed.
func (r *Runtime) resync(ctx context.Context) int {
	fixed := 0
	for _, o := range r.pods.GetIndexer().List() {
		p := o.(*corev1.Pod)
		if !r.ours(p.Namespace) || hasFinalizer(p) || p.DeletionTimestamp != nil {
			continue
		}
		if _, marked := p.Annotations[AnnotationDeletedAt]; marked {
			continue
		}
		err := r.callErr(ctx, func(ctx context.Context) error { return r.setFinalizer(ctx, p.Namespace, p.Name, true) })
		if err != nil {
			r.log.Warn("resync: cannot add kcid's finalizer to a pod; an out-of-band delete would lose its group", "namespace", p.Namespace, "pod", p.Name, "err", err)
			continue
		}
		r.log.Info("resync: added kcid's finalizer to a pod created without it", "namespace", p.Namespace, "pod", p.Name)
		fixed++
	}
	return fixed
}
