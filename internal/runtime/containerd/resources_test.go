package containerd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

func readCgroup(t *testing.T, ctrl, path, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cgroupMount, ctrl, path, file))
	if err != nil {
		t.Errorf("cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestLimitsAndOOM: the group's CPU and memory are a parent cgroup, the
// containers' limits sit inside it; a container exceeding its memory (or
// the group's) is OOMKilled.
func TestLimitsAndOOM(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	const mib = 1.0 / 1024
	g := e.group("limits", ip(70), cidr, gw, sid,
		core.Container{Name: "lim", Image: e.image, CPU: 0.25, Memory: 64 * mib, Command: sleeper("")},
		core.Container{Name: "free", Image: e.image, Command: sleeper("")})
	g.CPU, g.Memory = 0.5, 256*mib
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	gp := e.rt.groupCgroup(g.ID)
	type check struct{ ctrl, path, file, want string }
	checks := []check{
		{"memory", gp, "memory.limit_in_bytes", "268435456"},
		{"cpu", gp, "cpu.cfs_quota_us", "50000"},
		{"memory", gp + "/lim", "memory.limit_in_bytes", "67108864"},
		{"cpu", gp + "/lim", "cpu.cfs_quota_us", "25000"},
		{"cpu", gp + "/free", "cpu.cfs_quota_us", "-1"},
	}
	if swapAccounting() {
		checks = append(checks,
			check{"memory", gp, "memory.memsw.limit_in_bytes", "268435456"},
			check{"memory", gp + "/lim", "memory.memsw.limit_in_bytes", "67108864"})
	}
	if cgroupV2() {
		checks = []check{
			{"", gp, "memory.max", "268435456"},
			{"", gp, "cpu.max", "50000 100000"},
			{"", gp + "/lim", "memory.max", "67108864"},
			{"", gp + "/lim", "cpu.max", "25000 100000"},
			{"", gp + "/free", "cpu.max", "max 100000"},
		}
	}
	for _, c := range checks {
		if got := readCgroup(t, c.ctrl, c.path, c.file); got != c.want {
			t.Errorf("%s %s/%s = %s, want %s", c.ctrl, c.path, c.file, got, c.want)
		}
	}

	// Container limit exceeded; group limit exceeded by a container
	// without a limit of its own.
	oom := e.group("oom", ip(71), cidr, gw, sid,
		core.Container{Name: "own", Image: e.image, Memory: 32 * mib,
			Command: []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"}},
		core.Container{Name: "group", Image: e.image,
			Command: []string{"sh", "-c", "sleep 0.5; dd if=/dev/zero of=/dev/null bs=100M count=1"}})
	oom.Memory = 48 * mib
	oom.RestartPolicy = core.RestartNever
	e.start(oom)
	st := e.waitStatus(oom.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseFailed })
	for _, n := range []string{"own", "group"} {
		if s := terminated(st, n); s == nil || s.Reason != "OOMKilled" || *s.ExitCode != 137 {
			t.Errorf("%s: %s\n%s", n, runtimetest.State(s), runtimetest.Dump(st))
		}
	}
	if !hasEvent(st, "OOMKilling", "own") {
		t.Errorf("no OOMKilling event:\n%s", runtimetest.Dump(st))
	}
}

// TestRequests: ContainerSpec's requests on the container's cgroup: CPU
// shares of 1024 per core and the memory soft limit, next to the limits.
func TestRequests(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	const mib = 1.0 / 1024
	g := e.group("requests", ip(72), cidr, gw, sid,
		core.Container{Name: "req", Image: e.image, CPU: 0.5, RequestCPU: 0.25, Memory: 128 * mib, RequestMemory: 64 * mib, Command: sleeper("")},
		core.Container{Name: "none", Image: e.image, Command: sleeper("")})
	g.CPU, g.Memory = 1, 256*mib
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	gp := e.rt.groupCgroup(g.ID)
	type check struct{ ctrl, path, file, want string }
	checks := []check{
		{"cpu", gp + "/req", "cpu.shares", "256"},
		{"cpu", gp + "/req", "cpu.cfs_quota_us", "50000"},
		{"memory", gp + "/req", "memory.soft_limit_in_bytes", "67108864"},
		{"memory", gp + "/req", "memory.limit_in_bytes", "134217728"},
		{"cpu", gp + "/none", "cpu.shares", "1024"}, // the kernel's default
	}
	if cgroupV2() {
		checks = []check{
			{"", gp + "/req", "cpu.weight", "10"}, // runc: 1 + (256-2)*9999/262142
			{"", gp + "/req", "cpu.max", "50000 100000"},
			{"", gp + "/req", "memory.low", "67108864"},
			{"", gp + "/req", "memory.max", "134217728"},
			{"", gp + "/none", "cpu.weight", "100"},
		}
	}
	for _, c := range checks {
		if got := readCgroup(t, c.ctrl, c.path, c.file); got != c.want {
			t.Errorf("%s %s/%s = %s, want %s", c.ctrl, c.path, c.file, got, c.want)
		}
	}
}

// TestVolumes: an EmptyDir shared by two containers (read-only in one),
// a ConfigFile volume with modes, read-only.
func TestVolumes(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("vols", ip(80), cidr, gw, sid,
		core.Container{Name: "writer", Image: e.image,
			Command: sleeper("echo shared-data > /data/f; touch /conf/x 2>/dev/null && echo CONF_WRITABLE; " +
				"cat /conf/app.conf /conf/sub/secret; stat -c '%a %n' /conf/app.conf /conf/sub/secret; echo WRITER_DONE; "),
			VolumeMounts: []core.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "conf", MountPath: "/conf"}}},
		core.Container{Name: "reader", Image: e.image,
			Command:      sleeper("until [ -f /data/f ]; do sleep 0.1; done; cat /data/f; touch /data/g 2>/dev/null || echo DATA_READONLY; "),
			VolumeMounts: []core.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}}})
	g.Volumes = []core.Volume{
		{Name: "data", Type: core.VolumeEmptyDir},
		{Name: "conf", Type: core.VolumeConfigFile, DefaultMode: 0o640, ConfigFiles: []core.ConfigFile{
			{Path: "app.conf", Content: []byte("key=value\n")},
			{Path: "sub/secret", Content: []byte("s3cret\n"), Mode: 0o600},
		}},
	}
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	out := e.waitLogs(g.ID, "writer", "WRITER_DONE", 10*time.Second)
	for _, want := range []string{"key=value\n", "s3cret\n", "640 /conf/app.conf\n", "600 /conf/sub/secret\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("writer lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CONF_WRITABLE") {
		t.Errorf("config volume is writable")
	}
	out = e.waitLogs(g.ID, "reader", "DATA_READONLY", 10*time.Second)
	if !strings.Contains(out, "shared-data\n") {
		t.Errorf("reader:\n%s", out)
	}
}

