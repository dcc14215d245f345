package vkprovider

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/pkg/kci"
)

// harness is a provider over an in-process kcid (real HTTP, real API and
// service, a fake runtime) and a pod lister the test fills.
type harness struct {
	kcid     *kcidtest.Server
	client   *kci.Client
	pods     cache.Indexer
	recorder *record.FakeRecorder
	mapping  Mapping
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s := kcidtest.Start(t, kcidtest.Options{})
	c, err := kci.New(kci.Config{Endpoint: s.URL, Region: kcidtest.Region, AccessKeyID: kcidtest.AccessKeyID, SecretAccessKey: kcidtest.SecretAccessKey, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		kcid: s, client: c,
		pods:     cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		recorder: record.NewFakeRecorder(100),
		mapping:  Mapping{ClusterID: "c1", NodeName: "vk", SubnetID: kcidtest.SubnetID, SecurityGroupIDs: []string{kcidtest.SecurityGroupID}, DefaultCPU: 1, DefaultMemory: 1},
	}
}

// provider is a new provider on the same kcid and cluster: a restart.
func (h *harness) provider(t *testing.T) *Provider {
	t.Helper()
	p, err := New(Config{Client: h.client, Mapping: h.mapping, Pods: corev1listers.NewPodLister(h.pods), Sources: &fakeSources{}, Recorder: h.recorder, HostIP: "192.0.2.1",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) store(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if err := h.pods.Add(pod); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) count(t *testing.T) int {
	t.Helper()
	n, err := groupsOfCluster(context.Background(), h.client, "c1")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func groupsOfCluster(ctx context.Context, c *kci.Client, cluster string) (int, error) {
	out, err := c.DescribeContainerGroupCount(ctx, &kci.DescribeContainerGroupCountRequest{Label: kci.CountLabel{Key: LabelClusterID, Values: []string{cluster}}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, pc := range out.ClusterPodCounts {
		n += pc.Count
	}
	return n, nil
}

func TestProviderLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p := h.provider(t)
	pod := basePod()
	h.store(t, pod)

	if _, err := p.GetPod(ctx, "ns", "web-1"); !errdefs.IsNotFound(err) {
		t.Fatalf("GetPod before the create: %v, want NotFound", err)
	}
	if err := p.CreatePod(ctx, pod.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetPod(ctx, "ns", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != pod.UID || got.Status.Phase != corev1.PodRunning || !strings.HasPrefix(got.Status.PodIP, "10.0.1.") {
		t.Errorf("GetPod: uid %s phase %s ip %s", got.UID, got.Status.Phase, got.Status.PodIP)
	}
	// The group's events (Pulling, Pulled, Created, Started) became pod
	// events, once.
	events := drain(h.recorder)
	if !strings.Contains(strings.Join(events, "\n"), "Started") {
		t.Errorf("pod events %q lack the group's Started", events)
	}
	if _, err := p.GetPod(ctx, "ns", "web-1"); err != nil {
		t.Fatal(err)
	}
	if again := drain(h.recorder); len(again) != 0 {
		t.Errorf("events recorded twice: %q", again)
	}

	// A create sent again, by this provider or a restarted one, makes no
	// second group.
	if err := p.CreatePod(ctx, pod.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	p2 := h.provider(t)
	if err := p2.CreatePod(ctx, pod.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t); n != 1 {
		t.Fatalf("%d groups after repeated creates, want 1", n)
	}
	pods, err := p2.GetPods(ctx)
	if err != nil || len(pods) != 1 || pods[0].UID != pod.UID {
		t.Fatalf("restarted provider's GetPods: %v %v", pods, err)
	}

	// A later pod of the same name (a StatefulSet's replacement) replaces
	// the earlier pod's group.
	next := basePod()
	next.UID = "uid-2"
	if err := h.pods.Update(next); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.GetPod(ctx, "ns", "web-1"); !errdefs.IsNotFound(err) {
		t.Errorf("the new pod must not see the old pod's group: %v", err)
	}
	if err := p2.CreatePod(ctx, next.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	groups, err := p2.podGroups(ctx, "ns", "web-1")
	if err != nil || len(groups) != 1 || label(&groups[0], LabelPodUID) != "uid-2" {
		t.Fatalf("groups of web-1 after the replacement: %+v %v", groups, err)
	}

	// A new image cannot be applied: a Warning event, nothing else.
	drain(h.recorder)
	changed := next.DeepCopy()
	changed.Spec.Containers[0].Image = "busybox:1.37"
	if err := p2.UpdatePod(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if ev := drain(h.recorder); len(ev) != 1 || !strings.Contains(ev[0], "Warning "+ReasonImageChangeNotApplied) {
		t.Errorf("events of an image change: %q", ev)
	}
	got, err = p2.GetPod(ctx, "ns", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Containers[0].Image != "busybox:1.37" || got.Status.ContainerStatuses[0].Image != "busybox:1.36" {
		t.Errorf("after the update GetPod has spec image %s, status image %s; want the pod as given and the image that runs",
			got.Spec.Containers[0].Image, got.Status.ContainerStatuses[0].Image)
	}

	// Delete, twice.
	for range 2 {
		if err := p2.DeletePod(ctx, next.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.count(t); n != 0 {
		t.Fatalf("%d groups after the delete", n)
	}
}

func TestProviderRefusals(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p := h.provider(t)

	// A field KCI cannot honour: Failed with an event, no group.
	probed := basePod()
	probed.Name, probed.UID = "probed", "uid-p"
	probed.Spec.Containers[0].LivenessProbe = &corev1.Probe{}
	h.store(t, probed)
	if err := p.CreatePod(ctx, probed.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetPod(ctx, "ns", "probed")
	if err != nil || got.Status.Phase != corev1.PodFailed || got.Status.Reason != ReasonUnsupportedPodSpec {
		t.Fatalf("refused pod: %+v %v", got.Status, err)
	}
	if ev := drain(h.recorder); len(ev) != 1 || !strings.Contains(ev[0], "Warning UnsupportedPodSpec") || !strings.Contains(ev[0], "livenessProbe") {
		t.Errorf("events %q, want one Warning naming livenessProbe", ev)
	}

	// A request kcid refuses (an image reference it rejects): Failed with
	// kcid's code and message.
	bad := basePod()
	bad.Name, bad.UID = "bad", "uid-b"
	bad.Spec.Containers[0].Image = "busybox@sha256:123"
	h.store(t, bad)
	if err := p.CreatePod(ctx, bad.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got, err = p.GetPod(ctx, "ns", "bad")
	if err != nil || got.Status.Reason != ReasonKCIRefused || !strings.Contains(got.Status.Message, kci.CodeInvalidParameterValue) {
		t.Fatalf("kcid-refused pod: %+v %v", got.Status, err)
	}
	// A pod asking for a GPU on a node that offers GPUs (--gpus), to a
	// kcid that declares none: kcid's refusal, naming Gpu.
	h.mapping.GPUResource = "nvidia.com/gpu"
	gp := h.provider(t)
	gpu := basePod()
	gpu.Name, gpu.UID = "gpu", "uid-g"
	gpu.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	h.store(t, gpu)
	if err := gp.CreatePod(ctx, gpu.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got, err = gp.GetPod(ctx, "ns", "gpu")
	if err != nil || got.Status.Reason != ReasonKCIRefused || !strings.Contains(got.Status.Message, kci.CodeInvalidParameterValue) || !strings.Contains(got.Status.Message, "Gpu") {
		t.Fatalf("GPU pod on a kcid without GPUs: %+v %v", got.Status, err)
	}
	if n := h.count(t); n != 0 {
		t.Fatalf("%d groups made for refused pods", n)
	}
	if err := p.DeletePod(ctx, bad.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetPod(ctx, "ns", "bad"); !errdefs.IsNotFound(err) {
		t.Errorf("a deleted refused pod is still known: %v", err)
	}
}

func TestNodeReadiness(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	spec := NodeSpec(NodeConfig{Name: "vk", InternalIP: "192.0.2.1", Port: 10250, CPU: 8, MemoryGiB: 16, Pods: 20, Version: "v0"})
	var seen []*corev1.Node
	n := NewNode(h.client, "c1", &spec, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.notify = func(node *corev1.Node) { seen = append(seen, node) }
	n.Check(ctx)
	if !n.Ready() || len(seen) != 1 || seen[0].Status.Phase != corev1.NodeRunning {
		t.Fatalf("node with kcid up: ready=%v notified %d", n.Ready(), len(seen))
	}
	n.Check(ctx)
	if len(seen) != 1 {
		t.Errorf("an unchanged condition was notified again")
	}
	down, err := kci.New(kci.Config{Endpoint: "http://127.0.0.1:1", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	n.client = down
	n.Check(ctx)
	if n.Ready() || len(seen) != 2 {
		t.Fatalf("node with kcid down: ready=%v notified %d", n.Ready(), len(seen))
	}
	for _, c := range seen[1].Status.Conditions {
		if c.Type == corev1.NodeReady && (c.Reason != "KCIUnreachable" || !strings.Contains(c.Message, "127.0.0.1:1")) {
			t.Errorf("NotReady condition %+v", c)
		}
	}
	if got := spec.Status.Capacity.Cpu().String(); got != "8" {
		t.Errorf("capacity cpu %s", got)
	}
}

// TestNodeCapacity: the node offers the quota, and GPUs only when given.
func TestNodeCapacity(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    NodeConfig
		want corev1.ResourceList
	}{
		{"no GPUs", NodeConfig{CPU: 8, MemoryGiB: 16, Pods: 20, GPUResource: "nvidia.com/gpu"},
			corev1.ResourceList{"cpu": resource.MustParse("8"), "memory": resource.MustParse("16Gi"), "pods": resource.MustParse("20")}},
		{"2 GPUs", NodeConfig{CPU: 0.5, MemoryGiB: 1.5, Pods: 1, GPUs: 2, GPUResource: "nvidia.com/gpu"},
			corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("1536Mi"), "pods": resource.MustParse("1"), "nvidia.com/gpu": resource.MustParse("2")}},
	} {
		spec := NodeSpec(tc.c)
		for _, l := range []corev1.ResourceList{spec.Status.Capacity, spec.Status.Allocatable} {
			if len(l) != len(tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, l, tc.want)
			}
			for name, q := range tc.want {
				if got := l[name]; got.Cmp(q) != 0 {
					t.Errorf("%s: %s %s, want %s", tc.name, name, got.String(), q.String())
				}
			}
		}
	}
}

func TestCheckGPUResource(t *testing.T) {
	for name, ok := range map[string]bool{
		"nvidia.com/gpu": true, "amd.com/gpu": true, "example.com/a100-80g": true,
		"gpu": false, "kubernetes.io/gpu": false, "node.kubernetes.io/gpu": false, "nvidia.com/": false, "/gpu": false, "Nvidia.com/gpu": false,
	} {
		if err := CheckGPUResource(name); (err == nil) != ok {
			t.Errorf("CheckGPUResource(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func drain(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
