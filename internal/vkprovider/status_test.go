package vkprovider

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/openkci/openkci/pkg/kci"
)

func TestPodStatus(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	str := func(s string) *string { return &s }
	code := func(c int) *int { return &c }
	running := &kci.ContainerState{State: kci.StateRunning, StartTime: &t1}
	crashed := &kci.ContainerState{State: kci.StateTerminated, Reason: str("Error"), ExitCode: code(2), StartTime: &t0, FinishTime: &t1}
	backoff := &kci.ContainerState{State: kci.StateWaiting, Reason: str("CrashLoopBackOff")}
	done := &kci.ContainerState{State: kci.StateTerminated, Reason: str("Completed"), ExitCode: code(0)}
	group := func(status string, init []kci.ContainerDetail, cs ...kci.ContainerDetail) *kci.ContainerGroup {
		return &kci.ContainerGroup{
			ContainerGroupID: "kci-1", Status: status, CreateTime: kci.CloudTime{Time: t0},
			NetworkInterfaceAttributes: []kci.NetworkInterface{{NetworkInterfaceType: "primary", PrivateIPAddress: "10.0.0.7"}},
			InitContainers:             init, Containers: cs,
			Events: []kci.Event{{Type: "Warning", Message: "pull failed"}},
		}
	}
	cases := []struct {
		name                string
		g                   *kci.ContainerGroup
		phase               corev1.PodPhase
		reason              string
		ready, initialized  bool
		state               string // of the first container: waiting/running/terminated and its reason
		restarts            int32
		lastTerminationCode int32
	}{
		{"pending, nothing observed", group(kci.StatusPending, nil, kci.ContainerDetail{Name: "a"}), corev1.PodPending, "", false, true, "waiting ContainerCreating", 0, 0},
		{"image pulling is pending", group(kci.StatusImagePulling, nil, kci.ContainerDetail{Name: "a", CurrentState: &kci.ContainerState{State: kci.StateWaiting, Reason: str("ErrImagePull")}}), corev1.PodPending, "", false, true, "waiting ErrImagePull", 0, 0},
		{"running and ready", group(kci.StatusRunning, nil, kci.ContainerDetail{Name: "a", CurrentState: running}), corev1.PodRunning, "", true, true, "running", 0, 0},
		{"running, readiness probe not passing", group(kci.StatusRunning, nil, kci.ContainerDetail{Name: "a", CurrentState: running, ReadinessProbe: &kci.ProbeDetail{}}),
			corev1.PodRunning, "", false, true, "running", 0, 0},
		{"running, readiness probe passing", group(kci.StatusRunning, nil, kci.ContainerDetail{Name: "a", CurrentState: running, ReadinessProbe: &kci.ProbeDetail{}, Ready: true}),
			corev1.PodRunning, "", true, true, "running", 0, 0},
		{"crash loop: not ready, restarts, last termination", group(kci.StatusRunning, nil,
			kci.ContainerDetail{Name: "a", CurrentState: backoff, PreviousState: crashed, RestartCount: 3}, kci.ContainerDetail{Name: "b", CurrentState: running}),
			corev1.PodRunning, "", false, true, "waiting CrashLoopBackOff", 3, 2},
		{"init container still running", group(kci.StatusPending, []kci.ContainerDetail{{Name: "i", CurrentState: running}}, kci.ContainerDetail{Name: "a"}),
			corev1.PodPending, "", false, false, "waiting ContainerCreating", 0, 0},
		{"init done", group(kci.StatusRunning, []kci.ContainerDetail{{Name: "i", CurrentState: done}}, kci.ContainerDetail{Name: "a", CurrentState: running}),
			corev1.PodRunning, "", true, true, "running", 0, 0},
		{"succeeded", group(kci.StatusSucceeded, nil, kci.ContainerDetail{Name: "a", CurrentState: done}), corev1.PodSucceeded, "", false, true, "terminated Completed", 0, 0},
		{"failed", group(kci.StatusFailed, nil, kci.ContainerDetail{Name: "a", CurrentState: crashed}), corev1.PodFailed, "", false, true, "terminated Error", 0, 0},
		{"create error names the last warning", group(kci.StatusCreateError, nil, kci.ContainerDetail{Name: "a"}), corev1.PodFailed, ReasonCreateError, false, true, "waiting ContainerCreating", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := PodStatus(tc.g, "192.0.2.1")
			if st.Phase != tc.phase || st.Reason != tc.reason {
				t.Errorf("phase %s reason %q, want %s %q", st.Phase, st.Reason, tc.phase, tc.reason)
			}
			if st.PodIP != "10.0.0.7" || len(st.PodIPs) != 1 || st.HostIP != "192.0.2.1" || st.StartTime == nil || !st.StartTime.Time.Equal(t0) {
				t.Errorf("addresses/start: podIP %s %v hostIP %s start %v", st.PodIP, st.PodIPs, st.HostIP, st.StartTime)
			}
			cond := map[corev1.PodConditionType]bool{}
			for _, c := range st.Conditions {
				cond[c.Type] = c.Status == corev1.ConditionTrue
			}
			if cond[corev1.PodReady] != tc.ready || cond[corev1.ContainersReady] != tc.ready || cond[corev1.PodInitialized] != tc.initialized || !cond[corev1.PodScheduled] {
				t.Errorf("conditions %v, want ready=%v initialized=%v", cond, tc.ready, tc.initialized)
			}
			cs := st.ContainerStatuses[0]
			var state string
			switch s := cs.State; {
			case s.Waiting != nil:
				state = "waiting " + s.Waiting.Reason
			case s.Running != nil:
				state = "running"
			case s.Terminated != nil:
				state = "terminated " + s.Terminated.Reason
			}
			if state != tc.state || cs.RestartCount != tc.restarts || cs.ContainerID != "kci://kci-1/"+cs.Name {
				t.Errorf("container: %s restarts %d id %s, want %s %d", state, cs.RestartCount, cs.ContainerID, tc.state, tc.restarts)
			}
			if lt := cs.LastTerminationState.Terminated; tc.lastTerminationCode != 0 && (lt == nil || lt.ExitCode != tc.lastTerminationCode) {
				t.Errorf("last termination %+v, want exit %d", lt, tc.lastTerminationCode)
			}
			if len(st.InitContainerStatuses) != len(tc.g.InitContainers) {
				t.Errorf("%d init statuses for %d init containers", len(st.InitContainerStatuses), len(tc.g.InitContainers))
			}
		})
	}
}

