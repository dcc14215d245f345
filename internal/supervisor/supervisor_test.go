package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/testenv"
)

// bogusAddress is a containerd address where nothing answers.
const bogusAddress = "/nonexistent/kcid-test/containerd.sock"

// helperEnv makes the test binary act as a kcid that starts its own
// containerd in the named data dir and then waits to be killed.
const helperEnv = "KCID_SUPERVISOR_TEST_HELPER_DATADIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		runHelper(dir)
		return
	}
	os.Exit(m.Run())
}

func runHelper(dir string) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	addr, _, err := Ensure(context.Background(), bogusAddress, dir, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", addr)
	time.Sleep(time.Hour) // until killed
}

// requireContainerd skips (fails when CI=true) unless kcid's own
// containerd can be started here.
func requireContainerd(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.SkipOrFatal(t, "%s not on PATH (%s)", bin, InstallHint)
		}
	}
}

// testLog is a slog.Logger writing to t.Log and keeping the messages.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newTestLog(t *testing.T) (*slog.Logger, *testLog) {
	tl := &testLog{}
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		tl.mu.Lock()
		tl.buf.Write(p)
		tl.mu.Unlock()
		t.Log(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	}), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), tl
}

func (tl *testLog) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.buf.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// ensure calls Ensure with a 60 s bound; stop and a kill of whatever
// containerd is left in dataDir run at cleanup.
func ensure(t *testing.T, address, dataDir string, log *slog.Logger) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	killLeftover(t, dataDir)
	t0 := time.Now()
	addr, stop, err := Ensure(ctx, address, dataDir, log)
	if err != nil {
		t.Fatalf("Ensure(%q, %q): %v", address, dataDir, err)
	}
	t.Logf("Ensure took %s", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(stop)
	return addr, stop
}

// killLeftover registers a cleanup that kills the containerd named by the
// pid file of dataDir, if it is still alive and ours (a failed test must
// not leave daemons behind).
func killLeftover(t *testing.T, dataDir string) {
	l, err := newLayout(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pid := readPid(l)
		if pid > 0 && (&supervisor{l: l}).notOurs(pid) == "" {
			t.Logf("killing leftover containerd %d", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(t, pid, 10*time.Second)
		}
		if l.sockDir != "" {
			os.RemoveAll(l.sockDir)
		}
	})
}

// killAndWaitReplaced kills containerd pid and waits for the one the
// supervisor starts in its place to answer; it returns the new pid.
func killAndWaitReplaced(t *testing.T, l layout, addr string, pid int) int {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	var pid2 int
	waitFor(t, 20*time.Second, "a restarted containerd that answers", func() bool {
		pid2 = readPid(l)
		return pid2 > 0 && pid2 != pid && answers(addr)
	})
	t.Logf("containerd %d replaced %d and answers %s after the kill", pid2, pid, time.Since(t1).Round(time.Millisecond))
	if err := ctrVersion(addr); err != nil {
		t.Fatal(err)
	}
	return pid2
}

