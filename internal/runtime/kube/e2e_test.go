package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/internal/testutil"
)

// Real-cluster tests. hack/k8s-e2e/test.sh starts the test cluster and sets
//
//	KCI_K8S_KUBECONFIG   the cluster's admin kubeconfig
//	KCI_K8S_TEST_IMAGE   a busybox image the cluster can pull (optional)
//
// Without KCI_K8S_KUBECONFIG these tests skip, unless KCI_K8S_E2E=1 (set by
// CI once the cluster is part of .ci/run): then they fail. A dedicated
// variable rather than KUBECONFIG, so a developer's KUBECONFIG never points
// these tests at a real cluster by accident.
func e2eCluster(t *testing.T) string {
	t.Helper()
	kc := os.Getenv("KCI_K8S_KUBECONFIG")
	if kc != "" {
		return kc
	}
	if os.Getenv("KCI_K8S_E2E") == "1" {
		t.Fatal("KCI_K8S_E2E=1 but KCI_K8S_KUBECONFIG is unset: start the test cluster with hack/k8s-e2e/test.sh")
	}
	t.Skip("no test cluster: KCI_K8S_KUBECONFIG unset (hack/k8s-e2e/test.sh starts one and sets it; KCI_K8S_E2E=1 makes this a failure)")
	return ""
}

// e2eRun is a test process's share of the cluster: its own account (so its
// own namespace), removed at the end.
var e2eRun = "e2e-" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")

type e2eEnv struct {
	rt    *Runtime
	cs    kubernetes.Interface
	image string
	creds []core.RegistryCredential
}

var (
	e2eOnce sync.Once
	e2eVal  *e2eEnv
	e2eErr  error
)

// start starts g on the cluster and removes it when the test ends.
func (e *e2eEnv) start(ctx context.Context, t *testing.T, g *core.Group) {
	t.Helper()
	if err := e.rt.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
}

// namespace makes the namespace ns of account acct, deleted (at once,
// with what is in it) when the test ends.
func (e *e2eEnv) namespace(ctx context.Context, t *testing.T, ns, acct string) {
	t.Helper()
	if err := e.rt.ensureNamespace(ctx, ns, acct); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = e.cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
}

