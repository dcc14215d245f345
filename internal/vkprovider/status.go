package vkprovider

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/pkg/kci"
)

// Pod reasons of the provider.
const (
	// ReasonUnsupportedPodSpec fails a pod with a field KCI cannot honour.
	ReasonUnsupportedPodSpec = "UnsupportedPodSpec"
	// ReasonKCIRefused fails a pod whose group KCI refused to create.
	ReasonKCIRefused = "KCIRefused"
	// ReasonCreateError is a group in status CreateError.
	ReasonCreateError = "KCICreateError"
)

// PodStatus is the status of a pod whose group is g; hostIP is the
// virtual node's address.
func PodStatus(g *kci.ContainerGroup, hostIP string) corev1.PodStatus {
	st := corev1.PodStatus{HostIP: hostIP}
	if hostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	}
	if ip := g.PrivateIP(); ip != "" {
		st.PodIP = ip
		st.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if !g.CreateTime.IsZero() {
		t := metav1.NewTime(g.CreateTime.Time)
		st.StartTime = &t
	}
	switch g.Status {
	case kci.StatusRunning:
		st.Phase = corev1.PodRunning
	case kci.StatusSucceeded:
		st.Phase = corev1.PodSucceeded
	case kci.StatusFailed:
		st.Phase = corev1.PodFailed
	case kci.StatusCreateError:
		st.Phase = corev1.PodFailed
		st.Reason = ReasonCreateError
		st.Message = "KCI could not create the group " + g.ContainerGroupID + lastWarning(g)
	default: // Pending, ImagePulling
		st.Phase = corev1.PodPending
	}
	allReady, initDone := true, true
	for _, c := range g.InitContainers {
		cs := containerStatus(g.ContainerGroupID, &c)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initDone = false
		}
	}
	for _, c := range g.Containers {
		cs := containerStatus(g.ContainerGroupID, &c)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
	}
	allReady = allReady && len(g.Containers) > 0 && st.Phase == corev1.PodRunning
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse}
		if ok {
			c.Status = corev1.ConditionTrue
		}
		if st.StartTime != nil {
			c.LastTransitionTime = *st.StartTime
		}
		return c
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodInitialized, initDone),
		cond(corev1.ContainersReady, allReady),
		cond(corev1.PodReady, allReady),
	}
	return st
}

// lastWarning is ": " and the message of the group's last Warning event.
func lastWarning(g *kci.ContainerGroup) string {
	for i := len(g.Events) - 1; i >= 0; i-- {
		if g.Events[i].Type == corev1.EventTypeWarning {
			return ": " + g.Events[i].Message
		}
	}
	return ""
}

// containerStatus maps a container's states. Ready is KCI's readiness
// (kcid's Ready: running, startup probe passed, readiness probe passing);
// a container without probes is ready while it runs, also on a KCI that
// does not report Ready.
func containerStatus(groupID string, c *kci.ContainerDetail) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name:         c.Name,
		Image:        c.Image,
		ContainerID:  "kci://" + groupID + "/" + c.Name,
		RestartCount: int32(c.RestartCount),
	}
	cs.State = containerState(c.CurrentState)
	if c.PreviousState != nil {
		cs.LastTerminationState = containerState(c.PreviousState)
	}
	running := cs.State.Running != nil
	cs.Ready = running && (c.Ready || c.ReadinessProbe == nil && c.StartupProbe == nil)
	// Started: running, and past its startup probe (which Ready implies).
	started := running && (c.StartupProbe == nil || c.Ready)
	cs.Started = &started
	return cs
}

func containerState(s *kci.ContainerState) corev1.ContainerState {
	if s == nil {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	at := func(t *time.Time) metav1.Time {
		if t == nil {
			return metav1.Time{}
		}
		return metav1.NewTime(*t)
	}
	switch s.State {
	case kci.StateRunning:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(s.StartTime)}}
	case kci.StateTerminated:
		t := &corev1.ContainerStateTerminated{Reason: s.ReasonString(), StartedAt: at(s.StartTime), FinishedAt: at(s.FinishTime)}
		if s.ExitCode != nil {
			t.ExitCode = int32(*s.ExitCode)
		}
		return corev1.ContainerState{Terminated: t}
	default:
		reason := s.ReasonString()
		if reason == "" {
			reason = "ContainerCreating"
		}
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
}

// failedStatus is the status of a pod the provider refused.
func failedStatus(reason, message string) corev1.PodStatus {
	return corev1.PodStatus{
		Phase: corev1.PodFailed, Reason: reason, Message: message,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: reason},
		},
	}
}
