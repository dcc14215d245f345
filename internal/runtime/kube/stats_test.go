package kube

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// A kubelet summary as v1.34's /stats/summary writes it (trimmed): the pod's
// stats become the group's, its containers' the containers'.
func TestPodStatsFromSummary(t *testing.T) {
	const raw = `{"node":{"nodeName":"n1"},"pods":[
	 {"podRef":{"name":"other","namespace":"x","uid":"u-0"},"containers":[]},
	 {"podRef":{"name":"kci-g","namespace":"kci-1","uid":"u-1"},"startTime":"2026-12-01T07:00:00Z",
	  "containers":[
	   {"name":"main","cpu":{"time":"2026-12-01T07:01:00Z","usageNanoCores":500000000,"usageCoreNanoSeconds":30000000000},
	    "memory":{"time":"2026-12-01T07:01:00Z","usageBytes":2097152,"workingSetBytes":1048576,"rssBytes":524288,"pageFaults":1}},
	   {"name":"side"}],
	  "cpu":{"time":"2026-12-01T07:01:02Z","usageNanoCores":500000000,"usageCoreNanoSeconds":31000000000},
	  "memory":{"time":"2026-12-01T07:01:02Z","availableBytes":1,"usageBytes":4194304,"workingSetBytes":3145728,"rssBytes":1048576},
	  "network":{"time":"2026-12-01T07:01:02Z","name":"eth0","rxBytes":100,"rxErrors":0,"txBytes":200,"txErrors":1,
	   "interfaces":[{"name":"eth0","rxBytes":100,"rxErrors":0,"txBytes":200,"txErrors":1}]}}]}`
	var sum kubeletSummary
	if err := json.Unmarshal([]byte(raw), &sum); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		pod  int
		want core.GroupStats
	}{
		{"a pod with no figures yet", 0, core.GroupStats{Time: now}},
		{"a running pod", 1, core.GroupStats{
			Time:     time.Date(2026, 12, 1, 7, 1, 2, 0, time.UTC),
			CPUNanos: 31e9,
			Memory:   core.MemoryStats{Usage: 4 << 20, WorkingSet: 3 << 20, RSS: 1 << 20},
			Interfaces: []core.InterfaceStats{
				{Name: "eth0", RxBytes: 100, TxBytes: 200, TxErrors: 1},
			},
			Containers: []core.ContainerStats{
				{Name: "main", CPUNanos: 30e9, Memory: core.MemoryStats{Usage: 2 << 20, WorkingSet: 1 << 20, RSS: 512 << 10}},
				{Name: "side"},
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sum.Pods[tc.pod].groupStats(now)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) || !got.Time.Equal(tc.want.Time) {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}
