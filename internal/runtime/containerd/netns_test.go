package containerd

import (
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
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/testenv"
)

// TestPinHiddenByNetnsDirMount: `ip netns add` makes the pin directory a
// mount point by bind-mounting it onto itself, recursively, when it is
// not one yet; the pins made before are then hidden under copies of
// themselves, and removing a group's pin failed with EBUSY for good
// (reliability defect 7: the group's netns and cgroups stayed, its delete
// retried forever). The group must be removed, pin and all.
func TestPinHiddenByNetnsDirMount(t *testing.T) {
	e := newEnv(t)
	// A pin directory of the test's own: the bind below must not hide
	// the pins of other tests in /run/netns.
	dir, err := os.MkdirTemp("/run", "kcirt-netns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
		_ = os.RemoveAll(dir)
	})
	e.rt.Close()
	e.netnsDir = dir
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	g := e.group("hidden-pin", ip(170), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	e.waitStatus(g.ID, 60*time.Second, allRunning)
	pin := e.rt.netnsPath(g.ID)

	// What `ip netns add` does to a pin directory that is no mount point.
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, pin); n != 2 {
		t.Fatalf("%d mounts at the pin after the bind, want the original and its copy", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.rt.Remove(ctx, g); err != nil {
		t.Fatalf("remove a group whose pin is hidden: %v", err)
	}
	if n := mountsAt(t, pin); n != 0 {
		t.Errorf("%d mounts left at the pin", n)
	}
	if _, err := os.Lstat(pin); !os.IsNotExist(err) {
		t.Errorf("pin file left: %v", err)
	}
	e.assertGone(g.ID)
}

// mountsAt counts the mounts at path in this mount namespace, hidden
// ones included.
func mountsAt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeOctal(f[4]) == path {
			n++
		}
	}
	return n
}

// TestLoopbackInGroup: containers of one group share a network namespace
// and talk over localhost, as a pod's containers do. A new namespace's lo
// is down; kcid must bring it up, or 127.0.0.1 is unreachable.
func TestLoopbackInGroup(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("loopback", ip(171), cidr, gw, sid,
		core.Container{Name: "server", Image: e.image,
			Command: sleeper("mkdir -p /www && echo via-localhost > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && echo LISTENING; ")},
		core.Container{Name: "client", Image: e.image,
			Command: sleeper("until printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 8080 > /tmp/got && grep -q via-localhost /tmp/got; do sleep 0.2; done; cat /tmp/got; ")})
	e.start(g)
	e.waitStatus(g.ID, 60*time.Second, allRunning)
	e.waitLogs(g.ID, "server", "LISTENING", 10*time.Second)
	e.waitLogs(g.ID, "client", "via-localhost", 20*time.Second)
}

