package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// summaryMaxAge is how long one node's kubelet summary answers for all of
// that node's groups: the service samples every group in a round, and one
// request per node per round is enough (the kubelet refreshes its own
// figures every 10-15 s).
var summaryMaxAge = 5 * time.Second

// GroupStats reads a group's usage from the kubelet's summary API
// (/stats/summary) of the pod's node, through the apiserver's nodes/proxy:
// kcid needs get on nodes/proxy (docs/kubernetes.md). A pod not yet
// scheduled, or not yet in the kubelet's summary, is ErrNotFound. The
// summary has no packet counters and no page cache figure: those stay 0.
func (r *Runtime) GroupStats(ctx context.Context, groupID string) (core.GroupStats, error) {
	p := r.pod(groupID)
	if p == nil || p.Spec.NodeName == "" || p.UID == "" {
		return core.GroupStats{}, fmt.Errorf("group %s has no scheduled pod: %w", groupID, kcierr.ErrNotFound)
	}
	sum, err := r.summaries.get(ctx, r, p.Spec.NodeName)
	if err != nil {
		return core.GroupStats{}, err
	}
	for _, ps := range sum.Pods {
		if ps.PodRef.UID == string(p.UID) {
			return ps.groupStats(r.cfg.Clock.Now()), nil
		}
	}
	return core.GroupStats{}, fmt.Errorf("the kubelet of node %s has no stats of group %s yet: %w", p.Spec.NodeName, groupID, kcierr.ErrNotFound)
}

// nodeSummaries caches the last summary of each node.
type nodeSummaries struct {
	mu    sync.Mutex
	nodes map[string]cachedSummary // guarded by mu
}

type cachedSummary struct {
	at  time.Time // monotonic
	sum *kubeletSummary
}

func (c *nodeSummaries) get(ctx context.Context, r *Runtime, node string) (*kubeletSummary, error) {
	c.mu.Lock()
	if s, ok := c.nodes[node]; ok && time.Since(s.at) < summaryMaxAge {
		c.mu.Unlock()
		return s.sum, nil
	}
	c.mu.Unlock()
	raw, err := r.cs.CoreV1().RESTClient().Get().Resource("nodes").Name(node).
		SubResource("proxy").Suffix("stats", "summary").DoRaw(ctx)
	if err != nil {
		// The kubelet's refusals are plain text, which the error leaves out.
		return nil, fmt.Errorf("kubelet summary of node %s (kcid needs get on nodes/proxy): %w: %.300s", node, err, raw)
	}
	sum := &kubeletSummary{}
	if err := json.Unmarshal(raw, sum); err != nil {
		return nil, fmt.Errorf("kubelet summary of node %s: %w", node, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		c.nodes = map[string]cachedSummary{}
	}
	c.nodes[node] = cachedSummary{at: time.Now(), sum: sum}
	return sum, nil
}

// kubeletSummary is the part of the kubelet's stats/v1alpha1 Summary kcid
// reads (the kubelet's own types live in k8s.io/kubelet, not a dependency).
type kubeletSummary struct {
	Pods []podStats `json:"pods"`
}

type podStats struct {
	PodRef struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"podRef"`
	Containers []containerStats `json:"containers"`
	CPU        *cpuStats        `json:"cpu"`
	Memory     *memoryStats     `json:"memory"`
	Network    *networkStats    `json:"network"`
}

type containerStats struct {
	Name   string       `json:"name"`
	CPU    *cpuStats    `json:"cpu"`
	Memory *memoryStats `json:"memory"`
}

type cpuStats struct {
	Time                 metav1.Time `json:"time"`
	UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds"`
}

type memoryStats struct {
	UsageBytes      *uint64 `json:"usageBytes"`
	WorkingSetBytes *uint64 `json:"workingSetBytes"`
	RSSBytes        *uint64 `json:"rssBytes"`
}

type networkStats struct {
	Interfaces []interfaceStats `json:"interfaces"`
}

type interfaceStats struct {
	Name     string  `json:"name"`
	RxBytes  *uint64 `json:"rxBytes"`
	RxErrors *uint64 `json:"rxErrors"`
	TxBytes  *uint64 `json:"txBytes"`
	TxErrors *uint64 `json:"txErrors"`
}

func val(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func (c *cpuStats) nanos() uint64 {
	if c == nil {
		return 0
	}
	return val(c.UsageCoreNanoSeconds)
}

func (m *memoryStats) core() core.MemoryStats {
	if m == nil {
		return core.MemoryStats{}
	}
	return core.MemoryStats{Usage: val(m.UsageBytes), WorkingSet: val(m.WorkingSetBytes), RSS: val(m.RSSBytes)}
}

// groupStats converts a pod's summary; its time is the kubelet's reading
// of the pod's CPU (now if there is none), so a repeated reading is
// recognised as one.
func (ps *podStats) groupStats(now time.Time) core.GroupStats {
	st := core.GroupStats{Time: now, CPUNanos: ps.CPU.nanos(), Memory: ps.Memory.core()}
	if ps.CPU != nil && !ps.CPU.Time.IsZero() {
		st.Time = ps.CPU.Time.Time
	}
	for _, c := range ps.Containers {
		st.Containers = append(st.Containers, core.ContainerStats{Name: c.Name, CPUNanos: c.CPU.nanos(), Memory: c.Memory.core()})
	}
	if ps.Network != nil {
		for _, i := range ps.Network.Interfaces {
			st.Interfaces = append(st.Interfaces, core.InterfaceStats{Name: i.Name,
				RxBytes: val(i.RxBytes), RxErrors: val(i.RxErrors), TxBytes: val(i.TxBytes), TxErrors: val(i.TxErrors)})
		}
	}
	return st
}