func newE2E(t *testing.T) *e2eEnv {
	kc := e2eCluster(t)
	e2eOnce.Do(func() {
		rc, err := RESTConfig(kc)
		if err != nil {
			e2eErr = err
			return
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			e2eErr = err
			return
		}
		rt, err := New(Config{Client: cs, REST: rc, StopGrace: 3 * time.Second, ResyncInterval: 2 * time.Second,
			DiskStorageClasses: map[string]string{"*": e2eDiskClass},
			Logger:             slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			e2eErr = err
			return
		}
		e2eVal = &e2eEnv{rt: rt, cs: cs}
	})
	if e2eErr != nil {
		t.Fatalf("test cluster: %v", e2eErr)
	}
	e := *e2eVal
	if img := os.Getenv("KCI_K8S_TEST_IMAGE"); img != "" {
		e.image = img
	} else {
		// The testenv registry requires credentials: the groups carry them,
		// which exercises the pull secret.
		reg := testenv.Registry(t)
		e.image = testenv.BusyboxImage(t)
		e.creds = []core.RegistryCredential{{Server: reg.Host, Username: reg.Username, Password: reg.Password}}
	}
	return &e
}

func (e *e2eEnv) group(t *testing.T, name string) *core.Group {
	return &core.Group{
		ID: uuid.NewString(), Name: name, AccountID: e2eRun,
		Region: "cn-beijing-6", Zone: "cn-beijing-6a", ChargeType: "HourlyInstantSettlement",
		CPU: 0.5, Memory: 0.25, RestartPolicy: core.RestartAlways,
		Network:     core.Network{VpcID: "vpc-e2e", SubnetID: "subnet-e2e", SecurityGroupIDs: []string{"sg-e2e"}},
		Credentials: e.creds,
		CreatedAt:   time.Now().UTC(),
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eVal != nil {
		// Remove this run's namespace (the runtime never deletes namespaces).
		ns := namespaceName(e2eVal.rt.cfg.NamespacePrefix, e2eRun)
		zero := int64(0)
		_ = e2eVal.cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		_ = e2eVal.cs.CoreV1().Namespaces().Delete(context.Background(), "kci-bench-"+e2eRun, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		e2eVal.rt.Close()
	}
	os.RemoveAll(filepath.Join(os.TempDir(), "kci-kubectl-"+e2eRun))
	testenv.Cleanup()
	os.Exit(code)
}

// TestScenarios runs the runtime suite shared with the containerd runtime
// against the real cluster.
func TestScenarios(t *testing.T) {
	e := newE2E(t)
	env := runtimetest.Env{
		Runtime:  e.rt,
		Image:    e.image,
		NewGroup: e.group,
		Timeout:  90 * time.Second,
		// Measured on the test cluster (1.34): the kubelet kills and
		// starts the container in one sync, which its back-off does not
		// see (docs/api.md, Probes).
		LivenessKillNoBackOff: "the kubelet restarts a container it killed for its liveness probe at once",
		// The node is this machine.
		NodeDir: func(t *testing.T) string { return t.TempDir() },
		// The test cluster has no provisioner: each disk gets a volume
		// of its class, as a provisioner would make it.
		NewDiskStorage: e.diskVolume,
	}
	runtimetest.Run(t, env)
	runtimetest.RunDisks(t, env)
}

// e2eDiskClass is the StorageClass of this run's disks made on demand; no
// StorageClass object exists, so claims bind only to the volumes that
// diskVolume makes (static binding by class name).
var e2eDiskClass = "kci-" + e2eRun + "-disks"

// diskVolume stands in for a provisioner: a file system of exactly
// sizeGB GiB (a sparse file, ext4, loop-mounted on the node, which is
// this machine) offered as a hostPath PersistentVolume of e2eDiskClass,
// so that writing past the size fails as on a real disk. Removed when
// the test ends.
func (e *e2eEnv) diskVolume(t *testing.T, sizeGB int) {
	t.Helper()
	dir := t.TempDir()
	file, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	for _, c := range [][]string{
		{"truncate", "-s", strconv.Itoa(sizeGB) + "G", file},
		{"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", file},
		{"mkdir", mnt},
		{"mount", "-o", "loop", file, mnt},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	ctx := context.Background()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "kci-" + e2eRun + "-" + strings.ToLower(uuid.NewString()[:8])},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:              e2eDiskClass,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resourceMust(strconv.Itoa(sizeGB) + "Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: mnt}},
		},
	}
	if _, err := e.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cs.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
}

// TestClusterErrors: a quota refusal is an API error at once, never a hung
// request; an unschedulable group stays Pending with the scheduler's
// Warning event.
func TestClusterErrors(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	// A namespace of its own, with a quota of 1 CPU.
	acct := e2eRun + "-quota"
	ns := namespaceName(e.rt.cfg.NamespacePrefix, acct)
	e.namespace(ctx, t, ns, acct)
	if _, err := e.cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "cpu"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsCPU: resourceMust("1")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	g := e.group(t, "too-big")
	g.AccountID = acct
	g.CPU = 2
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "60"}}}
	// The quota admission needs its cache; retry briefly while it is new.
	var err error
	for i := 0; i < 50; i++ {
		start := time.Now()
		err = e.rt.Start(ctx, g)
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("Start took %s", d)
		}
		if err != nil {
			break
		}
		_ = e.rt.Remove(ctx, g)
		time.Sleep(200 * time.Millisecond)
	}
	if kcierr.Class(err) != kcierr.ErrInsufficientCapacity || !strings.Contains(kcierr.PublicMessage(err), "exceeded quota") {
		t.Fatalf("Start over quota: %v (class %v, public %q)", err, kcierr.Class(err), kcierr.PublicMessage(err))
	}
	t.Logf("quota error: %v", err)
	_ = e.rt.Remove(ctx, g)

	// An admission refusal (PodSecurity "restricted" enforced on the
	// account's namespace) is an invalid argument quoting the cluster.
	strict := e2eRun + "-strict"
	sns := namespaceName(e.rt.cfg.NamespacePrefix, strict)
	e.namespace(ctx, t, sns, strict)
	if _, err := e.cs.CoreV1().Namespaces().Patch(ctx, sns, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	refused := e.group(t, "refused")
	refused.AccountID = strict
	refused.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "60"}}}
	err = e.rt.Start(ctx, refused)
	if kcierr.Class(err) != kcierr.ErrInvalidArgument || !strings.Contains(kcierr.PublicMessage(err), "PodSecurity") {
		t.Fatalf("Start against PodSecurity restricted: %v (class %v, public %q)", err, kcierr.Class(err), kcierr.PublicMessage(err))
	}
	t.Logf("admission error: %v", err)
	_ = e.rt.Remove(ctx, refused)

	// More CPU than the node has: Pending, FailedScheduling event.
	big := e.group(t, "unschedulable")
	big.CPU = 512
	big.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "60"}}}
	e.start(ctx, t, big)
	env := runtimetest.Env{Runtime: e.rt, Timeout: 60 * time.Second}
	st := env.WaitStatus(t, big.ID, func(s core.GroupStatus) bool {
		return runtimetest.HasEvent(s, "FailedScheduling", "Insufficient cpu")
	})
	if st.Phase != core.PhasePending {
		t.Errorf("unschedulable: phase %s", st.Phase)
	}
}

