package kube

import (
	"fmt"
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

func TestObserveEvent(t *testing.T) {
	ev := func(ns, reason, msg string, count int32) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns}, Reason: reason, Message: msg, Count: count}
	}
	const pulled = `Successfully pulled image "127.0.0.1:5055/busybox:1.35" in 285ms (1.2s including waiting). Image size: 2160406 bytes.`
	tests := []struct {
		name       string
		old, new   *corev1.Event
		wantPulled []int64
		wantTimes  []time.Duration
		wantFailed int
	}{
		{"a pull", nil, ev("kci-1", "Pulled", pulled, 1), []int64{2160406}, []time.Duration{285 * time.Millisecond}, 0},
		{"the same pull again", ev("kci-1", "Pulled", pulled, 1), ev("kci-1", "Pulled", pulled, 3), []int64{2160406, 2160406}, []time.Duration{285 * time.Millisecond, 285 * time.Millisecond}, 0},
		{"already present", nil, ev("kci-1", "Pulled", `Container image "busybox:1.35" already present on machine`, 1), nil, nil, 0},
		{"failed pull", nil, ev("kci-1", "Failed", `Failed to pull image "nope:1": not found`, 1), nil, nil, 1},
		{"another failure", nil, ev("kci-1", "Failed", `Error: ErrImagePull`, 1), nil, nil, 0},
		{"not ours", nil, ev("kube-system", "Pulled", pulled, 1), nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{restarts: map[string]int{}}
			r := &Runtime{cfg: Config{Observer: rec, NamespacePrefix: "kci-"}}
			r.observeEvent(tc.old, tc.new)
			if fmt.Sprint(rec.pulled) != fmt.Sprint(tc.wantPulled) || fmt.Sprint(rec.pullTimes) != fmt.Sprint(tc.wantTimes) || rec.failed != tc.wantFailed {
				t.Errorf("pulled %v in %v, failed %d; want %v in %v, %d", rec.pulled, rec.pullTimes, rec.failed, tc.wantPulled, tc.wantTimes, tc.wantFailed)
			}
		})
	}
}