// TestNamespaceThreadReturns: inNamespaceLocked runs fn in the namespace
// asked for (a new one, or the one pinned at a path) and the thread is
// back in the namespace it had once fn is done; only a thread that
// entered a network namespace may go back to Go's pool (a mount
// namespace's entry unshared its root and working directory for good).
func TestNamespaceThreadReturns(t *testing.T) {
	testenv.RequireRoot(t)
	pin := filepath.Join(t.TempDir(), "pin")
	if err := createNetNS(pin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNetNS(pin) })
	var st unix.Stat_t
	if err := unix.Stat(pin, &st); err != nil {
		t.Fatal(err)
	}
	pinned := fmt.Sprintf("net:[%d]", st.Ino) // as /proc/thread-self/ns/net reads inside
	for _, tc := range []struct {
		name, path   string
		nstype       int
		wantInside   string // "" for a new namespace
		wantReusable bool
	}{
		{"net/new", "", unix.CLONE_NEWNET, "", true},
		{"net/pinned", pin, unix.CLONE_NEWNET, pinned, true},
		{"mnt/new", "", unix.CLONE_NEWNS, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := "/proc/thread-self/ns/" + nsFiles[tc.nstype]
			var target *os.File
			if tc.path != "" {
				f, err := os.Open(tc.path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				target = f
			}
			type result struct {
				before, inside, after string
				reusable              bool
				err                   error
			}
			done := make(chan result, 1)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				var r result
				r.before, _ = os.Readlink(link)
				r.reusable, r.err = inNamespaceLocked(tc.nstype, target, func() error {
					r.inside, _ = os.Readlink(link)
					return nil
				})
				r.after, _ = os.Readlink(link)
				done <- r
			}()
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			switch {
			case r.before == "":
				t.Errorf("no namespace before")
			case tc.wantInside == "" && r.inside == r.before:
				t.Errorf("fn ran in %q, the thread's namespace before: want a new one", r.inside)
			case tc.wantInside != "" && r.inside != tc.wantInside:
				t.Errorf("fn ran in %q, want the pinned %q", r.inside, tc.wantInside)
			}
			if r.after != r.before {
				t.Errorf("thread left in %q, it had %q", r.after, r.before)
			}
			if r.reusable != tc.wantReusable {
				t.Errorf("reusable = %v, want %v", r.reusable, tc.wantReusable)
			}
		})
	}
}

// namespaceThreadsHelperEnv makes the test binary run
// namespaceThreadsHelper instead of the tests (a directory).
const namespaceThreadsHelperEnv = "KCIRT_NAMESPACE_THREADS_HELPER"

// namespaceThreadsHelper runs with its main goroutine locked to the main
// thread (init). It starts namespace threads from the main goroutine
// itself (namespaceThread, as inNamespace's goroutine would start when
// it lands on the main thread) and checks that fn never runs on the main
// thread; then it drives every caller of inNamespace, the network ones
// first (their threads go back to Go's pool) and the mount one after, and
// checks after each phase that every thread of the process, the main one
// included, is in the process's network and mount namespaces.
func namespaceThreadsHelper() int {
	dir := os.Getenv(namespaceThreadsHelperEnv)
	fail := func(format string, a ...any) int { fmt.Printf(format+"\n", a...); return 2 }
	pid := os.Getpid()
	home := map[string]string{}
	for _, name := range nsFiles {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/task/%d/ns/%s", pid, pid, name))
		if err != nil {
			return fail("%v", err)
		}
		home[name] = l
	}
	for nstype, name := range nsFiles {
		errc := make(chan error, 1)
		namespaceThread(nstype, nil, func() error {
			if unix.Gettid() == pid {
				return errors.New("fn runs on the main thread")
			}
			return nil
		}, errc)
		if err := <-errc; err != nil {
			return fail("namespace thread started on the main thread (%s): %v", name, err)
		}
	}
	// threadsAway lists the threads in other namespaces than the
	// process's. A locked thread ends after its goroutine has sent fn's
	// result: it waits for the threads that are ending.
	threadsAway := func() []string {
		var away []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			away = away[:0]
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			for _, task := range tasks {
				for name, want := range home {
					if l, err := os.Readlink(fmt.Sprintf("/proc/%d/task/%s/ns/%s", pid, task.Name(), name)); err == nil && l != want {
						which := "thread " + task.Name()
						if task.Name() == strconv.Itoa(pid) {
							which = "the main thread"
						}
						away = append(away, fmt.Sprintf("%s in %s (the process's is %s)", which, l, want))
					}
				}
			}
			if len(away) == 0 || time.Now().After(deadline) {
				return away
			}
		}
	}
	ctx := context.Background()
	for _, phase := range []struct {
		name string
		run  func(i int) error
	}{
		{"network", func(i int) error {
			pin := filepath.Join(dir, fmt.Sprintf("pin-%d", i))
			if err := createNetNS(pin); err != nil {
				return fmt.Errorf("createNetNS: %w", err)
			}
			if err := applyFirewall(ctx, instance{ID: "0fe1c2d3"}, pin, "", nil, true); err != nil {
				return fmt.Errorf("applyFirewall: %w", err)
			}
			return removeNetNS(pin)
		}},
		{"mount", func(i int) error {
			return removeHiddenPin(filepath.Join(dir, "no-such-pin"))
		}},
	} {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = phase.run(i) }()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fail("%s callers: %v", phase.name, err)
		}
		if away := threadsAway(); len(away) > 0 {
			return fail("after the %s callers, threads left in other namespaces:\n  %s", phase.name, strings.Join(away, "\n  "))
		}
	}
	return 0
}

