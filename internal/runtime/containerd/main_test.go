package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/internal/testenv"
)

var _ service.Runtime = (*Runtime)(nil)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		crashHelper()
		return
	}
	if os.Getenv(mainThreadHelperEnv) != "" {
		os.Exit(mainThreadHelper())
	}
	if os.Getenv(namespaceThreadsHelperEnv) != "" {
		os.Exit(namespaceThreadsHelper())
	}
	logCheckInterval = 200 * time.Millisecond
	setupRetryBase, setupRetryMax = 100*time.Millisecond, 400*time.Millisecond
	code := m.Run()
	if leaks := hostLeftovers(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests left %d objects on the host (removed now):\n  %s\n", len(leaks), strings.Join(leaks, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	_ = removeCgroup("/" + testNS)
	testenv.Cleanup()
	os.Exit(code)
}

// testNS is this test process's containerd namespace: test processes of
// other packages share the system containerd.
var testNS = "kcirt-" + randHex(4)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env is what a test needs: a runtime, the registry and the busybox image.
type env struct {
	t       *testing.T
	addr    string
	dataDir string
	reg     testenv.LocalRegistry
	image   string
	rt      *Runtime
	disks   []core.Disk
	logMax  int64
	// netnsDir, if set, pins the runtime's network namespaces there
	// instead of /run/netns.
	netnsDir string
	// gpuExtra is the runtime's GPUExtraDevices.
	gpuExtra []string
}

var subnetSeq atomic.Int32

// testLifecycle makes crash loops short enough for tests.
var testLifecycle = lifecycle.Config{BackOffBase: 500 * time.Millisecond, BackOffMax: 2 * time.Second, PullErrorHold: 300 * time.Millisecond}

func newEnv(t *testing.T) *env {
	t.Helper()
	testenv.RequireRoot(t)
	e := &env{t: t, addr: testenv.Containerd(t), dataDir: t.TempDir()}
	e.reg = testenv.Registry(t)
	e.image = testenv.BusyboxImage(t)
	e.rt = e.newRuntime()
	t.Cleanup(func() { e.rt.Close() })
	return e
}

// newEnvLogMax is newEnv with a runtime whose LogMaxBytes is max.
func newEnvLogMax(t *testing.T, max int64) *env {
	e := newEnv(t)
	e.rt.Close()
	e.logMax = max
	e.rt = e.newRuntime()
	return e
}

func (e *env) newRuntime() *Runtime {
	e.t.Helper()
	return e.newRuntimeNS(testNS)
}

