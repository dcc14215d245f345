package containerd

import (
	"bufio"
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
)

// TestKillDuringDeleteAtEachStep kills a stand-in kcid (SIGKILL) while it
// deletes a running group, stopped at each named step of the teardown in
// turn; the next start must succeed and leave nothing of the group. Each
// group mounts a disk made on demand: deleted with it (DeleteWithInstance),
// but for the group of the last step, whose disk is kept with no user; no
// loop device stays attached to any of them.
func TestKillDuringDeleteAtEachStep(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	// The stand-ins use e's data dir and namespace.
	e.rt.Close()
	steps := []string{"containers", "network", "netns", "cgroup", "files", "disks"}
	var ids []string
	kept := ""
	for i, step := range steps {
		g := e.group("step-"+step, ip(140+i), cidr, gw, sid,
			core.Container{Name: "c", Image: e.image, Command: sleeper(""), VolumeMounts: []core.VolumeMount{{Name: "disk", MountPath: "/disk"}}})
		g.Volumes = []core.Volume{{Name: "disk", Type: core.VolumeEBS, EBS: &core.EBSVolume{
			VolumeID: "d-" + g.ID, FsType: "ext4", SizeGB: 1, Type: "SSD3.0", DeleteWithInstance: step != "disks"}}}
		if step == "disks" {
			kept = "d-" + g.ID
		}
		ids = append(ids, g.ID)
		cmd, out := e.startStandIn(g, helperRemove+"=1", helperStopAt+"="+step)
		waitForLine(t, out, "AT "+step, "step "+step)
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
	ds, err := e.rt.Disks(context.Background(), "acc-1")
	if err != nil || len(ds) != 1 || ds[0].ID != kept || ds[0].GroupID != "" {
		t.Errorf("disks after the restart: %+v (%v), want only %s, kept with no group", ds, err, kept)
	}
	for dev, file := range loopDevices() {
		if strings.HasPrefix(file, e.rt.disksDir()) {
			t.Errorf("loop device %s still attached to %s", dev, file)
		}
	}

}

// TestKillAfterExitBeforeRecord: a job exits 0 and kcid is SIGKILLed right
// after deleting the task that held the exit status; the exit was recorded
// before, so the next start shows the job Succeeded, not Failed with its
// container lost (reliability defect 6).
func TestKillAfterExitBeforeRecord(t *testing.T) {
	e := newEnv(t)
	e.rt.Close()
	cidr, gw, ip, sid := subnet()
	g := e.group("job", ip(150), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: []string{"sh", "-c", "echo done"}})
	g.RestartPolicy = core.RestartNever
	cmd, out := e.startStandIn(g, helperStopAt+"=task-deleted")
	waitForLine(t, out, "AT task-deleted", "the deletion of the exited task")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	e.rt = e.newRuntime()
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
	if err := e.rt.Sync(context.Background(), []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(g.ID, 20*time.Second, func(s core.GroupStatus) bool {
		return s.Phase == core.PhaseSucceeded || s.Phase == core.PhaseFailed
	})
	if st.Phase != core.PhaseSucceeded || hasEvent(st, "ContainerLost", "") {
		t.Errorf("job after the kill: %s", runtimetest.Dump(st))
	}
}

// waitForLine reads the stand-in's output until a line contains want, and
// fails the test if it ends first or takes over a minute (what: what the
// line means, for the message).
func waitForLine(t *testing.T, out io.Reader, want, what string) {
	t.Helper()
	reached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				reached <- true
				return
			}
		}
		reached <- false
	}()
	select {
	case ok := <-reached:
		if !ok {
			t.Fatalf("stand-in ended before %s", what)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("stand-in did not reach %s", what)
	}
}