func TestPodStats(t *testing.T) {
	g := &kci.ContainerGroup{ContainerGroupID: "kci-1", Labels: []kci.Label{{Key: LabelNamespace, Value: "ns"}, {Key: LabelPodName, Value: "p"}, {Key: LabelPodUID, Value: "u"}}}
	r := &kci.MetricRecord{
		Timestamp: "2026-12-01T09:00:15Z",
		CPU:       kci.CPUMetric{UsageNanoCores: 250_000_000, UsageCoreNanoSeconds: 9},
		Memory:    kci.MemoryMetric{WorkingSet: 48 << 20, UsageBytes: 50 << 20},
		Network:   kci.NetworkMetric{Interfaces: []kci.InterfaceMetric{{Name: "eth0", RxBytes: 10, TxBytes: 20}}},
		Containers: []kci.ContainerMetric{{Name: "main", CPU: kci.CPUMetric{UsageNanoCores: 200_000_000},
			Memory: kci.MemoryMetric{WorkingSet: 40 << 20}}},
	}
	ps := PodStats(g, r)
	if ps.PodRef.Name != "p" || ps.PodRef.Namespace != "ns" || ps.PodRef.UID != "u" {
		t.Errorf("pod ref %+v", ps.PodRef)
	}
	if *ps.CPU.UsageNanoCores != 250_000_000 || *ps.Memory.WorkingSetBytes != 48<<20 || !ps.CPU.Time.Time.Equal(time.Date(2026, 12, 1, 9, 0, 15, 0, time.UTC)) {
		t.Errorf("pod usage cpu %d mem %d at %v", *ps.CPU.UsageNanoCores, *ps.Memory.WorkingSetBytes, ps.CPU.Time)
	}
	if len(ps.Containers) != 1 || ps.Containers[0].Name != "main" || *ps.Containers[0].CPU.UsageNanoCores != 200_000_000 || *ps.Containers[0].Memory.WorkingSetBytes != 40<<20 {
		t.Errorf("containers %+v", ps.Containers)
	}
	if ps.Network == nil || ps.Network.Name != "eth0" || *ps.Network.RxBytes != 10 || *ps.Network.TxBytes != 20 {
		t.Errorf("network %+v", ps.Network)
	}
}
