// Package testenv provides the real parts that OpenKCI's integration tests
// run against, without reaching the internet:
//
//   - Containerd: the address of a running containerd (the one named by
//     $KCI_CONTAINERD_ADDRESS, the system one on
//     /run/containerd/containerd.sock, or a private one started for the test
//     process);
//   - Registry: a real local registry (Debian's docker-registry, i.e.
//     distribution 2.8) on a loopback port, with htpasswd (basic) auth;
//   - BusyboxImage and BusyboxImageWith: small images built from Debian's
//     busybox-static and pushed to that registry through the registry HTTP
//     API v2;
//   - FakeGPU: a character device that stands for a GPU;
//   - small helpers that list what a test may leak: containerd containers,
//     tasks and images, network namespaces, mounts and loop devices.
//
// Everything that is started is started once per test process and stopped
// when the tests end; tests should use Main from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without Main, started daemons still die with the test process (they get
// SIGTERM when it exits), but their temporary directories are left behind.
//
// When a part cannot be had (not root, a binary missing), the test is
// skipped with the reason, or fails when $CI is "true" so that CI never
// passes by skipping. The needed Debian packages are installed by
// .ci/install-deps.sh.
//
// Environment:
//
//	KCI_CONTAINERD_ADDRESS            use this containerd socket
//	KCI_TESTENV_PRIVATE_CONTAINERD=1  always start a private containerd
//	KCI_TESTENV_KEEP=1                keep temporary directories (debugging)
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestNamespace is a containerd namespace for tests. The test binaries of
// several packages run at once and share the system containerd: a package
// that wipes a namespace whole (CleanNamespace) or checks that it is empty
// should use a namespace of its own, e.g. "openkci-test-runtime".
const TestNamespace = "openkci-test"

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// addCleanup registers fn to run (in reverse order) when Main ends the tests.
func addCleanup(fn func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, fn)
}

// Main runs the tests and then stops what this package started for the
// process (registry, private containerd) and removes their directories.
// Use it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup stops everything this package started in this process. Main calls
// it; it is exported for a TestMain that needs to do more after it.
func Cleanup() {
	cleanupMu.Lock()
	fns := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// InCI reports whether $CI is "true" (as it is on the CI machines).
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFatal skips the test with the reason, or fails it when running in CI.
func SkipOrFatal(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("testenv: %s (CI=true: not skipping; run .ci/install-deps.sh)", msg)
	}
	t.Skipf("testenv: %s", msg)
}

// RequireRoot skips (or fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFatal(t, "needs root (euid %d)", os.Geteuid())
	}
}

// CNIBinDir returns the directory holding the CNI plugins: /opt/cni/bin
// when it has the bridge plugin (hack/start-containerd.sh links it to
// Debian's directory), else /usr/lib/cni (where Debian's
// containernetworking-plugins installs them). It returns "" if neither has.
func CNIBinDir() string {
	for _, d := range []string{"/opt/cni/bin", "/usr/lib/cni"} {
		if fi, err := os.Stat(d + "/bridge"); err == nil && !fi.IsDir() {
			return d
		}
	}
	return ""
}

func keepDirs() bool { return os.Getenv("KCI_TESTENV_KEEP") == "1" }

// ownerFile names the file, in each temporary directory made here, that
// holds the pid of the test process that made it.
const ownerFile = "owner.pid"

// makeDir makes a temporary directory with the prefix and records this
// process as its owner. Directories of the prefix left by test processes
// that are gone (killed by a -timeout, say) are removed first.
func makeDir(prefix string) (string, error) {
	sweepStale(prefix)
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func sweepStale(prefix string) {
	if keepDirs() {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being made
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // owner alive (or unknown)
		}
		for _, m := range MountsUnderDir(dir) {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
		_ = os.RemoveAll(dir)
	}
}

// daemon is a background process started by this package.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
	log  string        // log file
}

// startDaemon starts the command in the background. The process is started
// from an OS thread that stays locked for the life of the process, with
// Pdeathsig: so it receives SIGTERM when the test process exits, even
// without Cleanup (a test binary killed by its -timeout, say).
func startDaemon(name, logPath string, argv []string, env []string) (*daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	d := &daemon{name: name, done: make(chan struct{}), log: logPath}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends when this goroutine does, after the
		// process exited, which is what Pdeathsig needs.
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout = logf
		cmd.Stderr = logf
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Setpgid:   true, // not in the test's process group (^C goes to us)
			Pdeathsig: syscall.SIGTERM,
		}
		if err := cmd.Start(); err != nil {
			logf.Close()
			started <- err
			close(d.done)
			return
		}
		d.cmd = cmd
		started <- nil
		d.err = cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return d, nil
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL.
func (d *daemon) stop(grace time.Duration) {
	if d == nil || d.cmd == nil || d.exited() {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return
	case <-time.After(grace):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
	}
}

// logTail returns the last n lines of the daemon's log.
func (d *daemon) logTail(n int) string {
	return TailFile(d.log, n)
}

// run runs a command with a timeout and returns its stdout; the error
// includes stderr.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", timeout)
		}
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// lines splits output into its non-empty, trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
