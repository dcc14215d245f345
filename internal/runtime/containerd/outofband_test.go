package containerd

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// TestRemovedOutOfBand: a task that someone deletes or kills under a
// running kcid with ctr, or whose shim is killed, is restarted by the
// group's policy (Always) or leaves the group Failed (Never). A deletion
// with ctr kills the task first, so kcid sees the kill's exit (137); a task
// that vanishes without an exit status (its shim killed) is lost, with an
// event saying so.
func TestRemovedOutOfBand(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	for i, tc := range []struct {
		name      string
		policy    core.RestartPolicy
		remove    func(t *testing.T, id string)
		lostEvent bool // a ContainerLost event is expected
	}{
		{"task deleted, Always", core.RestartAlways, func(t *testing.T, id string) {
			testenv.Ctr(t, e.addr, testNS, "tasks", "rm", "-f", id)
		}, false},
		{"task killed and container deleted, Never", core.RestartNever, func(t *testing.T, id string) {
			testenv.Ctr(t, e.addr, testNS, "tasks", "kill", "-s", "KILL", id)
			// ctr refuses while the task exists: kcid deletes it on the exit.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				_, err := testenv.CtrE(e.addr, testNS, "containers", "rm", id)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal(err)
				}
			}
		}, false},
		{"shim killed, Always", core.RestartAlways, func(t *testing.T, id string) { killShim(t, e, id) }, true},
		{"shim killed, Never", core.RestartNever, func(t *testing.T, id string) { killShim(t, e, id) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := e.group("oob", ip(150+i), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
			g.RestartPolicy = tc.policy
			e.start(g)
			e.waitStatus(g.ID, 30*time.Second, allRunning)
			tc.remove(t, ctrID(g.ID, "c"))
			var st core.GroupStatus
			if tc.policy == core.RestartAlways {
				st = e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool {
					return allRunning(s) && s.Containers[0].RestartCount == 1
				})
				if p := st.Containers[0].Previous; p == nil || *p.ExitCode != 137 {
					t.Errorf("previous attempt: %s", runtimetest.Dump(st))
				}
			} else {
				e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseFailed })
				time.Sleep(2 * e.rt.cfg.ResyncInterval) // resyncs must not change it
				st = e.waitStatus(g.ID, time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseFailed })
				if c := st.Containers[0].Current; c == nil || c.State != core.StateTerminated || *c.ExitCode != 137 {
					t.Errorf("current attempt: %s", runtimetest.Dump(st))
				}
			}
			if got := hasEvent(st, lifecycle.EventReasonLost, "Container c: "+goneTask); got != tc.lostEvent {
				t.Errorf("ContainerLost event: %v, want %v: %s", got, tc.lostEvent, runtimetest.Dump(st))
			}
		})
	}
}

// killShim kills the shim of a task with SIGKILL.
func killShim(t *testing.T, e *env, id string) {
	t.Helper()
	pid := 0
	for _, l := range strings.Split(testenv.Ctr(t, e.addr, testNS, "tasks", "ls"), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == id {
			pid, _ = strconv.Atoi(f[1])
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if pid == 0 || err != nil {
		t.Fatalf("task %s: pid %d: %v", id, pid, err)
	}
	ppid := 0
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			ppid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid)); !strings.HasPrefix(string(comm), "containerd-shim") {
		t.Fatalf("parent %d of task %s is %q, not a shim", ppid, id, comm)
	}
	if err := syscall.Kill(ppid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestResyncFindsRemoved: what no watch reports (here: no watch runs, as
// for a watch that missed it) is found by the periodic resync: a task and
// container removed with ctr end the attempt as lost, with an event, and
// the restart policy applies.
func TestResyncFindsRemoved(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("resync", ip(160), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	// The runtime stops (its watches end, the task keeps running); a
	// worker of a new runtime loads the group's state but watches nothing.
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	e.rt = e.newRuntime()
	w := newGroup(e.rt, g)
	if err := w.load(); err != nil {
		t.Fatal(err)
	}
	w.resync()
	if st := w.status(); !allRunning(st) {
		t.Fatalf("resync changed a running group: %s", runtimetest.Dump(st))
	}
	testenv.Ctr(t, e.addr, testNS, "tasks", "rm", "-f", ctrID(g.ID, "c"))
	testenv.Ctr(t, e.addr, testNS, "containers", "rm", ctrID(g.ID, "c"))
	w.resync()
	st := w.status()
	c := st.Containers[0]
	if c.Previous == nil || *c.Previous.ExitCode != lifecycle.LostExitCode || c.Previous.Reason != lifecycle.ReasonContainerStatusUnknown ||
		!hasEvent(st, lifecycle.EventReasonLost, "Container c: "+goneContainer) {
		t.Errorf("after resync: %s", runtimetest.Dump(st))
	}
	// The restart itself, by the runtime's own worker.
	w.cancel()
	if err := e.rt.Sync(context.Background(), []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool { return allRunning(s) && s.Containers[0].RestartCount == 1 })
}
