package containerd

import (
	"bufio"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// TestKillDuringDeleteAtEachStep kills a stand-in kcid (SIGKILL) while it
// deletes a running group, stopped at each named step of the teardown in
// turn; the next start must succeed and leave nothing of the group.
func TestKillDuringDeleteAtEachStep(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	// The stand-ins use e's data dir and namespace.
	e.rt.Close()
	steps := []string{"containers", "network", "netns", "cgroup", "files"}
	var ids []string
	for i, step := range steps {
		g := e.group("step-"+step, ip(140+i), cidr, gw, sid,
			core.Container{Name: "c", Image: e.image, Command: sleeper("")})
		ids = append(ids, g.ID)
		cmd, out := e.startStandIn(g, helperRemove+"=1", helperStopAt+"="+step)
		reached := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "AT "+step) {
					reached <- true
					return
				}
			}
			reached <- false
		}()
		select {
		case ok := <-reached:
			if !ok {
				t.Fatalf("stand-in ended before step %s", step)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("stand-in did not reach step %s", step)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	e.rt = e.newRuntime()
	if err := e.rt.Sync(context.Background(), nil); err != nil {
		t.Fatalf("start after kills during delete: %v", err)
	}
	for i, id := range ids {
		t.Run(steps[i], func(t *testing.T) {
			e := *e
			e.t = t
			e.assertGone(id)
			if n := natOf(t, id); len(n) > 0 {
				t.Errorf("NAT rules left: %q", n)
			}
		})
	}

}
