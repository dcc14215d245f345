package kube

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/openkci/openkci/internal/core"
)

// podTimeline is the group's first start as far as the pod tells it, in
// the API's whole seconds: Accepted (the group's creation), NetworkReady
// (the PodReadyToStartContainers condition: sandbox and CNI done),
// ContainerStarted per container whose first attempt still runs or ended
// (a restarted container's first start is not kept by the pod), and
// Running (the latest of those starts, once the group is Running).
// VolumesReady, ImageReady and ContainerCreated are not told by the pod.
func podTimeline(p *corev1.Pod, g *core.Group, phase core.Phase) core.StartTimeline {
	var tl core.StartTimeline
	if !g.CreatedAt.IsZero() {
		tl.Mark(core.StepAccepted, "", g.CreatedAt)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReadyToStartContainers && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			tl.Mark(core.StepNetworkReady, "", c.LastTransitionTime.Time)
		}
	}
	allStarted := len(p.Status.ContainerStatuses) > 0
	var last core.StartMark
	for _, cs := range p.Status.ContainerStatuses {
		var started corev1.ContainerState
		if cs.RestartCount == 0 {
			started = cs.State
		}
		var at core.StartMark
		switch {
		case started.Running != nil && !started.Running.StartedAt.IsZero():
			at = core.StartMark{Step: core.StepContainerStarted, Container: cs.Name, At: started.Running.StartedAt.Time}
		case started.Terminated != nil && !started.Terminated.StartedAt.IsZero():
			at = core.StartMark{Step: core.StepContainerStarted, Container: cs.Name, At: started.Terminated.StartedAt.Time}
		default:
			allStarted = false
			continue
		}
		tl.Mark(at.Step, at.Container, at.At)
		if at.At.After(last.At) {
			last = at
		}
	}
	if allStarted && phase == core.PhaseRunning {
		tl.Mark(core.StepRunning, "", last.At)
	}
	slices.SortStableFunc(tl, func(a, b core.StartMark) int { return a.At.Compare(b.At) })
	return tl
}
