package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/internal/testutil"
	"github.com/openkci/openkci/pkg/kci"
)

// vkCluster is the real test cluster of hack/k8s-e2e, which
// `hack/k8s-e2e/test.sh` (make test-k8s) brings up and names in
// KCI_K8S_KUBECONFIG. Without it the virtual-kubelet test skips, unless
// KCI_K8S_E2E=1 (set by test.sh) makes that a failure.
type vkCluster struct {
	kubeconfig, kubectl, caFile string
	kube                        *kubernetes.Clientset
}

func needCluster(t *testing.T) *vkCluster {
	t.Helper()
	kc := os.Getenv("KCI_K8S_KUBECONFIG")
	if kc == "" {
		if os.Getenv("KCI_K8S_E2E") == "1" {
			t.Fatal("KCI_K8S_E2E=1 but KCI_K8S_KUBECONFIG is unset: start the test cluster with hack/k8s-e2e/test.sh")
		}
		t.Skip("no test cluster: KCI_K8S_KUBECONFIG unset (hack/k8s-e2e/test.sh starts one and sets it)")
	}
	c := &vkCluster{kubeconfig: kc, kubectl: os.Getenv("KCI_K8S_KUBECTL"), caFile: filepath.Join(filepath.Dir(kc), "ca.crt")}
	if c.kubectl == "" {
		c.kubectl = "kubectl"
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	if c.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs kubectl; stdin may be nil.
func (c *vkCluster) run(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(os.TempDir(), "openkci-vk-kcache")}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (c *vkCluster) kubectlOK(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, errOut, err := c.run(ctx, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// virtualKubelet is one kci-virtual-kubelet process of the test.
type virtualKubelet struct {
	bin, logPath string
	args, env    []string
	mu           sync.Mutex
	proc         *proc
}

func (v *virtualKubelet) start(t *testing.T) {
	t.Helper()
	p, err := spawnProc(v.bin, v.args, v.env, v.logPath)
	if err != nil {
		t.Fatalf("start kci-virtual-kubelet: %v", err)
	}
	v.mu.Lock()
	v.proc = p
	v.mu.Unlock()
}

// stop ends the process with SIGTERM (SIGKILL after 20 s).
func (v *virtualKubelet) stop() {
	v.mu.Lock()
	p := v.proc
	v.proc = nil
	v.mu.Unlock()
	stopProc(p)
}

func (v *virtualKubelet) logTail(n int) string { return testenv.TailFile(v.logPath, n) }

// outboundIP is the host's address towards the outside: the API server
// refuses to proxy logs and exec to a loopback node address.
func outboundIP(t *testing.T) string {
	c, err := net.Dial("udp4", "192.0.2.255:9")
	if err != nil {
		t.Fatalf("no outbound address for the node: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

func buildVK(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kci-virtual-kubelet")
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/openkci/openkci/cmd/kci-virtual-kubelet").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/kci-virtual-kubelet: %v\n%s", err, out)
	}
	return bin
}

// TestVirtualKubelet runs kci-virtual-kubelet against the real test
// cluster with kcid on containerd behind it: a Deployment whose pods
// select the virtual node runs as kcid groups with kcid's IPs; kubectl
// logs (and -f) and exec (exit code, stdin) reach the groups; a provider
// restart makes no second group; a kcid outage marks the node NotReady
// and the pods are still there when it returns; scaling down deletes the
// groups.
func TestVirtualKubelet(t *testing.T) {
	c := needCluster(t)
	e := needEnv(t)
	// One fake GPU (a character device with /dev/null's numbers, so
	// writing to it is harmless), offered by the node as nvidia.com/gpu.
	gpu := testenv.FakeGPU(t, t.TempDir(), "gpu0")
	k := startKcidWith(t, e, "node: {cpu: 64, memory: 64, gpus: {type: fake, devices: ["+gpu+"]}}\n", subnetVK)
	kc, err := kci.New(kci.Config{Endpoint: k.URL(), Region: region, AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	suffix := randHex(3)
	nodeName, clusterID, ns := "kci-vk-"+suffix, "e2e-"+suffix, "vk-"+suffix

	nodeIP := outboundIP(t)
	l, err := net.Listen("tcp", nodeIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	vk := &virtualKubelet{
		bin: buildVK(t), logPath: filepath.Join(k.dir, "vk.log"),
		args: []string{"--kubeconfig", c.kubeconfig, "--nodename", nodeName, "--cluster-id", clusterID,
			"--subnet-id", subnetVK, "--security-group-id", sgID, "--listen", listen,
			"--client-ca-file", c.caFile, "--health-interval", "1s", "--cpu", "8", "--memory", "16", "--pods", "20", "--gpus", "1", "--log-level", "debug"},
		env: []string{"KCI_ENDPOINT=" + k.URL(), "KCI_REGION=" + region, "KCI_ACCESS_KEY_ID=" + accessKeyID, "KCI_SECRET_ACCESS_KEY=" + secretAccessKey,
			"KCI_CONFIG_FILE=" + filepath.Join(k.dir, "no-kci-config")},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kci-virtual-kubelet log (%s), last lines:\n%s", vk.logPath, vk.logTail(120))
		}
		vk.stop()
		_ = c.kube.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{})
	})
	vk.start(t)
	waitNode(t, c, nodeName, corev1.ConditionTrue, "KCIReady", 90*time.Second)

	node, err := c.kube.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Status.Capacity.Cpu().String(); got != "8" {
		t.Errorf("node CPU capacity %s, want the configured 8", got)
	}
	if got := node.Status.Capacity.Memory().String(); got != "16Gi" {
		t.Errorf("node memory capacity %s, want the configured 16Gi", got)
	}
	if got := node.Status.Allocatable.Name("nvidia.com/gpu", "").String(); got != "1" {
		t.Errorf("node allocatable nvidia.com/gpu %s, want the configured 1", got)
	}

	// The namespace goes first at the end (cleanups run last-in first-out):
	// its pods' groups must be gone before the provider and kcid stop.
	c.kubectlOK(t, "", "create", "namespace", ns)
	var seen []string // every group of the test, for the teardown check
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		left, _ := kc.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: []kci.Filter{
			{Name: kci.FilterLabelPrefix + "cluster-id", Values: []string{clusterID}}}})
		_, _, _ = c.run(ctx, "", "delete", "namespace", ns, "--wait=false")
		if err := waitGroupCount(ctx, kc, clusterID, 0); err != nil {
			t.Errorf("groups left after the namespace was deleted: %v", err)
		}
		// kcid tears deleted groups down in the background: wait for it
		// before kcid is stopped.
		for _, g := range left {
			seen = append(seen, g.ContainerGroupID)
		}
		for _, id := range seen {
			if things, err := waitLeftovers(k, id, false, 60*time.Second); err != nil || len(things) > 0 {
				t.Errorf("group %s not torn down: %v %v", id, things, err)
			}
		}
	})
	c.kubectlOK(t, "", "-n", ns, "create", "secret", "docker-registry", "pull",
		"--docker-server="+e.reg.Host, "--docker-username="+e.reg.Username, "--docker-password="+e.reg.Password)
	c.kubectlOK(t, deployment(nodeName, e.image), "-n", ns, "apply", "-f", "-")

	pods := waitPods(t, c, ns, 2, 120*time.Second, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && podReady(p) && strings.HasPrefix(p.Status.PodIP, "10.77.51.")
	})
	ips := map[string]string{}
	for _, p := range pods {
		ips[p.Name] = p.Status.PodIP
		if p.Spec.NodeName != nodeName {
			t.Errorf("pod %s on node %q, want %s", p.Name, p.Spec.NodeName, nodeName)
		}
	}
	assertGroupCount(t, kc, clusterID, 2)
	groups, err := kc.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: []kci.Filter{
		{Name: kci.FilterLabelPrefix + "cluster-id", Values: []string{clusterID}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		seen = append(seen, g.ContainerGroupID)
		if g.Status != kci.StatusRunning || ips[labelOf(g, "pod-name")] != g.PrivateIP() {
			t.Errorf("group %s (pod %s) is %s at %s; the pod shows %s", g.ContainerGroupID, labelOf(g, "pod-name"), g.Status, g.PrivateIP(), ips[labelOf(g, "pod-name")])
		}
	}
	pod := pods[0].Name

	t.Run("logs", func(t *testing.T) {
		out := waitFor(t, 30*time.Second, func() (string, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, _, err := c.run(ctx, "", "-n", ns, "logs", pod)
			return out, err == nil && strings.Contains(out, "hello from "+pod) && strings.Contains(out, "tick 2\n")
		})
		if lines := strings.Split(out, "\n"); lines[0] != "hello from "+pod {
			t.Errorf("first log line %q, want the greeting", lines[0])
		}
		// -f: three seconds of following add the ticks written meanwhile,
		// each once and in order.
		fctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		followed, _, _ := c.run(fctx, "", "-n", ns, "logs", "-f", "--tail", "1", pod)
		ticks := ticksOf(followed)
		if len(ticks) < 3 {
			t.Fatalf("kubectl logs -f for 4 s gave %d ticks:\n%s", len(ticks), followed)
		}
		for i := 1; i < len(ticks); i++ {
			if ticks[i] != ticks[i-1]+1 {
				t.Fatalf("kubectl logs -f skipped or repeated lines (ticks %v):\n%s", ticks, followed)
			}
		}
	})

	t.Run("exec", func(t *testing.T) {
		// Hang guards, not speed checks: under load (CI beside a chaos run)
		// the -it session took over 20 s to show its first line.
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
		defer cancel()
		out, errOut, err := c.run(ctx, "", "-n", ns, "exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Errorf("kubectl exec exit: %v, want code 3 (stderr %q)", err, errOut)
		}
		if out != "out\n" || !strings.Contains(errOut, "err\n") {
			t.Errorf("kubectl exec: stdout %q stderr %q", out, errOut)
		}
		out, errOut, err = c.run(ctx, "three\nlines\nin\n", "-n", ns, "exec", "-i", pod, "--", "wc", "-l")
		if err != nil || strings.TrimSpace(out) != "3" {
			t.Errorf("kubectl exec -i wc -l: %q %q %v", out, errOut, err)
		}
		// -it on a terminal: the terminal's size reaches the command, and
		// what is typed reaches its stdin.
		ctl, tty := testutil.OpenPTY(t, 111, 33)
		shown := &testutil.SyncBuffer{}
		go func() { _, _ = io.Copy(shown, ctl) }()
		cmd := exec.CommandContext(ctx, c.kubectl, "--kubeconfig", c.kubeconfig, "-n", ns, "exec", "-it", pod, "--", "sh", "-c",
			// No wait for the size: kcid starts the command with the
			// terminal's first size (a TTY exec waits for it).
			`stty size; read x; echo got $x`)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, func() (string, bool) { return shown.String(), strings.Contains(shown.String(), "33 111") })
		_, _ = ctl.Write([]byte("typed\r"))
		waitFor(t, 60*time.Second, func() (string, bool) { return shown.String(), strings.Contains(shown.String(), "got typed") })
		if err := cmd.Wait(); err != nil {
			t.Errorf("kubectl exec -it: %v; terminal showed %q", err, shown.String())
		}
	})

	t.Run("readiness follows the readiness probe", func(t *testing.T) {
		podIs := func(ready bool) {
			t.Helper()
			waitFor(t, 60*time.Second, func() (string, bool) {
				p, err := c.kube.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
				if err != nil {
					return err.Error(), false
				}
				return fmt.Sprintf("%s ready=%v %+v", p.Status.Phase, podReady(p), p.Status.ContainerStatuses), podReady(p) == ready && p.Status.Phase == corev1.PodRunning
			})
		}
		c.kubectlOK(t, "", "-n", ns, "exec", pod, "--", "rm", "/tmp/ready")
		podIs(false)
		c.kubectlOK(t, "", "-n", ns, "exec", pod, "--", "touch", "/tmp/ready")
		podIs(true)
	})

	t.Run("stats summary from kcid's usage samples", func(t *testing.T) {
		waitFor(t, 60*time.Second, func() (string, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			raw, errOut, err := c.run(ctx, "", "get", "--raw", "/api/v1/nodes/"+nodeName+"/proxy/stats/summary")
			if err != nil {
				return errOut, false
			}
			var sum statsv1alpha1.Summary
			if err := json.Unmarshal([]byte(raw), &sum); err != nil {
				return raw, false
			}
			for _, ps := range sum.Pods {
				if ps.PodRef.Name == pod && ps.PodRef.Namespace == ns && ps.Memory != nil && ps.Memory.WorkingSetBytes != nil && *ps.Memory.WorkingSetBytes > 0 &&
					len(ps.Containers) == 1 && ps.Containers[0].Name == "main" {
					return raw, true
				}
			}
			return raw, false
		})
	})

	t.Run("provider restart loses nothing and makes no duplicates", func(t *testing.T) {
		vk.stop()
		// While the provider is away the Deployment drops a pod: the
		// restarted provider deletes its group and keeps the other.
		c.kubectlOK(t, "", "-n", ns, "scale", "deployment", "web", "--replicas", "1")
		vk.start(t)
		waitNode(t, c, nodeName, corev1.ConditionTrue, "KCIReady", 60*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := waitGroupCount(ctx, kc, clusterID, 1); err != nil {
			t.Fatalf("the pod scaled away while the provider was down: %v", err)
		}
		// Several status rounds of the new provider (every 5 s).
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			assertGroupCount(t, kc, clusterID, 1)
		}
		after := waitPods(t, c, ns, 1, 60*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
		if ips[after[0].Name] != after[0].Status.PodIP {
			t.Errorf("pod %s at %s after the restart, was %q: a new group?", after[0].Name, after[0].Status.PodIP, ips[after[0].Name])
		}
	})

	t.Run("kcid outage marks the node NotReady; a pod deleted meanwhile loses its group when kcid is back", func(t *testing.T) {
		addr := strings.TrimPrefix(k.URL(), "http://")
		k.stop()
		waitNode(t, c, nodeName, corev1.ConditionFalse, "KCIUnreachable", 60*time.Second)
		c.kubectlOK(t, "", "-n", ns, "scale", "deployment", "web", "--replicas", "0")
		time.Sleep(3 * time.Second)
		if err := k.startAt(addr); err != nil {
			t.Fatal(err)
		}
		waitNode(t, c, nodeName, corev1.ConditionTrue, "KCIReady", 60*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := waitGroupCount(ctx, kc, clusterID, 0); err != nil {
			t.Fatalf("the pod deleted during the outage: %v", err)
		}
		waitPods(t, c, ns, 0, 60*time.Second, func(p *corev1.Pod) bool { return true })
	})

	t.Run("a pod made after the outage runs", func(t *testing.T) {
		c.kubectlOK(t, "", "-n", ns, "scale", "deployment", "web", "--replicas", "1")
		waitPods(t, c, ns, 1, 120*time.Second, func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && podReady(p) && strings.HasPrefix(p.Status.PodIP, "10.77.51.")
		})
		assertGroupCount(t, kc, clusterID, 1)
	})

	t.Run("a group deleted behind the provider's back fails its pod, which is replaced", func(t *testing.T) {
		ctx := context.Background()
		groups, err := kc.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: []kci.Filter{
			{Name: kci.FilterLabelPrefix + "cluster-id", Values: []string{clusterID}}}})
		if err != nil || len(groups) != 1 {
			t.Fatalf("groups of the cluster: %d, %v", len(groups), err)
		}
		gone := labelOf(groups[0], "pod-name")
		seen = append(seen, groups[0].ContainerGroupID)
		if _, err := kc.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: groups[0].ContainerGroupID}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, func() (string, bool) {
			p, err := c.kube.CoreV1().Pods(ns).Get(ctx, gone, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return "deleted", true // failed and removed by its ReplicaSet
			}
			if err != nil {
				return err.Error(), false
			}
			return fmt.Sprintf("%s %s", p.Status.Phase, p.Status.Reason), p.Status.Phase == corev1.PodFailed && p.Status.Reason == "NotFound"
		})
		waitFor(t, 120*time.Second, func() (string, bool) {
			list, err := c.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				return err.Error(), false
			}
			for _, p := range list.Items {
				if p.Name != gone && p.Status.Phase == corev1.PodRunning && podReady(&p) {
					return p.Name, true
				}
			}
			return fmt.Sprintf("%d pods, none a Running replacement", len(list.Items)), false
		})
		ctx2, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := waitGroupCount(ctx2, kc, clusterID, 1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an unsupported pod fails with an event", func(t *testing.T) {
		c.kubectlOK(t, probePod(nodeName, e.image), "-n", ns, "apply", "-f", "-")
		p := waitPod(t, c, ns, "probed", 60*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if p.Status.Reason != "UnsupportedPodSpec" || !strings.Contains(p.Status.Message, "lifecycle") {
			t.Errorf("pod failed with %q: %q; want UnsupportedPodSpec naming lifecycle", p.Status.Reason, p.Status.Message)
		}
		waitFor(t, 30*time.Second, func() (string, bool) {
			evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=probed"})
			if err != nil {
				return err.Error(), false
			}
			for _, ev := range evs.Items {
				if ev.Reason == "UnsupportedPodSpec" && ev.Type == corev1.EventTypeWarning && strings.Contains(ev.Message, "lifecycle") {
					return ev.Message, true
				}
			}
			return fmt.Sprintf("%d events", len(evs.Items)), false
		})
		assertGroupCount(t, kc, clusterID, 1)
	})

	t.Run("a pod asking for a GPU gets kcid's GPU; a second waits for it", func(t *testing.T) {
		ctx := context.Background()
		c.kubectlOK(t, gpuPod("gpu-a", nodeName, e.image, gpu), "-n", ns, "apply", "-f", "-")
		waitPod(t, c, ns, "gpu-a", 120*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		waitFor(t, 60*time.Second, func() (string, bool) {
			out, _, _ := c.run(ctx, "", "-n", ns, "logs", "gpu-a")
			return out, strings.Contains(out, "OPENED "+gpu+"\n")
		})
		groups, err := kc.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: []kci.Filter{
			{Name: kci.FilterLabelPrefix + "cluster-id", Values: []string{clusterID}}, {Name: kci.FilterLabelPrefix + "pod-name", Values: []string{"gpu-a"}}}})
		if err != nil || len(groups) != 1 {
			t.Fatalf("groups of pod gpu-a: %d, %v", len(groups), err)
		}
		seen = append(seen, groups[0].ContainerGroupID)
		if g := groups[0]; g.GPU != 1 || g.Containers[0].GPU == nil || *g.Containers[0].GPU != 1 {
			t.Errorf("group of gpu-a: Gpu %v, container Gpu %v; want 1 and 1", g.GPU, g.Containers[0].GPU)
		}

		// The node's only GPU is taken: the scheduler keeps the second
		// pod Pending until the first is gone, then it gets the GPU.
		c.kubectlOK(t, gpuPod("gpu-b", nodeName, e.image, gpu), "-n", ns, "apply", "-f", "-")
		waitFor(t, 60*time.Second, func() (string, bool) {
			evs, err := c.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=gpu-b"})
			if err != nil {
				return err.Error(), false
			}
			for _, ev := range evs.Items {
				if ev.Reason == "FailedScheduling" && strings.Contains(ev.Message, "Insufficient nvidia.com/gpu") {
					return ev.Message, true
				}
			}
			return fmt.Sprintf("%d events, none FailedScheduling for want of nvidia.com/gpu", len(evs.Items)), false
		})
		if p, err := c.kube.CoreV1().Pods(ns).Get(ctx, "gpu-b", metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
			t.Fatalf("gpu-b while gpu-a holds the GPU: %v, want Pending and unscheduled", err)
		}
		c.kubectlOK(t, "", "-n", ns, "delete", "pod", "gpu-a", "--wait=false")
		waitPod(t, c, ns, "gpu-b", 120*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		waitFor(t, 60*time.Second, func() (string, bool) {
			out, _, _ := c.run(ctx, "", "-n", ns, "logs", "gpu-b")
			return out, strings.Contains(out, "OPENED "+gpu+"\n")
		})
		c.kubectlOK(t, "", "-n", ns, "delete", "pod", "gpu-b", "--wait=false")
		ctx2, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := waitGroupCount(ctx2, kc, clusterID, 1); err != nil {
			t.Fatal(err)
		}
	})
}

