package service

import (
	"runtime"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// BenchmarkUsageHistoryMemory reports the heap an hour of 15 s samples
// takes per group of two containers and one interface (docs/metrics.md,
// Cost), and the time to add one sample.
func BenchmarkUsageHistoryMemory(b *testing.B) {
	const groups = 1000
	size := int(UsageRetention / UsageResolution)
	sample := func(at time.Time) core.GroupStats {
		return core.GroupStats{Time: at, CPUNanos: 1, Memory: core.MemoryStats{Usage: 1},
			Interfaces: []core.InterfaceStats{{Name: "eth0", RxBytes: 1}},
			Containers: []core.ContainerStats{{Name: "app", CPUNanos: 1}, {Name: "sidecar", CPUNanos: 1}}}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rings := make([]*usageRing, groups)
	t0 := time.Unix(0, 0)
	for i := range rings {
		rings[i] = &usageRing{accountID: "2000000001"}
		for j := range size {
			rings[i].add(sample(t0.Add(time.Duration(j)*UsageResolution)), size)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perGroup := float64(after.HeapAlloc-before.HeapAlloc) / groups / 1024
	b.ResetTimer()
	for i := range b.N {
		rings[i%groups].add(sample(t0.Add(time.Duration(size+i)*UsageResolution)), size)
	}
	b.ReportMetric(perGroup, "KiB/group-hour")
	runtime.KeepAlive(rings)
}
