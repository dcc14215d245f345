package vkprovider

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/openkci/openkci/pkg/kci"
)

// GetStatsSummary is kubelet's /stats/summary from KCI's usage samples
// (DescribeContainerGroupMetric, kcid's extension): per pod and container
// the latest sample's CPU and memory, per pod its interfaces, and the
// node as their sum. A group without a sample yet (sampled every 15 s by
// default), or a KCI without the action, is left out.
func (p *Provider) GetStatsSummary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	groups, err := p.cfg.Client.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: p.filters("", "")})
	if err != nil {
		return nil, err
	}
	now := metav1.Now()
	var nodeCPU, nodeMem uint64
	sum := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: p.cfg.Mapping.NodeName, StartTime: metav1.NewTime(p.start)}}
	for i := range groups {
		g := &groups[i]
		if g.Status != kci.StatusRunning {
			continue
		}
		out, err := p.cfg.Client.DescribeContainerGroupMetric(ctx, &kci.DescribeContainerGroupMetricRequest{ContainerGroupID: g.ContainerGroupID})
		if err != nil || len(out.Records) == 0 {
			p.log.Debug("stats: no usage sample", "group", g.ContainerGroupID, "err", err)
			continue
		}
		sum.Pods = append(sum.Pods, PodStats(g, &out.Records[len(out.Records)-1]))
		last := out.Records[len(out.Records)-1]
		nodeCPU += last.CPU.UsageNanoCores
		nodeMem += last.Memory.WorkingSet
	}
	sum.Node.CPU = &statsv1alpha1.CPUStats{Time: now, UsageNanoCores: &nodeCPU}
	sum.Node.Memory = &statsv1alpha1.MemoryStats{Time: now, WorkingSetBytes: &nodeMem}
	return sum, nil
}

// PodStats maps a group's usage sample to kubelet's pod stats.
func PodStats(g *kci.ContainerGroup, r *kci.MetricRecord) statsv1alpha1.PodStats {
	at := metav1.Now()
	if t, err := time.Parse(time.RFC3339, r.Timestamp); err == nil {
		at = metav1.NewTime(t)
	}
	cpu := func(c kci.CPUMetric) *statsv1alpha1.CPUStats {
		return &statsv1alpha1.CPUStats{Time: at, UsageNanoCores: &c.UsageNanoCores, UsageCoreNanoSeconds: &c.UsageCoreNanoSeconds}
	}
	mem := func(m kci.MemoryMetric) *statsv1alpha1.MemoryStats {
		return &statsv1alpha1.MemoryStats{Time: at, UsageBytes: &m.UsageBytes, WorkingSetBytes: &m.WorkingSet, RSSBytes: &m.Rss, AvailableBytes: &m.AvailableBytes}
	}
	ps := statsv1alpha1.PodStats{
		PodRef:    statsv1alpha1.PodReference{Name: label(g, LabelPodName), Namespace: label(g, LabelNamespace), UID: label(g, LabelPodUID)},
		StartTime: metav1.NewTime(g.CreateTime.Time),
		CPU:       cpu(r.CPU),
		Memory:    mem(r.Memory),
	}
	for _, c := range r.Containers {
		ps.Containers = append(ps.Containers, statsv1alpha1.ContainerStats{Name: c.Name, StartTime: ps.StartTime, CPU: cpu(c.CPU), Memory: mem(c.Memory)})
	}
	if len(r.Network.Interfaces) > 0 {
		ps.Network = &statsv1alpha1.NetworkStats{Time: at}
		for _, in := range r.Network.Interfaces {
			ps.Network.Interfaces = append(ps.Network.Interfaces, statsv1alpha1.InterfaceStats{Name: in.Name,
				RxBytes: &in.RxBytes, RxErrors: &in.RxErrors, TxBytes: &in.TxBytes, TxErrors: &in.TxErrors})
		}
		ps.Network.InterfaceStats = ps.Network.Interfaces[0]
	}
	return ps
}