// gpuPod asks for one nvidia.com/gpu and says whether it sees the
// device gpu and can write to it.
func gpuPod(name, nodeName, image, gpu string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `}
spec:
  nodeSelector: {type: virtual-kubelet, kubernetes.io/hostname: ` + nodeName + `}
  tolerations:
  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
  imagePullSecrets: [{name: pull}]
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: ` + image + `
    command: ["sh", "-c", "if echo x > ` + gpu + `; then echo OPENED ` + gpu + `; else echo ABSENT ` + gpu + `; fi; sleep 3600"]
    resources:
      limits: {cpu: 250m, memory: 128Mi, nvidia.com/gpu: 1}
`
}

func deployment(nodeName, image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {type: virtual-kubelet, kubernetes.io/hostname: ` + nodeName + `}
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      imagePullSecrets: [{name: pull}]
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: ` + image + `
        command: ["sh", "-c", "echo hello from $POD; touch /tmp/ready; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"]
        env:
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        resources:
          limits: {cpu: 250m, memory: 128Mi}
        readinessProbe:
          exec: {command: ["test", "-e", "/tmp/ready"]}
          periodSeconds: 1
`
}

func probePod(nodeName, image string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  nodeName: ` + nodeName + `
  tolerations:
  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
  containers:
  - name: main
    image: ` + image + `
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec: {command: ["true"]}
`
}

