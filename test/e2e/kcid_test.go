package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/testenv"
)

const (
	accessKeyID     = "AKLTe2etestkey0001"
	secretAccessKey = "e2e-secret-access-key-0001"
	region          = "cn-beijing-6"

	vpcID = "vpc-e2e"
	sgID  = "sg-e2e"
)

// Subnets of the config (their CIDRs are in e2eSubnets).
const (
	subnetRun      = "subnet-e2e-run"
	subnetNet      = "subnet-e2e-net"
	subnetCrash    = "subnet-e2e-crash"
	subnetPolicy   = "subnet-e2e-policy"
	subnetDNS      = "subnet-e2e-dns"
	subnetVolume   = "subnet-e2e-volume"
	subnetDelete   = "subnet-e2e-delete"
	subnetRestart  = "subnet-e2e-restart"
	subnetOrphan   = "subnet-e2e-orphan"
	subnetSG       = "subnet-e2e-sg"
	subnetIdle     = "subnet-e2e-idle" // for tests that create no group
	subnetHost     = "subnet-e2e-host"
	subnetMetrics  = "subnet-e2e-metrics"
	subnetHostPath = "subnet-e2e-hostpath"
	subnetInit     = "subnet-e2e-init"
	subnetCache    = "subnet-e2e-cache"
	subnetVK       = "subnet-e2e-vk"
	subnetProbes   = "subnet-e2e-probes"
)

// e2eSubnets are the config's subnets in vpc-e2e (10.77.0.0/16), one per
// scenario so that IPs are predictable. A kcid gets only the subnets its test
// uses: kcid refuses a configured subnet that overlaps a route it does not
// own, and another test's kcid owns the bridge of that test's subnet.
var e2eSubnets = []struct{ id, name, cidr string }{
	{subnetRun, "run", "10.77.1.0/24"},
	{subnetNet, "net", "10.77.2.0/24"},
	{subnetCrash, "crash", "10.77.3.0/24"},
	{subnetPolicy, "policy", "10.77.4.0/24"},
	{subnetDNS, "dns", "10.77.5.0/24"},
	{subnetVolume, "volume", "10.77.6.0/24"},
	{subnetDelete, "delete", "10.77.7.0/24"},
	{subnetRestart, "restart", "10.77.8.0/24"},
	{subnetOrphan, "orphan", "10.77.9.0/24"},
	{subnetIdle, "idle", "10.77.10.0/24"},
	{subnetHost, "host", "10.77.11.0/24"},
	{subnetMetrics, "metrics", "10.77.21.0/24"},
	{subnetHostPath, "hostpath", "10.77.12.0/24"},
	{subnetInit, "init", "10.77.31.0/24"},
	{subnetCache, "cache", "10.77.41.0/24"},
	{subnetVK, "vk", "10.77.51.0/24"},
	{subnetSG, "sg", "10.77.61.0/24"},
	{subnetProbes, "probes", "10.77.71.0/24"},
}

// e2eCIDR holds every e2e subnet; bridges of a kcid that died with a test
// in it are swept by TestMain.
const e2eCIDR = "10.77.0.0/16"

// configYAML declares the network the groups are placed in, with the given
// subnets only (the idle one, which never gets a group, when none is
// given). The grace period is short because sh as pid 1 ignores SIGTERM;
// the rate limits are high because the tests poll.
func configYAML(subnets ...string) string {
	if len(subnets) == 0 {
		subnets = []string{subnetIdle}
	}
	var b strings.Builder
	b.WriteString("vpcs:\n  - id: vpc-e2e\n    name: e2e\n    cidr: " + e2eCIDR + "\nsubnets:\n")
	for _, sn := range e2eSubnets {
		if slices.Contains(subnets, sn.id) {
			fmt.Fprintf(&b, "  - {id: %s, name: %s, vpc: vpc-e2e, cidr: %s, zone: cn-beijing-6a}\n", sn.id, sn.name, sn.cidr)
		}
	}
	b.WriteString(`securityGroups:
  - {id: sg-e2e, name: e2e, vpc: vpc-e2e}
stopGracePeriod: 2s
rateLimit:
  mutatingPerSecond: 1000
  mutatingBurst: 1000
  readPerSecond: 10000
  readBurst: 10000
`)
	return b.String()
}