// TestGroupResourcesReachTheNode: the pod-level (or spread) limits are what
// the kubelet gave the pod.
func TestGroupResourcesReachTheNode(t *testing.T) {
	e := newE2E(t)
	g := e.group(t, "sized")
	g.CPU, g.Memory = 1, 0.5
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", "echo ok; exec sleep 3600"}, Memory: 0.25}}
	g.IngressBandwidth, g.EgressBandwidth = 10, 20
	ctx := context.Background()
	e.start(ctx, t, g)
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseRunning })
	p, err := e.cs.CoreV1().Pods(namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)).Get(ctx, podName(g.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.PodIP == "" || e.rt.PodIP(g.ID) != p.Status.PodIP {
		t.Errorf("pod IP %q, runtime says %q", p.Status.PodIP, e.rt.PodIP(g.ID))
	}
	if p.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("QoS %s, want Guaranteed", p.Status.QOSClass)
	}
	t.Logf("mode %s, pod resources %v, container %v, QoS %s", e.rt.m.resources, p.Spec.Resources, p.Spec.Containers[0].Resources.Limits, p.Status.QOSClass)
}

// TestBenchCreateToRunning measures create→Running through the runtime
// against kubectl apply and a raw client-go create of the same pod, each
// observed by polling every 20 ms. KCI_K8S_BENCH=N runs N rounds (skipped
// when unset); KCI_K8S_KUBECTL names kubectl (the test cluster's build).
func TestBenchCreateToRunning(t *testing.T) {
	e := newE2E(t)
	rounds := 0
	fmt.Sscan(os.Getenv("KCI_K8S_BENCH"), &rounds)
	if rounds <= 0 {
		t.Skip("KCI_K8S_BENCH=N runs the benchmark")
	}
	kubectl := os.Getenv("KCI_K8S_KUBECTL")
	ctx := context.Background()
	benchAcct := "bench-" + e2eRun
	bns := namespaceName("kci-", benchAcct)
	e.namespace(ctx, t, bns, benchAcct)
	spec := func(name string) *core.Group {
		g := e.group(t, name)
		g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "3600"}}}
		return g
	}
	podRunning := func(ns, name string) bool {
		p, err := e.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	}
	wait := func(what string, cond func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not Running within 60s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var kci, raw, apply []time.Duration
	for i := 0; i < rounds; i++ {
		// kcid's runtime.
		// kubelet notices started containers at its PLEG relist (every 1 s):
		// a random pause before each create samples that phase uniformly
		// for every contender instead of aligning it with the previous one.
		jitter := func() { time.Sleep(time.Duration(rand.Int64N(int64(time.Second)))) }
		g := spec(fmt.Sprintf("bench-%d", i))
		jitter()
		start := time.Now()
		if err := e.rt.Start(ctx, g); err != nil {
			t.Fatal(err)
		}
		wait("kcid "+g.ID, func() bool { st, err := e.rt.Status(ctx, g.ID); return err == nil && st.Phase == core.PhaseRunning })
		kci = append(kci, time.Since(start))
		// The equivalent pod (what the mapping makes), created raw.
		o, err := e.rt.m.build(spec(fmt.Sprintf("raw-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		pod := o.Pod.DeepCopy()
		pod.Namespace = bns
		pod.Labels = nil // not ours: the runtime's caches ignore it
		jitter()
		start = time.Now()
		for _, s := range o.Secrets {
			if _, err := e.cs.CoreV1().Secrets(bns).Create(ctx, withNS(s, bns), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		if _, err := e.cs.CoreV1().Pods(bns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		wait("client-go "+pod.Name, func() bool { return podRunning(bns, pod.Name) })
		raw = append(raw, time.Since(start))
		// kubectl apply of the same manifest.
		if kubectl != "" {
			o, _ := e.rt.m.build(spec(fmt.Sprintf("apply-%d", i)))
			pod := o.Pod.DeepCopy()
			pod.Namespace, pod.Labels = bns, nil
			objs := []any{}
			for _, s := range o.Secrets {
				objs = append(objs, withNS(s, bns))
			}
			f := writeManifest(t, append(objs, pod)...)
			jitter()
			start = time.Now()
			out, err := runKubectl(ctx, kubectl, "apply", "-f", f)
			if err != nil {
				t.Fatalf("kubectl apply: %v\n%s", err, out)
			}
			wait("kubectl apply "+pod.Name, func() bool { return podRunning(bns, pod.Name) })
			apply = append(apply, time.Since(start))
		}
		// Free the node for the next round (each pod holds 0.5 CPU).
		_ = e.rt.Remove(ctx, g)
		zero := int64(0)
		l, _ := e.cs.CoreV1().Pods(bns).List(ctx, metav1.ListOptions{})
		for _, p := range l.Items {
			_ = e.cs.CoreV1().Pods(bns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		wait("cleanup", func() bool {
			l, err := e.cs.CoreV1().Pods(bns).List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0
		})
	}
	mk, mr := median(kci), median(raw)
	t.Logf("create→Running over %d rounds: kcid runtime median %s mean %s; client-go create median %s mean %s (ratio of means %.2f)",
		rounds, mk, mean(kci), mr, mean(raw), float64(mean(kci))/float64(mean(raw)))
	if len(apply) > 0 {
		t.Logf("kubectl apply median %s mean %s: ratio kcid/kubectl of means %.2f, of medians %.2f",
			median(apply), mean(apply), float64(mean(kci))/float64(mean(apply)), float64(mk)/float64(median(apply)))
	}
	t.Logf("kcid %v\nraw %v\napply %v", kci, raw, apply)
}

// TestDiskPersistsAcrossGroups: an EBSVolume is a claim bound to the disk's
// pre-created PV; what one group writes the next group on that disk reads
// (the PV is released for it when the first group is removed).
func TestDiskPersistsAcrossGroups(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	diskID := "d-" + e2eRun
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: e.rt.cfg.DiskPVPrefix + diskID},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resourceMust("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: t.TempDir(),
			}},
		},
	}
	if _, err := e.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cs.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
	})
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	withDisk := func(name, cmd string) *core.Group {
		g := e.group(t, name)
		g.Volumes = []core.Volume{{Name: "data", Type: core.VolumeEBS, EBS: &core.EBSVolume{VolumeID: diskID, FsType: "ext4"}}}
		g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", cmd},
			VolumeMounts: []core.VolumeMount{{Name: "data", MountPath: "/data"}}}}
		g.RestartPolicy = core.RestartNever
		return g
	}
	w := withDisk("writer", "echo persisted-"+e2eRun+" > /data/f; echo wrote")
	if err := e.rt.Start(ctx, w); err != nil {
		t.Fatal(err)
	}
	env.WaitStatus(t, w.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseSucceeded })
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := e.rt.Remove(rctx, w); err != nil {
		t.Fatal(err)
	}
	r := withDisk("reader", "cat /data/f")
	e.start(ctx, t, r)
	st := env.WaitStatus(t, r.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseSucceeded || s.Phase == core.PhaseFailed })
	if st.Phase != core.PhaseSucceeded {
		t.Fatalf("reader:\n%s", runtimetest.Dump(st))
	}
	env.WaitLogs(t, r.ID, "main", "persisted-"+e2eRun, 10)
}

