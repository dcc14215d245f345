package kube

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
)

// Waiting reasons kubelet reports that lifecycle has no stage of its own for.
var (
	pullReasons   = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true, "InvalidImageName": true, "RegistryUnavailable": true, "SignatureValidationFailed": true}
	createReasons = map[string]bool{"CreateContainerError": true, "CreateContainerConfigError": true, "RunContainerError": true, "PreCreateHookError": true, "PreStartHookError": true, "PostStartHookError": true}
)

// pullingNow reports, per container name, whether the cluster's events say an
// image pull is in flight (a Pulling event newer than any Pulled or Failed).
type pullingNow func(container string) bool

// tracker turns a pod's status into lifecycle's model, so that Describe's
// phase, container states and restart counts follow exactly the rules the
// containerd runtime uses (lifecycle.Group.Phase, ContainerStatus).
func tracker(p *corev1.Pod, g *core.Group, pulling pullingNow, now time.Time) *lifecycle.Group {
	lg := lifecycle.New(g, lifecycle.Config{})
	lg.Stopping = p.DeletionTimestamp != nil
	anyStatus := observed(lg, lg.InitContainers, p.Status.InitContainerStatuses, pulling, now)
	if observed(lg, lg.Containers, p.Status.ContainerStatuses, pulling, now) {
		anyStatus = true
	}
	// The kubelet reports a failed init container terminated until it
	// starts it again (at once, or after its back-off), also under a policy
	// that retries it: unless the pod failed, that is a restart pending,
	// which lifecycle models as a crash back-off.
	if lg.RestartPolicy != core.RestartNever && p.Status.Phase != corev1.PodFailed && !lg.Stopping {
		for _, c := range lg.InitContainers {
			if c.Stage == lifecycle.StageTerminated && (c.Current.ExitCode != 0 || c.Current.Reason != lifecycle.ReasonCompleted) {
				term := c.Current
				c.Stage, c.Previous = lifecycle.StageCrashBackOff, &term
				c.Current = lifecycle.State{Kind: core.StateWaiting, Reason: lifecycle.ReasonCrashLoopBackOff}
			}
		}
	}
	// A pod the kubelet refused or evicted before any container ran (e.g.
	// OutOfcpu, node affinity, PodLevelResourcesNotSupported) never runs:
	// CreateError, as a group whose sandbox cannot be set up.
	if p.Status.Phase == corev1.PodFailed && !anyStatus {
		msg := p.Status.Reason
		if p.Status.Message != "" {
			if msg != "" {
				msg += ": "
			}
			msg += p.Status.Message
		}
		if msg == "" {
			msg = "pod failed"
		}
		lg.SetupError = msg
	}
	return lg
}

// observed sets the trackers ctrs from the pod's statuses css and
// reports whether the pod had a status of any of them.
func observed(lg *lifecycle.Group, ctrs []*lifecycle.Container, css []corev1.ContainerStatus, pulling pullingNow, now time.Time) bool {
	statuses := map[string]corev1.ContainerStatus{}
	for _, cs := range css {
		statuses[cs.Name] = cs
	}
	anyStatus := false
	for _, c := range ctrs {
		cs, ok := statuses[c.Name]
		if !ok {
			if pulling != nil && pulling(c.Name) {
				c.Stage = lifecycle.StagePulling
			}
			continue
		}
		anyStatus = true
		c.Attempts = int(cs.RestartCount)
		var prev *lifecycle.State
		if t := cs.LastTerminationState.Terminated; t != nil {
			s := terminatedState(t)
			prev = &s
		}
		switch st := cs.State; {
		case st.Running != nil:
			c.Stage = lifecycle.StageRunning
			c.Current = lifecycle.State{Kind: core.StateRunning, StartedAt: st.Running.StartedAt.Time.UTC()}
			c.Attempts++
			c.Previous = prev
		case st.Terminated != nil:
			c.Stage = lifecycle.StageTerminated
			c.Current = terminatedState(st.Terminated)
			c.Attempts++
			c.Previous = prev
		case st.Waiting != nil:
			reason := st.Waiting.Reason
			c.Current = lifecycle.State{Kind: core.StateWaiting, Reason: reason, Message: st.Waiting.Message}
			c.Previous = prev
			if prev != nil {
				// Waiting after an attempt: restarting (CrashLoopBackOff, or
				// creating the next attempt).
				c.Attempts++
			}
			switch {
			case reason == lifecycle.ReasonCrashLoopBackOff || prev != nil:
				c.Stage = lifecycle.StageCrashBackOff
			case pullReasons[reason]:
				c.Stage = lifecycle.StagePullBackOff
				c.FailedAt = now
			case createReasons[reason]:
				c.Stage = lifecycle.StageCreateBackOff
				c.FailedAt = now
			case pulling != nil && pulling(c.Name):
				c.Stage = lifecycle.StagePulling
			default:
				c.Stage = lifecycle.StageNew
				if reason == "" {
					c.Current.Reason = lifecycle.ReasonContainerCreating
				}
			}
		}
		if c.Attempts == 0 && c.Stage != lifecycle.StageTerminated && c.Stage != lifecycle.StageRunning {
			c.Previous = nil
		}
		c.Stopping = lg.Stopping
	}
	return anyStatus
}

func terminatedState(t *corev1.ContainerStateTerminated) lifecycle.State {
	s := lifecycle.State{
		Kind:       core.StateTerminated,
		Reason:     t.Reason,
		Message:    t.Message,
		ExitCode:   int(t.ExitCode),
		StartedAt:  t.StartedAt.Time.UTC(),
		FinishedAt: t.FinishedAt.Time.UTC(),
	}
	switch {
	case s.Reason == "OOMKilled":
	case s.Reason == "ContainerStatusUnknown":
	case s.ExitCode == 0:
		s.Reason = lifecycle.ReasonCompleted
	default:
		s.Reason = lifecycle.ReasonError
	}
	return s
}

// groupStatus is Describe's view of a pod at now.
func groupStatus(p *corev1.Pod, g *core.Group, evs []core.Event, now time.Time) core.GroupStatus {
	lg := tracker(p, g, pullingFromEvents(evs, g), now)
	st := core.GroupStatus{
		Phase:         lg.Phase(),
		SucceededTime: lg.SucceededTime(),
		Events:        evs,
	}
	ready := map[string]bool{}
	for _, cs := range p.Status.ContainerStatuses {
		ready[cs.Name] = cs.Ready
	}
	for _, c := range lg.Containers {
		cs := c.ContainerStatus(now, lifecycle.Config{})
		// The kubelet's readiness: running, started, readiness passing.
		cs.Ready = ready[c.Name] && cs.Current != nil && cs.Current.State == core.StateRunning
		st.Containers = append(st.Containers, cs)
	}
	for _, c := range lg.InitContainers {
		st.InitContainers = append(st.InitContainers, c.ContainerStatus(now, lifecycle.Config{}))
	}
	// A pod deleted or evicted behind kcid's back: the group failed,
	// unless it had already succeeded, and an event says why. (A pod the
	// kubelet evicted before any container ran is Failed too, not
	// CreateError: nothing was wrong with the group.)
	if deletedOutOfBand(p) || kubeletEvicted(p) {
		if st.Phase != core.PhaseSucceeded {
			st.Phase = core.PhaseFailed
		}
	}
	if ev, ok := goneEvent(p, evs); ok {
		st.Events = append(slices.Clone(evs), ev)
	}
	return st
}