// env is what every test needs from the machine.
type env struct {
	ctrd  string // containerd socket
	reg   testenv.LocalRegistry
	image string // busybox in reg
}

// needEnv fails (CI=true) or skips when the machine lacks something.
func needEnv(t *testing.T) *env {
	t.Helper()
	testenv.RequireGroupHost(t)
	if buildErr != nil {
		t.Fatalf("kcid binary: %v", buildErr)
	}
	e := &env{ctrd: testenv.Containerd(t)}
	e.reg = testenv.Registry(t)
	e.image = testenv.BusyboxImage(t)
	return e
}

// kcid is one kcid server of one test: a data dir, config and containerd
// namespace that outlive restarts, and the current process.
type kcid struct {
	e       *env
	ns      string // containerd namespace, unique to this kcid
	dir     string // holds config.yaml, kcid.log and data/
	dataDir string
	config  string
	logPath string

	mu   sync.Mutex
	url  string
	proc *proc
}

// proc is a started kcid process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // Wait's result, valid after done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startKcid starts a kcid for this test only, in a fresh directory and a
// containerd namespace of its own (so that kcid never takes another test's
// groups for orphans), with the config's subnets limited to those given.
// When the test ends (after the test's group
// cleanups, which are registered later and so run first) it is stopped,
// its namespace emptied and removed, and its directory removed.
func startKcid(t *testing.T, e *env, subnets ...string) *kcid {
	t.Helper()
	return startKcidWith(t, e, "", subnets...)
}

// e2eNode is the node of every test's kcid, unless its extra config
// gives a node: of its own.
const e2eNode = "node:\n  cpu: 64\n  memory: 64\n"

// startKcidWith is startKcid with more YAML appended to the config (a
// top-level node: key in it replaces the default e2eNode).
func startKcidWith(t *testing.T, e *env, extraConfig string, subnets ...string) *kcid {
	t.Helper()
	dir, err := os.MkdirTemp("", "openkci-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	k := &kcid{
		e: e, ns: "kcie2e-" + randHex(4), dir: dir, dataDir: filepath.Join(dir, "data"),
		config: filepath.Join(dir, "config.yaml"), logPath: filepath.Join(dir, "kcid.log"),
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kcid log (%s), last lines:\n%s", k.logPath, k.logTail(150))
		}
		k.stop()
		k.cleanNamespace(t)
		k.remove(t)
	})
	config := configYAML(subnets...)
	if !strings.HasPrefix(extraConfig, "node:") && !strings.Contains(extraConfig, "\nnode:") {
		config += e2eNode
	}
	if err := os.WriteFile(k.config, []byte(config+extraConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.start(); err != nil {
		t.Fatal(err)
	}
	return k
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// start starts the process on a free port and waits until /healthz answers.
func (k *kcid) start() error { return k.startAt("") }

// startAt starts the process on addr (a free port when empty), as a
// restarted kcid that its clients must find where it was.
func (k *kcid) startAt(fixed string) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := fixed, error(nil)
		if addr == "" {
			addr, err = testenv.FreePort()
		}
		if err != nil {
			return err
		}
		k.logf("=== e2e: starting kcid on %s ===", addr)
		p, err := k.spawn(addr)
		if err != nil {
			return err
		}
		if err := waitHealthy(p, addr, 90*time.Second); err != nil {
			killProc(p)
			lastErr = fmt.Errorf("kcid did not come up: %v\nkcid log:\n%s", err, k.logTail(60))
			if fixed == "" && strings.Contains(k.logTail(5), "address already in use") {
				continue // the port was taken between freePort and listen
			}
			return lastErr
		}
		k.mu.Lock()
		k.proc, k.url = p, "http://"+addr
		k.mu.Unlock()
		return nil
	}
	return lastErr
}