// TestImagePullFailure: a missing image is ImagePulling with ErrImagePull /
// ImagePullBackOff and the spec-shaped Failed event; a crash-looping
// container's log holds its attempts.
func TestImagePullFailureAndCrashLogs(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	missing := e.image[:strings.LastIndex(e.image, "/")] + "/does-not-exist:v1"
	g := e.group(t, "pullfail")
	g.Containers = []core.Container{{Name: "main", Image: missing, Command: []string{"true"}}}
	crash := e.group(t, "crashlogs")
	crash.Containers = []core.Container{{Name: "c", Image: e.image, Command: []string{"sh", "-c", "echo attempt-$(date +%s%N); sleep 2; exit 1"}}}
	for _, x := range []*core.Group{g, crash} {
		e.start(ctx, t, x)
	}
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	t0pull := time.Now()
	st := env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		c := runtimetest.Container(s, "main")
		return c.Current != nil && (c.Current.Reason == "ErrImagePull" || c.Current.Reason == "ImagePullBackOff") &&
			runtimetest.HasEvent(s, "Failed", "Failed to pull image `"+missing+"`")
	})
	if st.Phase != core.PhaseImagePulling {
		t.Errorf("phase %s, want ImagePulling\n%s", st.Phase, runtimetest.Dump(st))
	}
	t.Logf("pull failure seen after %s", time.Since(t0pull).Round(time.Millisecond))
	env.WaitStatus(t, crash.ID, func(s core.GroupStatus) bool { return runtimetest.Container(s, "c").RestartCount >= 2 })
	t.Logf("two restarts seen after %s", time.Since(t0pull).Round(time.Millisecond))
	out := env.WaitLogs(t, crash.ID, "c", "attempt-", 100)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out, "attempt-") < 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out, _ = e.rt.Logs(ctx, crash.ID, "c", 100)
	}
	if strings.Count(out, "attempt-") < 2 {
		t.Errorf("logs of a restarted container hold one attempt only: %q", out)
	}
	// Never the same attempt twice, whatever the container's state.
	for i := 0; i < 20; i++ {
		out, _ = e.rt.Logs(ctx, crash.ID, "c", 100)
		lines := strings.Fields(out)
		seen := map[string]bool{}
		for _, l := range lines {
			if seen[l] {
				t.Fatalf("attempt logged twice: %q", out)
			}
			seen[l] = true
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("logs of two attempts after %s", time.Since(t0pull).Round(time.Millisecond))
}

// TestOutOfBandDeleteAndEviction: a pod deleted with kubectl or evicted
// through the eviction API behind kcid's back stays (terminating, held by
// kcid's finalizer); its group stays visible and shows Failed with an
// event saying what happened; DeleteContainerGroup (Remove) then removes
// the pod.
func TestOutOfBandDeleteAndEviction(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	for _, tc := range []struct {
		name, reason, message string
		remove                func(t *testing.T, ns, pod string)
	}{
		{"kubectl delete", ReasonPodDeleted, "deleted outside kcid", func(t *testing.T, ns, pod string) {
			if kubectl := os.Getenv("KCI_K8S_KUBECTL"); kubectl != "" {
				// --wait=false: kubectl would wait for the finalizer.
				if out, err := runKubectl(ctx, kubectl, "-n", ns, "delete", "pod", pod, "--wait=false"); err != nil {
					t.Fatalf("kubectl delete: %v\n%s", err, out)
				}
				return
			}
			if err := e.cs.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"eviction API", ReasonEvicted, "evicted (EvictionByEvictionAPI", func(t *testing.T, ns, pod string) {
			if err := e.cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := e.group(t, "oob")
			g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "3600"}}}
			e.start(ctx, t, g)
			env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseRunning })
			ns, name := namespaceName(e.rt.cfg.NamespacePrefix, g.AccountID), podName(g.ID)
			tc.remove(t, ns, name)
			st := env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
				return s.Phase == core.PhaseFailed && runtimetest.HasEvent(s, tc.reason, tc.message)
			})
			t.Logf("%s: %s", tc.name, runtimetest.Dump(st))
			// Well past the grace period (3s): the pod is still there, the
			// group still listed and not deleted.
			time.Sleep(8 * time.Second)
			p, err := e.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || p.DeletionTimestamp == nil || !hasFinalizer(p) {
				t.Fatalf("pod after an out-of-band %s: %v", tc.name, err)
			}
			if v, err := e.rt.Store().Group(ctx, g.ID); err != nil || v.DeletedAt != nil {
				t.Errorf("the group left the store: %+v", v)
			}
			if st, _ := e.rt.Status(ctx, g.ID); st.Phase != core.PhaseFailed {
				t.Errorf("after the grace period: %s", runtimetest.Dump(st))
			}
			start := time.Now()
			if err := e.rt.Remove(ctx, g); err != nil {
				t.Fatal(err)
			}
			if _, err := e.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("pod after Remove: %v", err)
			}
			t.Logf("Remove took %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestResyncPutsFinalizerBack: a pod whose finalizer was removed (as
// created by a kcid without finalizers) gets it back from the periodic
// resync.
func TestResyncPutsFinalizerBack(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	g := e.group(t, "refinalize")
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "3600"}}}
	e.start(ctx, t, g)
	ns, name := namespaceName(e.rt.cfg.NamespacePrefix, g.AccountID), podName(g.ID)
	if err := e.rt.setFinalizer(ctx, ns, name, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3*e.rt.cfg.ResyncInterval + 10*time.Second)
	for {
		p, err := e.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && hasFinalizer(p) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("finalizer not back after %s: %v", 3*e.rt.cfg.ResyncInterval, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestUndecodablePodOnCluster: a kcid (re)started over a pod whose group
// annotation it cannot read (here: a newer kcid's record) serves the rest,
// reports that pod with an error log and a Warning event in the cluster,
// and its start-up reconcile leaves the pod running.
func TestUndecodablePodOnCluster(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	g := e.group(t, "undecodable")
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sleep", "3600"}}}
	e.start(ctx, t, g)
	env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseRunning })
	ns, name := namespaceName(e.rt.cfg.NamespacePrefix, g.AccountID), podName(g.ID)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationGroup, `{"version":99,"group":{"id":"`+g.ID+`"}}`)
	if _, err := e.cs.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // older than the second kcid's orphan grace

	var logs testutil.SyncBuffer
	r2, err := New(Config{Client: e.cs, StopGrace: 3 * time.Second, OrphanGrace: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	all, err := r2.Store().Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var live []*core.Group // what the service hands Sync at start-up
	for _, lg := range all {
		if lg.ID == g.ID {
			t.Fatalf("the undecodable pod's group is served: %+v", lg)
		}
		if lg.DeletedAt == nil {
			live = append(live, lg)
		}
	}
	if err := r2.Sync(ctx, live); err != nil {
		t.Fatal(err)
	}
	p, err := e.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil || !hasFinalizer(p) || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("the undecodable pod after Sync: %v %+v", err, p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := e.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=" + ReasonUndecodableGroup})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Items) == 1 && evs.Items[0].Type == corev1.EventTypeWarning {
			t.Logf("event: %s", evs.Items[0].Message)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events on the pod: %+v", evs.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "pod="+name) || !strings.Contains(l, "newer kcid") {
		t.Fatalf("log does not name the pod and the reason:\n%s", l)
	}
}

// TestLabelsArePodLabels: a group's labels become labels of its pod under
// kcid's prefix, selectable by the cluster, without touching kcid's own
// labels; the store reads them back from the pod.
func TestLabelsArePodLabels(t *testing.T) {
	e := newE2E(t)
	g := e.group(t, "labelled")
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", "exec sleep 3600"}}}
	g.Labels = []core.Label{{Key: "cluster-id", Value: "c-" + e2eRun}, {Key: "example.com/tier", Value: "web"}, {Key: "empty"},
		{Key: "app.kubernetes.io/managed-by", Value: "someone-else"}}
	ctx := context.Background()
	e.start(ctx, t, g)
	ns := namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)
	pods, err := e.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: "label.kci.openkci.io/cluster-id=c-" + e2eRun + ",example.com.label.kci.openkci.io/tier=web,label.kci.openkci.io/empty=",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != podName(g.ID) {
		t.Fatalf("the cluster's label selector found %d pods", len(pods.Items))
	}
	p := pods.Items[0]
	if p.Labels[LabelManagedBy] != ManagedByValue || p.Labels["app.kubernetes.io.label.kci.openkci.io/managed-by"] != "someone-else" {
		t.Errorf("pod labels: %v", p.Labels)
	}
	back, err := e.rt.Store().Group(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.Labels) != fmt.Sprint(g.Labels) {
		t.Errorf("labels read back from the pod: %v, want %v", back.Labels, g.Labels)
	}
}