func (e *env) newRuntimeNS(ns string) *Runtime {
	e.t.Helper()
	rt, err := New(Config{
		Address:         e.addr,
		Namespace:       ns,
		DataDir:         e.dataDir,
		CNIBinDirs:      []string{testenv.CNIBinDir()},
		StopGrace:       2 * time.Second,
		Lifecycle:       testLifecycle,
		Disks:           e.disks,
		LogMaxBytes:     e.logMax,
		NetNSDir:        e.netnsDir,
		GPUExtraDevices: e.gpuExtra,
		// Resyncs run all the time in tests, alongside everything else.
		ResyncInterval: time.Second,
		Logger:         slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	guardRuntime(e.addr, rt.in)
	e.t.Cleanup(func() { removeInstanceNames(rt.in) })
	return rt
}

// removeInstanceNames removes what a runtime keeps after its last group
// went: its isolation and source chains and its cgroup level (each test's data dir is
// a new instance).
func removeInstanceNames(in instance) {
	testenv.RemoveRuntimeChains(strings.TrimPrefix(in.isolationChain(), "KCI-ISO-"))
	if !in.Legacy {
		_ = removeCgroup(in.cgroupRoot())
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// subnet returns a fresh /24 for a test: 10.213.N.0/24, one no host
// address is in (test processes of other packages pick theirs the same
// way: two bridges with one gateway break both tests' traffic).
func subnet() (cidr, gw string, ip func(int) string, id string) {
	n := subnetSeq.Add(1) + int32(os.Getpid()%50)*4
	for i := 0; i < 64 && subnetInUse(n); i++ {
		n = subnetSeq.Add(1) + int32(os.Getpid()%50)*4
	}
	return fmt.Sprintf("10.213.%d.0/24", n), fmt.Sprintf("10.213.%d.1", n),
		func(h int) string { return fmt.Sprintf("10.213.%d.%d", n, h) },
		fmt.Sprintf("subnet-%s-%d", randHex(2), n)
}

// subnetInUse reports whether a host address is in 10.213.n.0/24.
func subnetInUse(n int32) bool {
	addrs, _ := net.InterfaceAddrs()
	prefix := fmt.Sprintf("10.213.%d.", n)
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), prefix) {
			return true
		}
	}
	return false
}

func (e *env) group(name string, ip, cidr, gw, subnetID string, cs ...core.Container) *core.Group {
	id := "kci-" + randHex(6)
	return &core.Group{
		ID:            id,
		Name:          name,
		AccountID:     "acc-1",
		RestartPolicy: core.RestartAlways,
		Network: core.Network{
			VpcID: "vpc-1", SubnetID: subnetID, SubnetCIDR: cidr, Gateway: gw,
			PrivateIP: ip, MAC: "02:42:" + macTail(),
		},
		Credentials: []core.RegistryCredential{{Server: e.reg.Host, Username: e.reg.Username, Password: e.reg.Password}},
		Containers:  cs,
	}
}

func macTail() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

func (e *env) start(g *core.Group) {
	e.t.Helper()
	if err := e.rt.Start(context.Background(), g); err != nil {
		e.t.Fatal(err)
	}
	// e.rt, not the current runtime: a test may replace it (kcid restart).
	e.t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
}

// waitStatus polls until ok accepts the status.
func (e *env) waitStatus(id string, timeout time.Duration, ok func(core.GroupStatus) bool) core.GroupStatus {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var st core.GroupStatus
	var err error
	for time.Now().Before(deadline) {
		st, err = e.rt.Status(context.Background(), id)
		if err == nil && ok(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("status of %s not reached in %v: err=%v\n%s", id, timeout, err, runtimetest.Dump(st))
	return st
}

func (e *env) waitLogs(id, ctr, want string, timeout time.Duration) string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	for time.Now().Before(deadline) {
		out, _ = e.rt.Logs(context.Background(), id, ctr, 0)
		if strings.Contains(out, want) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, _ := e.rt.Status(context.Background(), id)
	e.t.Fatalf("logs of %s/%s lack %q after %v:\n%s\n%s", id, ctr, want, timeout, out, runtimetest.Dump(st))
	return out
}

func allRunning(st core.GroupStatus) bool {
	if st.Phase != core.PhaseRunning {
		return false
	}
	for _, c := range st.Containers {
		if c.Current == nil || c.Current.State != core.StateRunning {
			return false
		}
	}
	return true
}

func hasEvent(st core.GroupStatus, reason, msgPart string) bool {
	return slices.ContainsFunc(st.Events, func(ev core.Event) bool {
		return ev.Reason == reason && strings.Contains(ev.Message, msgPart)
	})
}

// assertGone checks that nothing of group id is left on the machine.
func (e *env) assertGone(id string) {
	e.t.Helper()
	for _, c := range testenv.ContainerdContainers(e.t, e.addr, testNS) {
		if strings.HasPrefix(c, id) {
			e.t.Errorf("containerd container left: %s", c)
		}
	}
	for _, c := range testenv.ContainerdTasks(e.t, e.addr, testNS) {
		if strings.HasPrefix(c, id) {
			e.t.Errorf("task left: %s", c)
		}
	}
	for _, s := range shimsOf(e.addr, id) {
		e.t.Errorf("shim left: pid %d for %s", s.pid, s.id)
	}
	for _, s := range testenv.ContainerdSnapshots(e.t, e.addr, testNS, "") {
		if strings.HasPrefix(s, id) {
			e.t.Errorf("snapshot left: %s", s)
		}
	}
	for _, n := range testenv.NetNSList(e.t) {
		if strings.Contains(n, id) {
			e.t.Errorf("netns left: %s", n)
		}
	}
	for _, m := range testenv.Mounts(e.t) {
		if strings.Contains(m, id) {
			e.t.Errorf("mount left: %s", m)
		}
	}
	if _, err := os.Stat(e.rt.groupDir(id)); !os.IsNotExist(err) {
		e.t.Errorf("group dir left: %v", err)
	}
	for _, d := range cgroupDirs(e.rt.groupCgroup(id)) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			e.t.Errorf("cgroup left: %s", d)
		}
	}
	if ents, _ := os.ReadDir(e.rt.cfg.cniCacheDir() + "/results"); len(ents) > 0 {
		for _, ent := range ents {
			if strings.Contains(ent.Name(), id) {
				e.t.Errorf("CNI cache left: %s", ent.Name())
			}
		}
	}
	out, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if strings.Contains(string(out), id) {
		e.t.Errorf("iptables rules left for %s", id)
	}
}

func ping(ip string) error {
	out, err := exec.Command("busybox", "ping", "-c", "1", "-W", "2", ip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %v: %s", ip, err, out)
	}
	return nil
}

// sleeper is a command that runs until SIGTERM and exits 0 on it (a shell
// as pid 1 ignores TERM unless it traps it).
func sleeper(before string) []string {
	return []string{"sh", "-c", before + "trap 'exit 0' TERM; sleep 3600 & wait"}
}