// spawn starts kcid on addr, appending its output to its log.
func (k *kcid) spawn(addr string) (*proc, error) {
	p, err := spawnProc(kcidBin, []string{"serve",
		"--listen", addr,
		"--data-dir", k.dataDir,
		"--config", k.config,
		"--containerd-address", k.e.ctrd,
		"--containerd-namespace", k.ns,
		"--log-level", "debug"},
		[]string{"KCID_ACCESS_KEY_ID=" + accessKeyID, "KCID_SECRET_ACCESS_KEY=" + secretAccessKey}, k.logPath)
	if err != nil {
		return nil, fmt.Errorf("start kcid: %w", err)
	}
	return p, nil
}

// spawnProc starts bin with args and env added to the test's, its output
// appended to logPath, from an OS thread that stays locked for the life
// of the process, so that Pdeathsig (which fires when the starting thread
// dies) ends it with the test process, even if the test binary is killed.
func spawnProc(bin string, args, env []string, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p := &proc{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			logf.Close()
			started <- err
			close(p.done)
			return
		}
		p.cmd = cmd
		started <- nil
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func waitHealthy(p *proc, addr string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			return fmt.Errorf("kcid exited: %v", p.err)
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func killProc(p *proc) {
	if p == nil || p.cmd == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// kill ends the process with SIGKILL, as a crash would.
func (k *kcid) kill() {
	p := k.takeProc()
	k.logf("=== e2e: SIGKILL ===")
	killProc(p)
}

// takeProc returns the current process, which is then no longer current.
func (k *kcid) takeProc() *proc {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.proc
	k.proc = nil
	return p
}

// stop ends the process with SIGTERM (SIGKILL after 20 s). Groups keep
// running: kcid leaves them to its next start.
func (k *kcid) stop() {
	if stopProc(k.takeProc()) {
		k.logf("=== e2e: no exit 20s after SIGTERM; SIGKILLed ===")
	}
}

// stopProc ends a process with SIGTERM, and SIGKILL if it has not exited
// 20 s later (it then reports true).
func stopProc(p *proc) (killed bool) {
	if p == nil || p.cmd == nil || p.exited() {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(20 * time.Second):
		killProc(p)
		return true
	}
}

// cleanNamespace removes what a kcid keeps after its last group went
// (testenv.CleanKcid). What its identity left besides — containers,
// cgroups, netns pins, bridges, iptables rules — is a leak: the test
// fails.
func (k *kcid) cleanNamespace(t *testing.T) {
	leaked, notes := testenv.CleanKcid(k.e.ctrd, k.ns, k.dataDir)
	for _, l := range leaked {
		t.Errorf("left on the host by kcid (namespace %s) after every group was deleted: %s", k.ns, l)
	}
	for _, n := range notes {
		t.Log(n)
	}
}

// remove unmounts anything left under the directory and removes it.
func (k *kcid) remove(t *testing.T) {
	for _, m := range testenv.MountsUnderDir(k.dir) {
		t.Errorf("mount left under kcid's directory: %s", m)
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	if os.Getenv("KCI_TESTENV_KEEP") == "1" {
		t.Logf("kept %s", k.dir)
		return
	}
	if err := os.RemoveAll(k.dir); err != nil {
		t.Errorf("remove %s: %v", k.dir, err)
	}
}

// URL is the base URL of the current process.
func (k *kcid) URL() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.url
}

func (k *kcid) logf(format string, args ...any) { testenv.AppendLine(k.logPath, format, args...) }

// logTail returns the last n lines of kcid's log.
func (k *kcid) logTail(n int) string { return testenv.TailFile(k.logPath, n) }

// logGrep returns the last n log lines that mention any of words.
func (k *kcid) logGrep(n int, words ...string) string {
	var out []string
	for _, l := range k.logLines() {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return tail(out, n)
}

func (k *kcid) logLines() []string {
	b, err := os.ReadFile(k.logPath)
	if err != nil {
		return []string{fmt.Sprintf("(no log: %v)", err)}
	}
	return strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
}

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// containersOf lists the containerd containers of a group (nil if ctr
// fails).
func (k *kcid) containersOf(groupID string) []string {
	out, err := testenv.CtrE(k.e.ctrd, k.ns, "containers", "ls", "-q")
	if err != nil {
		return nil
	}
	var left []string
	for _, id := range strings.Fields(out) {
		if strings.HasPrefix(id, groupID+"_") {
			left = append(left, id)
		}
	}
	return left
}
