package api

import (
	"slices"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/pkg/kci"
)

// metricPeriods are the Periods DescribeContainerGroupMetric accepts, in
// seconds (Alibaba ECI's).
var metricPeriods = []int{15, 30, 60, 600}

type describeContainerGroupMetricRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
	StartTime        string `query:"StartTime"`
	EndTime          string `query:"EndTime"`
	Period           *int   `query:"Period"`
}

// describeContainerGroupMetric answers an OpenKCI extension in the shape of
// Alibaba ECI's action of the same name: the group's usage samples kept in
// memory (docs/api.md).
func (h *Handler) describeContainerGroupMetric(c *call) (any, error) {
	var req describeContainerGroupMetricRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.ContainerGroupID == "" {
		return nil, missing("ContainerGroupId")
	}
	from, err := parseMetricTime("StartTime", req.StartTime)
	if err != nil {
		return nil, err
	}
	to, err := parseMetricTime("EndTime", req.EndTime)
	if err != nil {
		return nil, err
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return nil, invalid("StartTime", "must not be after EndTime")
	}
	period := time.Duration(0)
	if req.Period != nil {
		if !slices.Contains(metricPeriods, *req.Period) {
			return nil, invalid("Period", "must be one of 15, 30, 60 or 600 (seconds)")
		}
		period = time.Duration(*req.Period) * time.Second
	}
	g, samples, err := h.o.Service.GroupUsage(c.ctx, c.accountID, req.ContainerGroupID, from, to)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.DescribeContainerGroupMetricResponse{
		RequestID: c.requestID, ContainerGroupID: g.ID,
		Records: metricRecords(g, thin(samples, period)),
	}, nil
}

func parseMetricTime(param, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalid(param, "must be an RFC 3339 time such as 2026-12-01T07:00:00Z")
	}
	return t, nil
}

// thin keeps the last sample of each period (all of them for period 0).
func thin(samples []core.GroupStats, period time.Duration) []core.GroupStats {
	if period <= 0 {
		return samples
	}
	var out []core.GroupStats
	for i, s := range samples {
		if i+1 < len(samples) && samples[i+1].Time.Truncate(period).Equal(s.Time.Truncate(period)) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// metricRecords renders samples, with CPU rates between consecutive ones.
func metricRecords(g *core.Group, samples []core.GroupStats) []kci.MetricRecord {
	cpuLimit := int64(g.CPU * 1000)
	memLimit := uint64(g.Memory * (1 << 30))
	out := make([]kci.MetricRecord, 0, len(samples))
	for i, s := range samples {
		var prev *core.GroupStats
		if i > 0 {
			prev = &samples[i-1]
		}
		r := kci.MetricRecord{
			Timestamp:  s.Time.UTC().Format(time.RFC3339),
			CPU:        cpuMetric(cpuLimit, s.CPUNanos, prev, func(p *core.GroupStats) (uint64, bool) { return p.CPUNanos, true }, s.Time),
			Memory:     memoryMetric(memLimit, s.Memory),
			Network:    kci.NetworkMetric{Interfaces: []kci.InterfaceMetric{}},
			Containers: []kci.ContainerMetric{},
		}
		for _, n := range s.Interfaces {
			r.Network.Interfaces = append(r.Network.Interfaces, kci.InterfaceMetric{Name: n.Name,
				RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors, RxDrops: n.RxDrops,
				TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDrops: n.TxDrops})
		}
		for _, ct := range s.Containers {
			var ctrCPULimit int64
			var ctrMemLimit uint64
			for _, spec := range g.Containers {
				if spec.Name == ct.Name {
					ctrCPULimit, ctrMemLimit = int64(spec.CPU*1000), uint64(spec.Memory*(1<<30))
				}
			}
			earlier := func(p *core.GroupStats) (uint64, bool) {
				for _, pc := range p.Containers {
					if pc.Name == ct.Name {
						return pc.CPUNanos, true
					}
				}
				return 0, false
			}
			r.Containers = append(r.Containers, kci.ContainerMetric{Name: ct.Name,
				CPU:    cpuMetric(ctrCPULimit, ct.CPUNanos, prev, earlier, s.Time),
				Memory: memoryMetric(ctrMemLimit, ct.Memory)})
		}
		out = append(out, r)
	}
	return out
}

// cpuMetric gives the cumulative CPU time and the rate since prev (0 with
// no earlier reading, or after a counter reset: a restarted container).
func cpuMetric(limit int64, nanos uint64, prev *core.GroupStats, earlier func(*core.GroupStats) (uint64, bool), at time.Time) kci.CPUMetric {
	m := kci.CPUMetric{Limit: limit, UsageCoreNanoSeconds: nanos}
	if prev == nil {
		return m
	}
	before, ok := earlier(prev)
	if dt := at.Sub(prev.Time); ok && dt > 0 && nanos >= before {
		m.UsageNanoCores = uint64(float64(nanos-before) / dt.Seconds())
	}
	return m
}

func memoryMetric(limit uint64, s core.MemoryStats) kci.MemoryMetric {
	m := kci.MemoryMetric{UsageBytes: s.Usage, WorkingSet: s.WorkingSet, Rss: s.RSS, Cache: s.Cache}
	if limit > s.WorkingSet {
		m.AvailableBytes = limit - s.WorkingSet
	}
	return m
}