func readPid(l layout) int {
	b, err := os.ReadFile(l.pid)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// procState returns the state letter of /proc/<pid>/stat (0 if none).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive after %s", pid, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ctrVersion runs `ctr --address addr version` (the socket must exist:
// ctr retries a missing one for a long time).
func ctrVersion(addr string) error {
	if _, err := os.Stat(socketPath(addr)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", "--address", socketPath(addr), "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr version: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "Server:") {
		return fmt.Errorf("ctr version: no server part: %s", out)
	}
	return nil
}

func answers(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Ping(ctx, addr)
	return err == nil
}

func TestEnsureStartsSupervisesAndStops(t *testing.T) {
	requireContainerd(t)
	log, tl := newTestLog(t)
	dataDir := t.TempDir()
	l, _ := newLayout(dataDir)

	t0 := time.Now()
	addr, stop := ensure(t, bogusAddress, dataDir, log)
	t.Logf("private containerd answers after %s", time.Since(t0).Round(time.Millisecond))
	if addr != filepath.Join(dataDir, "containerd", "containerd.sock") {
		t.Fatalf("address %q, want the socket under the data dir", addr)
	}
	if err := ctrVersion(addr); err != nil {
		t.Fatal(err)
	}
	pid := readPid(l)
	if pid <= 0 || !alive(pid) {
		t.Fatalf("pid file names %d, not a live process", pid)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("containerd %d is in process group %d (%v), want its own", pid, pgid, err)
	}
	for _, p := range []string{l.config, l.log, l.root, l.state} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("layout: %v", err)
		}
	}
	cfg, _ := os.ReadFile(l.config)
	if !strings.Contains(string(cfg), `"io.containerd.grpc.v1.cri"`) {
		t.Errorf("config does not disable the CRI plugin:\n%s", cfg)
	}

	// Killed from outside: the supervisor restarts it (1 s back-off).
	pid2 := killAndWaitReplaced(t, l, addr, pid)
	if !strings.Contains(tl.String(), "exited unexpectedly") {
		t.Errorf("the unexpected exit was not logged")
	}

	t2 := time.Now()
	stop()
	t.Logf("stop took %s", time.Since(t2).Round(time.Millisecond))
	if alive(pid2) {
		t.Fatalf("containerd %d still alive after stop", pid2)
	}
	if answers(addr) {
		t.Fatalf("something still answers on %s after stop", addr)
	}
	if _, err := os.Stat(l.pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after stop: %v", err)
	}
	stop() // idempotent
}

func TestEnsureUsesAnsweringAddress(t *testing.T) {
	requireContainerd(t)
	log, _ := newTestLog(t)
	sock, _ := ensure(t, bogusAddress, t.TempDir(), log)
	l, _ := newLayout(filepath.Dir(filepath.Dir(sock)))
	pid := readPid(l)

	cases := []struct {
		name, address string
	}{
		{"socket path", sock},
		{"unix URL", "unix://" + sock},
	}
	if answers(testenv.SystemContainerdAddress) {
		cases = append(cases, struct{ name, address string }{"system containerd", testenv.SystemContainerdAddress})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			addr, stop, err := Ensure(context.Background(), tc.address, dataDir, log)
			if err != nil {
				t.Fatal(err)
			}
			if addr != tc.address {
				t.Fatalf("Ensure returned %q, want %q untouched", addr, tc.address)
			}
			stop() // a no-op
			if !answers(tc.address) {
				t.Fatalf("stop stopped a containerd that is not kcid's")
			}
			if _, err := os.Stat(filepath.Join(dataDir, "containerd")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Ensure touched the data dir: %v", err)
			}
		})
	}
	if got := readPid(l); got != pid || !alive(pid) {
		t.Fatalf("the private containerd changed: pid %d, was %d", got, pid)
	}
}

// startHelperKcid runs a kcid stand-in (this binary) that starts its own
// containerd in dataDir, then SIGKILLs it, leaving containerd orphaned.
func startAndKillHelperKcid(t *testing.T, dataDir string) (addr string, pid int) {
	t.Helper()
	killLeftover(t, dataDir)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dataDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper kcid: %q %v\n%s", line, err, stderr.String())
	}
	addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	l, _ := newLayout(dataDir)
	pid = readPid(l)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !alive(pid) {
		t.Fatalf("containerd %d died with the kcid that started it", pid)
	}
	if err := ctrVersion(addr); err != nil {
		t.Fatalf("containerd orphaned by a killed kcid does not answer: %v", err)
	}
	return addr, pid
}

func TestEnsureAdoptsContainerdOfKilledKcid(t *testing.T) {
	requireContainerd(t)
	log, tl := newTestLog(t)
	dataDir := t.TempDir()
	l, _ := newLayout(dataDir)
	sock, pid := startAndKillHelperKcid(t, dataDir)

	addr, stop := ensure(t, bogusAddress, dataDir, log)
	if addr != sock {
		t.Fatalf("address %q, want %q", addr, sock)
	}
	if got := readPid(l); got != pid {
		t.Fatalf("pid file names %d, want the adopted %d (a second daemon was started?)", got, pid)
	}
	if !strings.Contains(tl.String(), "adopted") {
		t.Errorf("adoption not logged")
	}

	// The adopted daemon dies: the supervisor starts its own.
	pid2 := killAndWaitReplaced(t, l, addr, pid)
	stop()
	if alive(pid2) {
		t.Fatalf("containerd %d alive after stop", pid2)
	}
}

