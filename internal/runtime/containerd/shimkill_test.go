package containerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// holdingRunc writes a runc wrapper that stops at `runc create` until
// release is called: it touches <dir>/create-<n> when it gets there, so
// that a test can kill kcid or containerd while a task's shim is up and
// its creation in flight. The first `runc delete` of a container after
// its create fails. It returns the wrapper's path, a wait for the n-th
// create (1-based), the release, and a wait for the failed delete of a
// container.
//
// With failCreate, the first create fails when released (the shim then
// holds no container).
func holdingRunc(t *testing.T, failCreate bool) (path string, waitCreate func(n int), release func(), waitDeleteFailed func(id string)) {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path = filepath.Join(dir, "runc-holding")
	// runc's last argument is the container ID. The first delete after
	// a create fails: containerd's clean-up of the create it gave up on
	// then leaves the shim running (as the lost race in defect 3 does).
	script := fmt.Sprintf(`#!/bin/sh
id=""
for a in "$@"; do id="$a"; done
for a in "$@"; do
	case "$a" in
	delete)
		if [ -e %[1]s/created-$id ] && [ ! -e %[1]s/delete-failed-$id ]; then
			touch %[1]s/delete-failed-$id
			echo "runc-holding: the first delete after a create fails" >&2
			exit 1
		fi
		break;;
	create)
		touch %[1]s/created-$id
		n=$(ls %[1]s | grep -c '^create-')
		touch %[1]s/create-$((n+1))
		i=0
		while [ ! -e %[1]s/release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
		if [ %[3]t = true ] && [ $n = 0 ]; then
			echo "runc-holding: the held create fails" >&2
			exit 1
		fi
		break;;
	esac
done
exec %[2]s "$@"
`, dir, runc, failCreate)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			_ = os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
		}
	}
	t.Cleanup(release)
	// waitFile waits for the wrapper to touch name; what is what it means.
	waitFile := func(name, what string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitCreate = func(n int) { waitFile(fmt.Sprintf("create-%d", n), fmt.Sprintf("runc create #%d never started", n)) }
	waitDeleteFailed = func(id string) {
		waitFile("delete-failed-"+id, "containerd never tried to delete the abandoned task of "+id)
	}
	return path, waitCreate, release, waitDeleteFailed
}

// shimsOf lists the shims on addr in the test namespace whose container
// belongs to group id.
func shimsOf(addr, id string) []shimProc {
	var out []shimProc
	for _, s := range findShims(testNS, addr) {
		if strings.HasPrefix(s.id, id+"_") {
			out = append(out, s)
		}
	}
	return out
}

// TestKillWhileShimStarts: kcid is SIGKILLed while containerd creates a
// container's task (its shim is up, `runc create` runs); containerd gives
// up on the request and cleans up, but its clean-up fails to delete the
// task in the shim (here the first `runc delete` fails; in the chaos run
// the shim's create won a race with containerd's delete), so the shim
// lives on with no task containerd lists, and a `runc init` until
// containerd's later clean-up (reliability defect 3). The next kcid must
// remove that stray: a group it re-adopts starts without failing once,
// and a group deleted meanwhile leaves no shim.
func TestKillWhileShimStarts(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	e.rt.Close() // the stand-ins take the host
	runc, waitCreate, release, waitDeleteFailed := holdingRunc(t, false)

	kept := e.group("shim-kept", ip(160), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	deleted := e.group("shim-deleted", ip(161), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	for i, g := range []*core.Group{kept, deleted} {
		cmd, _ := e.startStandIn(g, helperRunc+"="+runc)
		waitCreate(i + 1)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	release()
	// What the kill left, once containerd gave up on both creates: a
	// shim for each group, and no task.
	for _, g := range []*core.Group{kept, deleted} {
		waitDeleteFailed(ctrID(g.ID, "c"))
		if len(shimsOf(e.addr, g.ID)) == 0 {
			t.Fatalf("no shim of %s after the kill: the window was not reproduced", g.Name)
		}
		if ts := e.tasksOf(g.ID); len(ts) > 0 {
			t.Fatalf("containerd lists tasks %v of %s after the kill: the window was not reproduced", ts, g.Name)
		}
	}

	e.rt = e.newRuntime()
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), kept) })
	if err := e.rt.Sync(context.Background(), []*core.Group{kept}); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(kept.ID, 60*time.Second, allRunning)
	if st.Containers[0].RestartCount != 0 || hasEvent(st, "Failed", "") {
		t.Errorf("the re-adopted group failed before it ran:\n%s", runtimetest.Dump(st))
	}
	if n := len(shimsOf(e.addr, kept.ID)); n != 1 {
		t.Errorf("%d shims of the re-adopted group, want its task's one", n)
	}
	if s := shimsOf(e.addr, deleted.ID); len(s) > 0 {
		t.Errorf("shim of the deleted group left: %+v", s)
	}
	e.assertGone(deleted.ID)
	if err := e.rt.Remove(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
	e.assertGone(kept.ID)
}

// tasksOf lists the tasks containerd shows for group id's containers.
func (e *env) tasksOf(id string) []string {
	var out []string
	for _, c := range testenv.ContainerdTasks(e.t, e.addr, testNS) {
		if strings.HasPrefix(c, id+"_") {
			out = append(out, c)
		}
	}
	return out
}

// TestContainerdKillWhileTaskCreates: containerd is SIGKILLed while it
// creates a container's task (its shim is up, `runc create` runs), and
// the create fails; the next containerd re-adopts the shim from its
// bundle, though it holds no container: containerd then says the task
// does not exist to Get and Delete by container, and that it already
// exists to Create, so the group stayed Pending and its delete never
// finished (reliability defect 2). The group must start once containerd
// is back, and its removal must leave nothing.
func TestContainerdKillWhileTaskCreates(t *testing.T) {
	e := newEnv(t)
	pc := startPrivateContainerd(t)
	e.addr = pc.sock
	e.rt.Close()
	runc, waitCreate, release, _ := holdingRunc(t, true)
	testRuncBinary = runc
	t.Cleanup(func() { testRuncBinary = "" })
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	g := e.group("ctrd-killed", ip(175), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	waitCreate(1)
	pc.kill()
	release()
	pc.start()
	st := e.waitStatus(g.ID, 2*time.Minute, allRunning)
	t.Logf("running after %d failed attempts", st.Containers[0].RestartCount)
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g.ID)
}

// TestLeftoverBundleStartsAtOnce: a container's task bundle is still on
// disk when its task is created (a shim of the killed kcid's attempt has
// just died and containerd's clean-up of it is not done, or never will
// be); the create failed with `failed to start shim: mkdir …: file
// exists` and the container waited out a restart back-off, ~9 s slower
// starts after a kill. The leftover must be cleaned up front: the group
// runs without a failed attempt.
func TestLeftoverBundleStartsAtOnce(t *testing.T) {
	e := newEnv(t)
	pc := startPrivateContainerd(t)
	e.addr = pc.sock
	e.rt.Close()
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	g := e.group("leftover-bundle", ip(176), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	bundle := filepath.Join(pc.dir, "state", bundleTaskDir, testNS, ctrID(g.ID, "c"))
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.start(g)
	st := e.waitStatus(g.ID, time.Minute, allRunning)
	if st.Containers[0].RestartCount != 0 || hasEvent(st, "Failed", "") || hasEvent(st, "BackOff", "") {
		t.Errorf("the container failed before it ran:\n%s", runtimetest.Dump(st))
	}
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g.ID)
}