// TestOneNamespaceMechanism: the package enters namespaces in one place
// (nsthread.go); a setns, unshare or thread lock elsewhere would bypass
// the rules TestNamespaceThreadsStayHome checks. cniexec.go locks its
// thread only for the plugins' death signal.
func TestOneNamespaceMechanism(t *testing.T) {
	allowed := map[string]bool{"nsthread.go": true, "cniexec.go LockOSThread": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || allowed[file] {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"unix.Setns(", "unix.Unshare(", "LockOSThread(", "syscall.Setns(", "syscall.Unshare("} {
			if strings.Contains(string(b), call) && !allowed[file+" "+strings.TrimSuffix(call, "(")] {
				t.Errorf("%s calls %s: enter namespaces through inNamespace (nsthread.go)", file, strings.TrimSuffix(call, "("))
			}
		}
	}
}

// TestNamespaceThreadsStayHome: no caller of inNamespace leaves the main
// thread, or a thread Go reuses, in another namespace; fn never runs on
// the main thread (namespaceThreadsHelper, in a process of its own so
// that nothing else runs there).
func TestNamespaceThreadsStayHome(t *testing.T) {
	testenv.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), namespaceThreadsHelperEnv+"="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
}

// mainThreadHelperEnv makes the test binary run mainThreadHelper instead
// of the tests, with its main goroutine locked to the main thread.
const mainThreadHelperEnv = "KCIRT_MAIN_THREAD_HELPER" // a directory

func init() {
	if os.Getenv(mainThreadHelperEnv) != "" || os.Getenv(namespaceThreadsHelperEnv) != "" {
		runtime.LockOSThread() // main runs on the main thread
	}
}

// mainThreadHelper puts the main thread in a private mount namespace, as
// a locked thread of removeHiddenPin that happened to be the main thread
// was left before (its goroutine parked the thread for good), then mounts
// a tmpfs at <dir>/volumes/disk from another thread, in the host's mount
// namespace, and unmounts everything under dir as teardown does.
func mainThreadHelper() int {
	dir := os.Getenv(mainThreadHelperEnv)
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		fmt.Println("unshare:", err)
		return 2
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Println("private:", err)
		return 2
	}
	errc := make(chan error)
	go func() { // not on the main thread: main holds it
		target := filepath.Join(dir, "volumes", "disk")
		if err := unix.Mount("tmpfs", target, "tmpfs", 0, "size=1m"); err != nil {
			errc <- err
			return
		}
		errc <- unmountAll(dir)
	}()
	if err := <-errc; err != nil {
		fmt.Println("helper:", err)
		return 2
	}
	return 0
}

// TestTeardownUnmountsWithMainThreadAway: teardown finds a group's mounts
// in the mount namespace it unmounts in, whatever namespace the main
// thread is in. It read /proc/self/mountinfo, the main thread's table:
// with the main thread left in a private namespace by a hidden pin's
// removal, it missed every disk mounted afterwards, left it mounted and
// failed with EBUSY on removing the group's directory, while the loop
// sweep detached the devices as if nothing mounted them
// (TestKillDuringDeleteAtEachStep failed so once under load).
func TestTeardownUnmountsWithMainThreadAway(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "volumes", "disk")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainThreadHelperEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	if isMountPoint(target) {
		t.Errorf("%s is still mounted: unmountAll read a mount table other than its thread's", target)
	}
}
