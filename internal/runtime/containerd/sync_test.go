package containerd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// TestSyncReadopt simulates a kcid restart: the runtime is closed (groups
// keep running), one container dies meanwhile, a half-created group and an
// unlisted one are left behind; a new runtime on the same data dir re-adopts
// the live groups, applies the restart policy to the dead container and
// removes the rest.
func TestSyncReadopt(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	keep := e.group("keep", ip(60), cidr, gw, sid,
		core.Container{Name: "c", Image: e.image, Command: sleeper("echo hello-keep; ")})
	dies := e.group("dies", ip(61), cidr, gw, sid,
		core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	orphan := e.group("orphan", ip(62), cidr, gw, sid,
		core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	for _, g := range []*core.Group{keep, dies, orphan} {
		e.start(g)
	}
	var started time.Time
	for _, g := range []*core.Group{keep, dies, orphan} {
		st := e.waitStatus(g.ID, 30*time.Second, allRunning)
		if g == keep {
			started = *st.Containers[0].Current.StartTime
		}
	}
	e.waitLogs(keep.ID, "c", "hello-keep", 5*time.Second)

	// A group caught mid-create: state written, network attached, no
	// container yet (as after kill -9 during Start).
	half := e.group("half", ip(63), cidr, gw, sid, core.Container{Name: "c", Image: e.image})
	w := newGroup(e.rt, half)
	if err := w.load(); err != nil {
		t.Fatal(err)
	}
	if err := w.setup(false); err != nil {
		t.Fatal(err)
	}
	if err := ping(ip(60)); err != nil {
		t.Fatal(err)
	}

	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	tasks := testenv.ContainerdTasks(t, e.addr, testNS)
	for _, g := range []*core.Group{keep, dies, orphan} {
		if !strings.Contains(strings.Join(tasks, " "), ctrID(g.ID, "c")) {
			t.Fatalf("task of %s stopped with the runtime: %v", g.Name, tasks)
		}
	}
	testenv.Ctr(t, e.addr, testNS, "tasks", "kill", "-s", "KILL", ctrID(dies.ID, "c"))
	time.Sleep(300 * time.Millisecond)

	e.rt = e.newRuntime()
	start := time.Now()
	if err := e.rt.Sync(context.Background(), []*core.Group{keep, dies}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Sync took %v", time.Since(start))
	st := e.waitStatus(keep.ID, 10*time.Second, allRunning)
	c := st.Containers[0]
	if c.RestartCount != 0 || !c.Current.StartTime.Equal(started) {
		t.Errorf("keep was not re-adopted as it ran: %s", runtimetest.Dump(st))
	}
	if logs, _ := e.rt.Logs(context.Background(), keep.ID, "c", 10); logs != "hello-keep\n" {
		t.Errorf("keep's logs after restart: %q", logs)
	}
	if err := ping(ip(60)); err != nil {
		t.Error(err)
	}
	st = e.waitStatus(dies.ID, 20*time.Second, func(s core.GroupStatus) bool {
		return allRunning(s) && s.Containers[0].RestartCount == 1
	})
	if p := st.Containers[0].Previous; p == nil || *p.ExitCode != 137 {
		t.Errorf("dies: %s", runtimetest.Dump(st))
	}
	for _, id := range []string{orphan.ID, half.ID} {
		if _, err := e.rt.Status(context.Background(), id); err == nil {
			t.Errorf("orphan %s is known", id)
		}
		e.assertGone(id)
	}
}

// TestSyncSparesOtherNamespaces: a runtime's orphan sweep never touches
// the groups of a runtime with another namespace whose name it prefixes.
func TestSyncSparesOtherNamespaces(t *testing.T) {
	e := newEnv(t)
	other := &env{t: t, addr: e.addr, dataDir: t.TempDir(), reg: e.reg, image: e.image}
	other.rt = other.newRuntimeNS(testNS + "-other")
	defer func() {
		other.rt.Close()
		testenv.CleanNamespace(e.addr, testNS+"-other")
		_ = removeCgroup("/" + testNS + "-other")
	}()
	cidr, gw, ip, sid := subnet()
	g := other.group("other", ip(10), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	if err := other.rt.Start(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	defer other.rt.Remove(context.Background(), g)
	other.waitStatus(g.ID, 30*time.Second, allRunning)
	if err := e.rt.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if st := other.waitStatus(g.ID, time.Second, allRunning); st.Containers[0].RestartCount != 0 {
		t.Errorf("other runtime's group disturbed: %s", runtimetest.Dump(st))
	}
	if err := ping(ip(10)); err != nil {
		t.Error(err)
	}
}

// TestSyncKeepsConfigVolume: after a kcid restart, a running container
// still reads its ConfigFile volume (re-adoption rewrites the files into
// the directory it bind-mounted, not into a new one).
func TestSyncKeepsConfigVolume(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("conf", ip(64), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command:      sleeper("while true; do echo \"conf=$(cat /conf/app.conf 2>&1)\"; sleep 0.1; done & "),
		VolumeMounts: []core.VolumeMount{{Name: "conf", MountPath: "/conf"}}})
	g.Volumes = []core.Volume{{Name: "conf", Type: core.VolumeConfigFile, ConfigFiles: []core.ConfigFile{
		{Path: "app.conf", Content: []byte("key=value")}}}}
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	e.waitLogs(g.ID, "c", "conf=key=value", 10*time.Second)

	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	e.rt = e.newRuntime()
	if err := e.rt.Sync(context.Background(), []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(g.ID, 10*time.Second, allRunning)
	if st.Containers[0].RestartCount != 0 {
		t.Fatalf("container restarted: %s", runtimetest.Dump(st))
	}
	time.Sleep(500 * time.Millisecond)
	if logs, _ := e.rt.Logs(context.Background(), g.ID, "c", 2); logs != "conf=key=value\nconf=key=value\n" {
		t.Errorf("the running container reads after the restart: %q", logs)
	}
}
