package kube

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/core"
)

func TestPodTimeline(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	ready := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: at(2)}
	running := func(name string, s int, restarts int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(s)}}}
	}
	waiting := corev1.ContainerStatus{Name: "b", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	done := corev1.ContainerStatus{Name: "b", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: at(4), FinishedAt: at(5)}}}
	cases := []struct {
		name       string
		conditions []corev1.PodCondition
		statuses   []corev1.ContainerStatus
		phase      core.Phase
		want       string
	}{
		{"just accepted", nil, nil, core.PhasePending, "[Accepted@0]"},
		{"network ready, a container still waiting", []corev1.PodCondition{ready}, []corev1.ContainerStatus{running("a", 3, 0), waiting}, core.PhasePending,
			"[Accepted@0 NetworkReady@2 ContainerStarted/a@3]"},
		{"both started: Running at the later", []corev1.PodCondition{ready}, []corev1.ContainerStatus{running("a", 5, 0), running("b", 3, 0)}, core.PhaseRunning,
			"[Accepted@0 NetworkReady@2 ContainerStarted/b@3 ContainerStarted/a@5 Running@5]"},
		{"a finished container counts as started", []corev1.PodCondition{ready}, []corev1.ContainerStatus{running("a", 3, 0), done}, core.PhaseRunning,
			"[Accepted@0 NetworkReady@2 ContainerStarted/a@3 ContainerStarted/b@4 Running@4]"},
		{"a restarted container's first start is unknown", []corev1.PodCondition{ready}, []corev1.ContainerStatus{running("a", 30, 2)}, core.PhaseRunning,
			"[Accepted@0 NetworkReady@2]"},
		{"condition not true yet", []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse, LastTransitionTime: at(1)}}, nil, core.PhasePending,
			"[Accepted@0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{Conditions: tc.conditions, ContainerStatuses: tc.statuses}}
			tl := podTimeline(p, &core.Group{CreatedAt: t0}, tc.phase)
			var got []string
			for _, m := range tl {
				s := string(m.Step)
				if m.Container != "" {
					s += "/" + m.Container
				}
				got = append(got, fmt.Sprintf("%s@%d", s, int(m.At.Sub(t0).Seconds())))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("timeline %v, want %s", got, tc.want)
			}
		})
	}
}
