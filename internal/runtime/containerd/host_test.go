package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// natOf returns the nat table's lines that name group id.
func natOf(t *testing.T, id string) []string {
	t.Helper()
	return natLines(t, func(l string) bool { return strings.Contains(l, `id: \"`+id+`\"`) })
}

// natLines returns the lines of iptables-save -t nat that match.
func natLines(t *testing.T, match func(line string) bool) []string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if match(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

// masqueradeOf returns the rules of bridge br's masquerade: its chain's
// and the jumps to it.
func masqueradeOf(t *testing.T, br string) []string {
	t.Helper()
	chain := masqChain(br)
	return natLines(t, func(l string) bool { return strings.Contains(l, "-A "+chain+" ") || strings.HasSuffix(l, "-j "+chain) })
}

// addLegacyNAT gives a group the NAT chain and rules the bridge plugin's
// ipMasq made for every group before kcid masqueraded per bridge (as a
// group attached by an earlier release has them).
func addLegacyNAT(t *testing.T, e *env, g *core.Group) {
	t.Helper()
	name := e.rt.in.networkName(g.Network.SubnetID)
	chain := cniChainName(name, g.ID)
	comment := fmt.Sprintf("name: %q id: %q", name, g.ID)
	for _, args := range [][]string{
		{"-t", "nat", "-N", chain},
		{"-t", "nat", "-A", chain, "-d", g.Network.SubnetCIDR, "-j", "ACCEPT", "-m", "comment", "--comment", comment},
		{"-t", "nat", "-A", "POSTROUTING", "-s", g.Network.PrivateIP, "-j", chain, "-m", "comment", "--comment", comment},
	} {
		if _, err := iptables(context.Background(), args...); err != nil {
			t.Fatal(err)
		}
	}
}

func mustConfList(t *testing.T, conf []byte) *libcni.NetworkConfigList {
	t.Helper()
	l, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSecondInstanceRefused: a second runtime with another data dir and
// the same containerd namespace — on the first one's containerd or on
// another — refuses to start, naming the first; the first one's group
// keeps its netns pin, its bridge's masquerade and its address, and
// deletes cleanly.
func TestSecondInstanceRefused(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("a", ip(30), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	br := e.rt.in.bridgeName(sid)
	nat := masqueradeOf(t, br)
	if len(nat) != 3 {
		t.Fatalf("bridge %s's masquerade: %q", br, nat)
	}

	other := startPrivateContainerd(t)
	for _, c := range []struct{ name, addr string }{{"same containerd", e.addr}, {"another containerd", other.sock}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := New(Config{Address: c.addr, Namespace: testNS, DataDir: dir, CNIBinDirs: []string{testenv.CNIBinDir()},
				Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
			if err == nil {
				b.Close()
				t.Fatal("second runtime started")
			}
			var inUse *HostInUseError
			if !errors.As(err, &inUse) {
				t.Fatalf("err = %v", err)
			}
			for _, want := range []string{fmt.Sprintf(`containerd namespace %q`, testNS), fmt.Sprintf("pid %d", os.Getpid()),
				"data dir " + e.dataDir, "instance " + e.rt.in.ID, "--containerd-namespace"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			t.Logf("refused: %v", err)
		})
	}
	if !isNetNS(e.rt.netnsPath(g.ID)) {
		t.Errorf("netns pin of the first runtime's group is gone")
	}
	if got := masqueradeOf(t, br); !slices.Equal(got, nat) {
		t.Errorf("masquerade changed:\nbefore %q\nafter  %q", nat, got)
	}
	if err := ping(ip(30)); err != nil {
		t.Error(err)
	}
	if st := e.waitStatus(g.ID, time.Second, allRunning); st.Containers[0].RestartCount != 0 {
		t.Errorf("group disturbed: %s", runtimetest.Dump(st))
	}
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g.ID)
}

// TestRedoNetworkAfterAddCutShort reproduces a kcid killed during CNI ADD
// after the bridge plugin attached the group but before the ADD ended
// (before it made the group's NAT chain, when groups had their own): the
// next start undoes the attachment with a DEL, which must not fail, and
// attaches the group again.
func TestRedoNetworkAfterAddCutShort(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("cut", ip(40), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	e.rt.Close()

	// The window: interface attached, ADD not finished (NetworkUp false),
	// no NAT chain yet.
	st, err := readState(e.rt.groupDir(g.ID))
	if err != nil {
		t.Fatal(err)
	}
	st.NetworkUp = false
	writeState(t, e.rt.groupDir(g.ID), st)
	removeNATRules(t, g.ID)

	e.rt = e.newRuntime()
	if err := e.rt.Sync(context.Background(), []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	// The worker redoes the network in the background: wait for it to be
	// recorded up again (done) or a setup failure.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := readState(e.rt.groupDir(g.ID)); err == nil && st.NetworkUp {
			break
		}
		st, _ := e.rt.Status(context.Background(), g.ID)
		if hasEvent(st, "FailedCreatePodSandBox", "") || time.Now().After(deadline) {
			t.Fatalf("network not redone: %s", runtimetest.Dump(st))
		}
	}
	if err := ping(ip(40)); err != nil {
		t.Error(err)
	}
}

// writeState replaces a group's state file.
func writeState(t *testing.T, dir string, st *groupState) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// removeNATRules deletes the group's NAT jump and chain as iptables would
// show them before the bridge plugin's ipMasq step.
func removeNATRules(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := removeNAT(ctx, func(string) bool { return true }, func(g string) bool { return g != id }); err != nil {
		t.Fatal(err)
	}
	if n := natOf(t, id); len(n) > 0 {
		t.Fatalf("NAT rules left: %q", n)
	}
}

// TestNATLeftoversRemoved: a group attached by an earlier release has NAT
// rules of its own (the bridge plugin's ipMasq), which the plugin's DEL
// removes only while it finds the group's interface. Two windows of a
// kcid killed during delete: the interface already gone when the DEL is
// repeated, and every other trace of the group gone but its NAT rules.
// Both leave no rule behind.
func TestNATLeftoversRemoved(t *testing.T) {
	for _, c := range []struct {
		name string
		// cut leaves the group as a kill left it.
		cut func(t *testing.T, e *env, g *core.Group)
	}{
		{"DEL repeated without the interface", func(t *testing.T, e *env, g *core.Group) {
			// The group as an earlier release attached it: its recorded
			// configuration with ipMasq on, and the rules that made.
			e.rt.Close()
			st, err := readState(e.rt.groupDir(g.ID))
			if err != nil {
				t.Fatal(err)
			}
			st.CNIConf = bytes.Replace(st.CNIConf, []byte(`"ipMasq":false`), []byte(`"ipMasq":true`), 1)
			if masq, _ := confIPMasq(mustConfList(t, st.CNIConf).Plugins); !masq {
				t.Fatalf("no ipMasq in %s", st.CNIConf)
			}
			writeState(t, e.rt.groupDir(g.ID), st)
			addLegacyNAT(t, e, g)
			// What the plugin's DEL does first.
			out, err := exec.Command("ip", "netns", "exec", filepath.Base(e.rt.netnsPath(g.ID)), "ip", "link", "delete", ifName).CombinedOutput()
			if err != nil {
				t.Fatalf("delete interface: %v: %s", err, out)
			}
		}},
		{"only the NAT rules left", func(t *testing.T, e *env, g *core.Group) {
			if err := e.rt.Remove(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			// What a DEL cut short leaves of a group an earlier
			// release attached: the plugin's rules, named by this
			// instance.
			addLegacyNAT(t, e, g)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			cidr, gw, ip, sid := subnet()
			g := e.group("nat", ip(50), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
			e.start(g)
			e.waitStatus(g.ID, 30*time.Second, allRunning)
			c.cut(t, e, g)
			e.rt.Close()
			e.rt = e.newRuntime()
			if err := e.rt.Sync(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			if n := natOf(t, g.ID); len(n) > 0 {
				t.Errorf("NAT rules left: %q", n)
			}
			e.assertGone(g.ID)
		})
	}
}

// TestOrphanCgroupWithStrayProcess reproduces a kcid killed during a
// delete that left a process (a shim, `runc init`) in the group's cgroup
// with no task listed: the next start kills it and removes the cgroup.
func TestOrphanCgroupWithStrayProcess(t *testing.T) {
	e := newEnv(t)
	id := "kci-" + randHex(6)
	path := e.rt.groupCgroup(id) + "/main"
	if err := setupGroupCgroup(path, 0.5, 64<<20); err != nil {
		t.Fatal(err)
	}
	stray := exec.Command("sleep", "3600")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- stray.Wait() }()
	t.Cleanup(func() { _ = stray.Process.Kill() })
	for _, d := range cgroupDirs(path) {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(fmt.Sprint(stray.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeCgroup(e.rt.groupCgroup(id)); err == nil {
		t.Fatal("cgroup with a process removed: the window is not reproduced")
	}

	e.rt.Close()
	e.rt = e.newRuntime()
	if err := e.rt.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("stray process still alive")
	}
	e.assertGone(id)
}

// TestStartSurvivesUncleanableOrphan: an orphan that cannot be cleaned
// (a teardown step failing) does not fail the start; it is reported and
// retried until it goes.
func TestStartSurvivesUncleanableOrphan(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("stuck", ip(60), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	e.rt.Close()

	failing := make(chan struct{})
	var fails atomic.Int32
	testHookStep = func(group, step string) error {
		select {
		case <-failing:
			return nil
		default:
		}
		if group == g.ID && step == "cgroup" {
			fails.Add(1)
			return syscall.EBUSY
		}
		return nil
	}
	t.Cleanup(func() { testHookStep = nil })
	e.rt = e.newRuntime()
	if err := e.rt.Sync(context.Background(), nil); err != nil {
		t.Fatalf("start failed on a leftover: %v", err)
	}
	if fails.Load() == 0 {
		t.Fatal("the failing step was not reached")
	}
	close(failing)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(e.rt.groupDir(g.ID)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orphan not removed by the background retry")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.assertGone(g.ID)
}

// TestSweepRemovesUnusedBridge: a bridge of this runtime that serves no
// live group (its groups went while kcid was down) goes at start-up; a
// bridge that is not the runtime's stays.
func TestSweepRemovesUnusedBridge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ours, foreign := e.rt.in.bridgeName("gone-subnet"), "kcitest"+randHex(2)
	for _, br := range []string{ours, foreign} {
		if out, err := exec.Command("ip", "link", "add", br, "type", "bridge").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", br).Run() })
	}
	if err := e.rt.in.markLink(ours); err != nil {
		t.Fatal(err)
	}
	// Masquerades: of the unused bridge, of a bridge of this runtime that
	// is gone (a kill between the two deletes), and another instance's.
	gone := e.rt.in.bridgeName("deleted-subnet")
	other := &cniNet{in: instance{ID: "0ther" + randHex(2), Namespace: testNS}}
	t.Cleanup(func() { _ = removeMasquerade(ctx, foreign) })
	for _, m := range []struct {
		c      *cniNet
		br     string
		subnet string
	}{{e.rt.cni, ours, "10.251.1.0/24"}, {e.rt.cni, gone, "10.251.2.0/24"}, {other, foreign, "10.251.3.0/24"}} {
		if err := m.c.ensureMasquerade(ctx, m.br, netip.MustParsePrefix(m.subnet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rt.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if bridgeExists(ours) {
		t.Errorf("unused bridge %s of the runtime left", ours)
	}
	for _, br := range []string{ours, gone} {
		if m := masqueradeOf(t, br); len(m) > 0 {
			t.Errorf("masquerade of %s left: %q", br, m)
		}
	}
	if !bridgeExists(foreign) {
		t.Errorf("foreign bridge %s removed", foreign)
	}
	if m := masqueradeOf(t, foreign); len(m) != 3 {
		t.Errorf("another instance's masquerade of %s touched: %q", foreign, m)
	}
}

// TestSetupRecovers: a group whose network cannot be set up (its bridge's
// name is taken by a link that is not a bridge) shows CreateError after a
// few tries, and runs once the cause is gone: setup is retried, not given
// up for good.
func TestSetupRecovers(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("recover", ip(70), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	blocker := e.rt.in.bridgeName(sid)
	if out, err := exec.Command("ip", "link", "add", blocker, "type", "veth", "peer", "name", "kcipeer"+randHex(3)).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", blocker).Run() })
	e.start(g)
	st := e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseCreateError })
	if !hasEvent(st, "FailedCreatePodSandBox", "") {
		t.Errorf("no event says why: %s", runtimetest.Dump(st))
	}
	if out, err := exec.Command("ip", "link", "delete", blocker).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	if err := ping(ip(70)); err != nil {
		t.Error(err)
	}
}

// TestUpgradeKeepsLegacyNames: a data dir of a release before identities
// (groups/ present, no instance.json) keeps the names its running group
// already has — the netns pin, the cgroup under /<namespace>, the bridge
// hashed from the namespace — so the group is adopted without a restart,
// its bridge becomes the runtime's own, and it deletes cleanly.
func TestUpgradeKeepsLegacyNames(t *testing.T) {
	e := newEnv(t)
	e.rt.Close()
	// A data dir as the earlier release left it: groups/, no identity.
	if err := os.Remove(filepath.Join(e.dataDir, instanceFile)); err != nil {
		t.Fatal(err)
	}
	e.rt = e.newRuntime()
	in := e.rt.in
	if !in.Legacy || in.ID != oldHash(testNS)[:8] {
		t.Fatalf("identity of an upgraded data dir: %+v", in)
	}
	cidr, gw, ip, sid := subnet()
	g := e.group("old", ip(80), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	// The names the earlier release gave it.
	netns := filepath.Join("/run/netns", "kci-"+oldHash(testNS)[:8]+"-"+g.ID)
	bridge := "kci" + oldHash(testNS + "/" + sid)[:10]
	if !isNetNS(netns) || !bridgeExists(bridge) || cgroupProcs("/"+testNS+"/"+g.ID) == nil {
		t.Fatalf("legacy names not used: netns %v, bridge %v, cgroup procs %v", isNetNS(netns), bridgeExists(bridge), cgroupProcs("/"+testNS+"/"+g.ID))
	}
	// As the earlier release left it: no identity file, no bridge alias.
	e.rt.Close()
	os.Remove(filepath.Join(e.dataDir, instanceFile))
	os.WriteFile(filepath.Join("/sys/class/net", bridge, "ifalias"), []byte("\n"), 0)

	e.rt = e.newRuntime()
	if linkAliasOf(bridge) != e.rt.in.linkAlias() {
		t.Errorf("the upgraded runtime's bridge %s has alias %q", bridge, linkAliasOf(bridge))
	}
	routes, err := e.rt.ForeignRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Device == bridge {
			t.Errorf("its own bridge counted as foreign: %v", r)
		}
	}
	if err := e.rt.Sync(context.Background(), []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if st := e.waitStatus(g.ID, 10*time.Second, allRunning); st.Containers[0].RestartCount != 0 {
		t.Errorf("group restarted by the upgrade: %s", runtimetest.Dump(st))
	}
	if err := ping(ip(80)); err != nil {
		t.Error(err)
	}
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g.ID)
}

// TestStateWriteRecovers: the group's state cannot be written when it is
// created (as on a full disk: here its directory's name is taken by a
// file); the group shows CreateError after a few tries and runs once the
// state can be written (reliability defect 5).
func TestStateWriteRecovers(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("state", ip(90), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	blocker := e.rt.groupDir(g.ID)
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.start(g)
	st := e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseCreateError })
	if !hasEvent(st, "FailedCreatePodSandBox", "group state") {
		t.Errorf("no event says why: %s", runtimetest.Dump(st))
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(g.ID, 30*time.Second, allRunning)
}

// TestSweepDetachesUnmountedDiskLoops: a loop device attached to a disk
// file of this runtime that nothing mounts (a mount cut short) is
// detached at start-up; one attached to a file elsewhere is not this
// kcid's and stays.
func TestSweepDetachesUnmountedDiskLoops(t *testing.T) {
	e := newEnv(t)
	attach := func(file string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("losetup", "-f", "--show", file).CombinedOutput()
		if err != nil {
			t.Fatalf("losetup %s: %v: %s", file, err, out)
		}
		dev := strings.TrimSpace(string(out))
		t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
		return dev
	}
	ours := attach(e.rt.diskFile("d-cut-short"))
	foreign := attach(filepath.Join(t.TempDir(), "foreign.img"))
	if err := e.rt.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	devs := loopDevices()
	if f, ok := devs[ours]; ok {
		t.Errorf("%s is still attached to %s", ours, f)
	}
	if _, ok := devs[foreign]; !ok {
		t.Errorf("%s, attached to a file that is not this kcid's, was detached", foreign)
	}
}

// TestSyncReleasesDisksOfGoneGroups: disk records naming a group that is
// gone with nothing else left of it (a kcid killed after writing the
// record, before the group's state) are released at start-up: deleted
// with the file when the group said DeleteWithInstance, else kept with no
// group; a live group keeps its disk.
func TestSyncReleasesDisksOfGoneGroups(t *testing.T) {
	e := newEnv(t)
	rec := func(id, group string, del bool) {
		t.Helper()
		if err := e.rt.writeDiskRecord(&diskRecord{ID: id, Account: "acc-1", SizeGB: 1, Type: "SSD3.0", FsType: "ext4", Group: group, DeleteWithInstance: del}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.rt.diskFile(id), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec("d-gone-delete", "kci-gone000001", true)
	rec("d-gone-keep", "kci-gone000002", false)
	rec("d-live", "kci-live000003", false)
	live := &core.Group{ID: "kci-live000003", AccountID: "acc-1"}
	// The live group is re-adopted and started; only its disk record
	// matters here, so it is removed again when the test ends.
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), live) })
	if err := e.rt.Sync(context.Background(), []*core.Group{live}); err != nil {
		t.Fatal(err)
	}
	ds, err := e.rt.Disks(context.Background(), "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range ds {
		got[d.ID] = d.GroupID
	}
	if want := map[string]string{"d-gone-keep": "", "d-live": "kci-live000003"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("disks after Sync: %v, want %v", got, want)
	}
	if _, err := os.Stat(e.rt.diskFile("d-gone-delete")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file of the disk deleted with its gone group: %v", err)
	}
}