func TestEnsureReplacesUnresponsiveLeftover(t *testing.T) {
	requireContainerd(t)
	saved := defaults
	defaults.startTimeout = 2 * time.Second
	defaults.stopGrace = 3 * time.Second
	t.Cleanup(func() { defaults = saved })

	log, tl := newTestLog(t)
	dataDir := t.TempDir()
	l, _ := newLayout(dataDir)
	_, pid := startAndKillHelperKcid(t, dataDir)
	// Stopped, it still holds the socket (connections queue up) but never
	// answers.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "containerd to be stopped", func() bool { return procState(pid) == 'T' })
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); _ = syscall.Kill(pid, syscall.SIGCONT) })

	addr, _ := ensure(t, bogusAddress, dataDir, log)
	if alive(pid) {
		t.Fatalf("unresponsive containerd %d still alive", pid)
	}
	if got := readPid(l); got == pid || got <= 0 || !alive(got) {
		t.Fatalf("pid file names %d; want a new live containerd", got)
	}
	if err := ctrVersion(addr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tl.String(), "does not answer; stopping it") {
		t.Errorf("replacing the unresponsive daemon was not logged")
	}
}

func TestEnsureHandlesStalePidAndSocket(t *testing.T) {
	requireContainerd(t)
	// A pid that is surely dead: a child that has been reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		pid  string
	}{
		{"dead pid", strconv.Itoa(dead.Process.Pid)},
		{"live pid that is not containerd", strconv.Itoa(os.Getpid())},
		{"garbage", "not a pid"},
		{"empty", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, tl := newTestLog(t)
			dataDir := t.TempDir()
			l, _ := newLayout(dataDir)
			killLeftover(t, dataDir) // and removes l.sockDir
			for _, d := range []string{l.dir, l.sockDir} {
				if err := os.MkdirAll(d, 0o711); d != "" && err != nil {
					t.Fatal(err)
				}
			}
			// A socket file nobody listens on, as a dead daemon leaves.
			for _, p := range []string{l.sock, l.ttrpc} {
				ln, err := net.Listen("unix", p)
				if err != nil {
					t.Fatal(err)
				}
				ln.(*net.UnixListener).SetUnlinkOnClose(false)
				ln.Close()
			}
			if err := os.WriteFile(l.pid, []byte(tc.pid+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Ping(context.Background(), l.sock); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("Ping on a stale socket: %v, want connection refused", err)
			}

			addr, stop := ensure(t, bogusAddress, dataDir, log)
			pid := readPid(l)
			if strconv.Itoa(pid) == tc.pid || !alive(pid) {
				t.Fatalf("pid file names %d, want a new live containerd", pid)
			}
			if err := ctrVersion(addr); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tl.String(), "stale containerd pid file") {
				t.Errorf("stale pid file not logged")
			}
			stop()
			waitGone(t, pid, time.Second)
		})
	}
}

func TestEnsureLongDataDirUsesRun(t *testing.T) {
	requireContainerd(t)
	log, tl := newTestLog(t)
	dataDir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	l, _ := newLayout(dataDir)
	if l.sockDir == "" || !strings.HasPrefix(l.sock, "/run/kcid-") || len(l.ttrpc) > maxSocketPath {
		t.Fatalf("layout for a long data dir: socket %q", l.sock)
	}
	addr, stop := ensure(t, bogusAddress, dataDir, log)
	if addr != l.sock {
		t.Fatalf("address %q, want %q", addr, l.sock)
	}
	if err := ctrVersion(addr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tl.String(), "too long") {
		t.Errorf("the /run fallback was not logged")
	}
	stop()
}

func TestEnsureWithoutContainerdOnPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dataDir := t.TempDir()
	log, _ := newTestLog(t)
	addr, stop, err := Ensure(context.Background(), bogusAddress, dataDir, log)
	if err == nil {
		stop()
		t.Fatalf("Ensure succeeded (%q) without containerd on the PATH", addr)
	}
	t.Log(err)
	if !errors.Is(err, ErrContainerdNotFound) {
		t.Errorf("error does not wrap ErrContainerdNotFound")
	}
	for _, want := range []string{bogusAddress, "apt-get install containerd runc containernetworking-plugins", "--containerd-address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
}

func TestPingFailures(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	// Accepts and never answers (a hung or stopped daemon).
	silent := filepath.Join(dir, "silent.sock")
	sln, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer sln.Close()
	go func() {
		for {
			c, err := sln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// Accepts and hangs up at once.
	closing := filepath.Join(dir, "closing.sock")
	cln, err := net.Listen("unix", closing)
	if err != nil {
		t.Fatal(err)
	}
	defer cln.Close()
	go func() {
		for {
			c, err := cln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	cases := []struct {
		name, addr, want string
	}{
		{"empty", "", "empty"},
		{"missing", filepath.Join(dir, "missing.sock"), "no socket"},
		{"regular file", regular, "not a socket"},
		{"stale socket", stale, "refused"},
		{"silent listener", silent, "deadline"},
		{"hangs up", "unix://" + closing, "containerd on"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			t0 := time.Now()
			v, err := Ping(ctx, tc.addr)
			if err == nil {
				t.Fatalf("Ping(%q) = %q, want an error", tc.addr, v)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Ping(%q): %v; want it to mention %q", tc.addr, err, tc.want)
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("Ping took %s", d)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	// version "1.6.20", revision "abc", plus an unknown varint field 3.
	msg := []byte{0x0a, 6, '1', '.', '6', '.', '2', '0', 0x12, 3, 'a', 'b', 'c', 0x18, 0x96, 0x01}
	cases := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"full", msg, "1.6.20", false},
		{"version only", msg[:8], "1.6.20", false},
		{"empty", nil, "", true},
		{"truncated", msg[:5], "", true},
		{"bad wire type", []byte{0x0f}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVersion(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseVersion = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestContainersSurviveStop checks what the package documentation promises:
// stopping kcid's containerd leaves running containers up (their shims keep
// them), and the next containerd on the same root and state finds them.
func TestContainersSurviveStop(t *testing.T) {
	requireContainerd(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testenv.SkipOrFatal(t, "busybox not on PATH (apt-get install busybox-static)")
	}
	log, _ := newTestLog(t)
	dataDir := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", busybox, filepath.Join(rootfs, "bin", "busybox")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	const ns = "openkci-test-supervisor"
	id := fmt.Sprintf("survive-%d", os.Getpid())

	addr, stop := ensure(t, bogusAddress, dataDir, log)
	testenv.Ctr(t, addr, ns, "run", "-d", "--null-io", "--rootfs", rootfs, id, "/bin/busybox", "sleep", "600")
	pid := taskPid(t, addr, ns, id)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	stop()
	if !alive(pid) {
		t.Fatalf("container process %d died with containerd", pid)
	}

	addr2, _ := ensure(t, bogusAddress, dataDir, log)
	t.Cleanup(func() { testenv.RemoveContainer(addr2, ns, id) })
	if got := taskPid(t, addr2, ns, id); got != pid {
		t.Fatalf("the next containerd sees task %s with pid %d, want %d", id, got, pid)
	}
}

// taskPid returns the pid of the running task id (from `ctr tasks ls`).
func taskPid(t *testing.T, addr, ns, id string) int {
	t.Helper()
	for _, line := range strings.Split(testenv.Ctr(t, addr, ns, "tasks", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			if f[2] != "RUNNING" {
				t.Fatalf("task %s is %s", id, f[2])
			}
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("no task %s in namespace %s", id, ns)
	return 0
}