// TestEBSVolume: a declared disk is made (sparse), formatted once, mounted
// into the group and released (unmounted, loop device freed) on Remove;
// its data outlives the group.
func TestEBSVolume(t *testing.T) {
	e := newEnv(t)
	diskID := "d-" + randHex(4)
	e.rt.Close()
	e.disks = []core.Disk{{ID: diskID, AccountID: "acc-1", SizeGB: 1}}
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	mk := func(name, cmd string) *core.Group {
		g := e.group(name, ip(120), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
			Command: sleeper(cmd), VolumeMounts: []core.VolumeMount{{Name: "disk", MountPath: "/disk"}}})
		g.Volumes = []core.Volume{{Name: "disk", Type: core.VolumeEBS, EBS: &core.EBSVolume{VolumeID: diskID, FsType: "ext4"}}}
		return g
	}
	g1 := mk("ebs1", "grep ' /disk ' /proc/mounts; echo kept > /disk/file; sync; echo WROTE; ")
	e.start(g1)
	out := e.waitLogs(g1.ID, "c", "WROTE", 30*time.Second)
	if !strings.Contains(out, "ext4") {
		t.Errorf("disk not mounted as ext4:\n%s", out)
	}
	if fi, err := os.Stat(e.rt.diskFile(diskID)); err != nil || fi.Size() != 1<<30 {
		t.Errorf("disk file: %v", err)
	}
	if err := e.rt.Remove(context.Background(), g1); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g1.ID)
	if devs := testenv.LoopDevicesBackedUnder(t, e.dataDir); len(devs) != 0 {
		t.Errorf("loop devices left: %v", devs)
	}

	g2 := mk("ebs2", "cat /disk/file; echo READ; ")
	e.start(g2)
	if out := e.waitLogs(g2.ID, "c", "READ", 30*time.Second); !strings.Contains(out, "kept\n") {
		t.Errorf("data did not survive (disk re-formatted?):\n%s", out)
	}
	if err := e.rt.Remove(context.Background(), g2); err != nil {
		t.Fatal(err)
	}
	if devs := testenv.LoopDevicesBackedUnder(t, e.dataDir); len(devs) != 0 {
		t.Errorf("loop devices left: %v", devs)
	}
}
