package containerd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
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
	b, err := os.ReadFile("/proc/self/mountinfo")
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