func labelOf(g kci.ContainerGroup, key string) string {
	for _, l := range g.Labels {
		if l.Key == key {
			return l.Value
		}
	}
	return ""
}

func ticksOf(s string) []int {
	var out []int
	for _, l := range strings.Split(s, "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "tick %d", &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitFor polls f every 500 ms until it reports true, failing the test
// with f's last text when timeout passes.
func waitFor(t *testing.T, timeout time.Duration, f func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, ok := f()
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v; last: %s", timeout, s)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitNode(t *testing.T, c *vkCluster, name string, status corev1.ConditionStatus, reason string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() (string, bool) {
		n, err := c.kube.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err.Error(), false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return fmt.Sprintf("node %s Ready=%s %s: %s", name, cond.Status, cond.Reason, cond.Message), cond.Status == status && cond.Reason == reason
			}
		}
		return "node has no Ready condition", false
	})
}

// waitPods waits until the namespace has exactly n pods, all passing ok.
func waitPods(t *testing.T, c *vkCluster, ns string, n int, timeout time.Duration, ok func(*corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, timeout, func() (string, bool) {
		list, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err.Error(), false
		}
		pods = list.Items
		var b strings.Builder
		good := 0
		for i := range pods {
			p := &pods[i]
			fmt.Fprintf(&b, "%s: %s %s %q ip=%s deleting=%v; ", p.Name, p.Status.Phase, p.Status.Reason, p.Status.Message, p.Status.PodIP, p.DeletionTimestamp != nil)
			if ok(p) && p.DeletionTimestamp == nil {
				good++
			}
		}
		return b.String(), len(pods) == n && good == n
	})
	return pods
}

