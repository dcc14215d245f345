package vkprovider

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/openkci/openkci/pkg/kci"
)

// TaintKey is the taint of the virtual node: only pods that tolerate it
// (virtual-kubelet's convention) are scheduled there.
const TaintKey = "virtual-kubelet.io/provider"

// NodeConfig describes the virtual node.
type NodeConfig struct {
	Name string
	// InternalIP is the address the API server reaches the node's
	// kubelet API at; Port its port.
	InternalIP string
	Port       int32
	// CPU (cores), MemoryGiB and Pods are the capacity: the account's
	// quota.
	CPU       float64
	MemoryGiB float64
	Pods      int64
	// GPUs of GPUResource the node offers (0: none); the scheduler
	// places a pod that asks for GPUs only on a node that offers them.
	GPUs        int64
	GPUResource corev1.ResourceName
	// Version is shown as the kubelet version.
	Version string
}

// CheckGPUResource refuses a name that is not a Kubernetes extended
// resource (domain/name outside kubernetes.io, such as nvidia.com/gpu),
// which only a device plugin or a node's capacity can offer.
func CheckGPUResource(name string) error {
	domain, _, ok := strings.Cut(name, "/")
	if errs := validation.IsQualifiedName(name); !ok || len(errs) > 0 || domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return fmt.Errorf("%q is not an extended resource name (domain/name outside kubernetes.io, e.g. nvidia.com/gpu)", name)
	}
	return nil
}

// NodeSpec is the node to register: labelled type=virtual-kubelet,
// tainted virtual-kubelet.io/provider=kci:NoSchedule, with the quota (and
// the GPUs, if any) as capacity; Ready stays Unknown until the first health check.
func NodeSpec(c NodeConfig) corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(c.CPU*1000), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(c.MemoryGiB*(1<<30)), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(c.Pods, resource.DecimalSI),
	}
	if c.GPUs > 0 {
		capacity[c.GPUResource] = *resource.NewQuantity(c.GPUs, resource.DecimalSI)
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: c.Name,
			Labels: map[string]string{
				"type":                             "virtual-kubelet",
				"kubernetes.io/role":               "agent",
				"kubernetes.io/hostname":           c.Name,
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"node.kubernetes.io/instance-type": "kci",
			},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: TaintKey, Value: "kci", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodePending,
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: c.InternalIP},
				{Type: corev1.NodeHostName, Address: c.Name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: c.Port}},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem: "linux", Architecture: "amd64",
				KubeletVersion: c.Version, ContainerRuntimeVersion: "kci://2020-07-02",
			},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "KCINotCheckedYet", Message: "KCI's health has not been checked yet"},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KCIHasNoPressure", Message: "KCI sizes each group"},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KCIHasNoPressure", Message: "KCI sizes each group"},
				{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KCIHasNoPressure", Message: "KCI sizes each group"},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "KCINetwork", Message: "groups get addresses of the configured subnet"},
			},
		},
	}
}

// Node reports the virtual node's readiness from KCI's health: every
// HealthInterval it asks KCI to count the cluster's groups
// (DescribeContainerGroupCount); an answer makes the node Ready, a
// failure NotReady with the error as the message. It implements
// virtual-kubelet's NodeProvider.
type Node struct {
	client   *kci.Client
	cluster  string
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	node   *corev1.Node
	notify func(*corev1.Node)
}

// NewNode returns the node provider of node (as NodeSpec made it).
func NewNode(client *kci.Client, clusterID string, node *corev1.Node, healthInterval time.Duration, log *slog.Logger) *Node {
	if healthInterval <= 0 {
		healthInterval = 5 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Node{client: client, cluster: clusterID, interval: healthInterval, log: log, node: node}
}

// Ping answers while the provider runs: KCI's health is the Ready
// condition, not the heartbeat (a missed heartbeat would leave the node
// Unknown instead of saying why).
func (n *Node) Ping(ctx context.Context) error { return ctx.Err() }

// NotifyNodeStatus starts the health checks; cb gets the node whenever
// its Ready condition changes.
func (n *Node) NotifyNodeStatus(ctx context.Context, cb func(*corev1.Node)) {
	n.mu.Lock()
	n.notify = cb
	n.mu.Unlock()
	go func() {
		t := time.NewTicker(n.interval)
		defer t.Stop()
		for {
			n.Check(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Check asks KCI once and updates the Ready condition.
func (n *Node) Check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, max(n.interval, 5*time.Second))
	defer cancel()
	_, err := n.client.DescribeContainerGroupCount(cctx, &kci.DescribeContainerGroupCountRequest{Label: kci.CountLabel{Key: LabelClusterID, Values: []string{n.cluster}}})
	if ctx.Err() != nil {
		return
	}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KCIReady",
		Message: fmt.Sprintf("KCI at %s answers", n.client.Endpoint())}
	if err != nil {
		ready.Status, ready.Reason = corev1.ConditionFalse, "KCIUnreachable"
		ready.Message = fmt.Sprintf("KCI at %s does not answer: %v", n.client.Endpoint(), err)
	}
	n.mu.Lock()
	changed := false
	now := metav1.Now()
	for i := range n.node.Status.Conditions {
		c := &n.node.Status.Conditions[i]
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status != ready.Status || c.Reason != ready.Reason {
			changed = true
			ready.LastTransitionTime = now
		} else {
			ready.LastTransitionTime = c.LastTransitionTime
		}
		ready.LastHeartbeatTime = now
		*c = ready
	}
	if ready.Status == corev1.ConditionTrue {
		n.node.Status.Phase = corev1.NodeRunning
	}
	node, cb := n.node.DeepCopy(), n.notify
	n.mu.Unlock()
	if changed {
		if err != nil {
			n.log.Warn("node NotReady: KCI does not answer", "err", err)
		} else {
			n.log.Info("node Ready: KCI answers", "endpoint", n.client.Endpoint())
		}
		if cb != nil {
			cb(node)
		}
	}
}

// Ready reports whether the last check found KCI answering.
func (n *Node) Ready() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// GetMetricsResource serves no metrics (an empty set).
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}