// TestContainerRequestsReachTheNode: ContainerSpec's requests reach the
// cluster below the limits, which admits and runs the pod; with container
// resources only (no pod-level resources) the pod is then Burstable.
func TestContainerRequestsReachTheNode(t *testing.T) {
	e := newE2E(t)
	g := e.group(t, "requests")
	g.CPU, g.Memory = 1, 0.5
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", "exec sleep 3600"},
		CPU: 0.5, RequestCPU: 0.25, Memory: 0.25, RequestMemory: 0.125}}
	ctx := context.Background()
	e.start(ctx, t, g)
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseRunning })
	p, err := e.cs.CoreV1().Pods(namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)).Get(ctx, podName(g.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Spec.Containers[0].Resources
	if r.Requests.Cpu().MilliValue() != 250 || r.Limits.Cpu().MilliValue() != 500 ||
		r.Requests.Memory().Value() != 128<<20 || r.Limits.Memory().Value() != 256<<20 {
		t.Errorf("container resources %v", r)
	}
	want := corev1.PodQOSGuaranteed // pod-level requests = limits decide
	if e.rt.m.resources == ResourcesContainers {
		want = corev1.PodQOSBurstable
	}
	if p.Status.QOSClass != want {
		t.Errorf("QoS %s, want %s (mode %s)", p.Status.QOSClass, want, e.rt.m.resources)
	}
}
