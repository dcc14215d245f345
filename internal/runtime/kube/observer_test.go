package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/clock"
)

func TestObservePodUpdate(t *testing.T) {
	created := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	pod := func(ns string, phase corev1.PodPhase, restarts ...int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{LabelGroupID: "g-1", LabelAccountID: "2000000001"}}}
		p.Status.Phase = phase
		for i, n := range restarts {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: string(rune('a' + i)), RestartCount: n})
		}
		return p
	}
	tests := []struct {
		name         string
		old, new     *corev1.Pod
		wantRestarts int
		wantRunning  []time.Duration
	}{
		{"first Running", pod("kci-1", corev1.PodPending, 0), pod("kci-1", corev1.PodRunning, 0), 0, []time.Duration{3 * time.Second}},
		{"still Running", pod("kci-1", corev1.PodRunning, 0), pod("kci-1", corev1.PodRunning, 0), 0, nil},
		{"two restarts at once, two containers", pod("kci-1", corev1.PodRunning, 1, 0), pod("kci-1", corev1.PodRunning, 2, 1), 2, nil},
		{"Running again after restarts is not a start", pod("kci-1", corev1.PodPending, 1), pod("kci-1", corev1.PodRunning, 1), 0, nil},
		{"another namespace", pod("other", corev1.PodPending, 0), pod("other", corev1.PodRunning, 1), 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{restarts: map[string]int{}}
			r := &Runtime{cfg: Config{Observer: rec, NamespacePrefix: "kci-", Clock: clock.NewFake(created.Add(3 * time.Second))}}
			r.observePodUpdate(tc.old, tc.new)
			if rec.restarts["2000000001"] != tc.wantRestarts || len(rec.running) != len(tc.wantRunning) ||
				(len(rec.running) > 0 && rec.running[0] != tc.wantRunning[0]) {
				t.Errorf("restarts %v, running %v; want %d, %v", rec.restarts, rec.running, tc.wantRestarts, tc.wantRunning)
			}
		})
	}
}
