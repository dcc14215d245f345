package containerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// TestNamespaceThreadReturns: inNewNamespace's thread runs fn in a new
// namespace and is back in the namespace it had once fn is done: the
// thread is never unlocked, and when it is the process's main thread Go
// keeps it, so a thread left in a group's netns or a private mount
// namespace would skew every read of /proc/self for good.
func TestNamespaceThreadReturns(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name   string
		nstype int
	}{
		{"net", unix.CLONE_NEWNET},
		{"mnt", unix.CLONE_NEWNS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := "/proc/thread-self/ns/" + tc.name
			type result struct {
				before, inside, after string
				err                   error
			}
			done := make(chan result, 1)
			go func() {
				runtime.LockOSThread() // the thread ends with the goroutine
				var r result
				r.before, _ = os.Readlink(link)
				r.err = inNewNamespaceLocked(tc.nstype, func() error {
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
			if r.inside == r.before || r.before == "" {
				t.Errorf("fn ran in %q, the thread's namespace before was %q: want a new one", r.inside, r.before)
			}
			if r.after != r.before {
				t.Errorf("thread left in %s namespace %q, it had %q", tc.name, r.after, r.before)
			}
		})
	}
}

// mainThreadHelperEnv makes the test binary run mainThreadHelper instead
// of the tests, with its main goroutine locked to the main thread.
const mainThreadHelperEnv = "KCIRT_MAIN_THREAD_HELPER" // a directory

func init() {
	if os.Getenv(mainThreadHelperEnv) != "" {
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