func waitPod(t *testing.T, c *vkCluster, ns, name string, timeout time.Duration, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, timeout, func() (string, bool) {
		p, err := c.kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err != nil {
			return fmt.Sprint(err), false
		}
		pod = p
		return fmt.Sprintf("%s %s %q", p.Status.Phase, p.Status.Reason, p.Status.Message), ok(p)
	})
	return pod
}

func groupCount(ctx context.Context, kc *kci.Client, clusterID string) (int, error) {
	out, err := kc.DescribeContainerGroupCount(ctx, &kci.DescribeContainerGroupCountRequest{Label: kci.CountLabel{Key: "cluster-id", Values: []string{clusterID}}})
	if err != nil {
		return -1, err
	}
	n := 0
	for _, c := range out.ClusterPodCounts {
		if c.ClusterID == clusterID {
			n += c.Count
		}
	}
	return n, nil
}

func assertGroupCount(t *testing.T, kc *kci.Client, clusterID string, want int) {
	t.Helper()
	n, err := groupCount(context.Background(), kc, clusterID)
	if err != nil || n != want {
		t.Fatalf("kcid counts %d groups of cluster %s (%v), want %d", n, clusterID, err, want)
	}
}

func waitGroupCount(ctx context.Context, kc *kci.Client, clusterID string, want int) error {
	for {
		n, err := groupCount(ctx, kc, clusterID)
		if err == nil && n == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kcid still counts %d groups of cluster %s (%v), want %d", n, clusterID, err, want)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
