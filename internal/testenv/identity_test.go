package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCleanKcidFindsLeftovers plants on the host what a kcid of a made-up
// identity could leave — a group's netns pin and cgroup, a bridge with
// its alias, the bridge's masquerade chain and the jump to it, a rule of
// its isolation chain — next to what a kcid keeps for life (its VPC
// chains, empty, and their jumps, the cgroup level of its identity) and
// another identity's netns pin. CleanKcid must report each leftover as
// leaked, nothing kept for life and nothing of the other identity, and
// remove them all.
func TestCleanKcidFindsLeftovers(t *testing.T) {
	RequireRoot(t)
	cgroupBase := "/sys/fs/cgroup" // the unified hierarchy, or one of v1's
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		cgroupBase = "/sys/fs/cgroup/pids"
	}
	ctrd := Containerd(t)
	randID := func() string {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	id, other := randID(), randID()
	ID := strings.ToUpper(id)
	ns := "kcitestenv-" + id
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "runtime"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "runtime", "instance.json"), []byte(`{"id":"`+id+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CtrE(ctrd, "default", "namespaces", "create", ns); err != nil {
		t.Fatal(err)
	}
	br := "kcz" + id
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
	}
	pin, otherPin := "kci-"+id+"-g1", "kci-"+other+"-g1"
	run("ip", "netns", "add", pin)
	run("ip", "netns", "add", otherPin)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "delete", pin).Run()
		_ = exec.Command("ip", "netns", "delete", otherPin).Run()
	})
	run("ip", "link", "add", br, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", br).Run() })
	run("ip", "link", "set", br, "alias", "kcid:"+id)
	masq := "KCI-MASQ-" + br
	jump := []string{"POSTROUTING", "-s", "10.254.251.0/24", "-m", "comment", "--comment", "kcid:" + id, "-j", masq}
	run("iptables", "-w", "5", "-t", "nat", "-N", masq)
	run("iptables", append([]string{"-w", "5", "-t", "nat", "-A"}, jump...)...)
	run("iptables", "-w", "5", "-t", "nat", "-N", "KCI-NOMASQ-"+ID)
	run("iptables", "-w", "5", "-t", "nat", "-A", "POSTROUTING", "-j", "KCI-NOMASQ-"+ID)
	run("iptables", "-w", "5", "-t", "filter", "-N", "KCI-ISO-"+ID)
	run("iptables", "-w", "5", "-t", "filter", "-A", "FORWARD", "-j", "KCI-ISO-"+ID)
	run("iptables", "-w", "5", "-t", "filter", "-A", "KCI-ISO-"+ID, "-i", br, "-j", "DROP")
	t.Cleanup(func() {
		_ = exec.Command("iptables", append([]string{"-w", "5", "-t", "nat", "-D"}, jump...)...).Run()
		RemoveBridgeMasquerade(br)
		RemoveRuntimeChains(id)
	})
	level := filepath.Join(cgroupBase, ns, "kcid-"+id)
	group := filepath.Join(level, "g1")
	if err := os.MkdirAll(group, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []string{group, level, filepath.Dir(level)} {
			_ = os.Remove(d)
		}
	})

	leaked, notes := CleanKcid(ctrd, ns, dataDir)
	if len(notes) > 0 {
		t.Errorf("notes: %q", notes)
	}
	want := []string{
		"netns /run/netns/" + pin,
		"bridge " + br,
		"cgroup " + group,
		"iptables nat chain " + masq,
		"iptables filter rule -A KCI-ISO-" + ID + " -i " + br + " -j DROP",
	}
	for _, w := range want {
		if !slices.Contains(leaked, w) {
			t.Errorf("leaked lacks %q", w)
		}
	}
	jumpFound := false
	for _, l := range leaked {
		if strings.HasPrefix(l, "iptables nat rule -A POSTROUTING -s 10.254.251.0/24 ") && strings.HasSuffix(l, "-j "+masq) {
			jumpFound = true
		}
	}
	if !jumpFound {
		t.Errorf("leaked lacks the jump to %s", masq)
	}
	if len(leaked) != len(want)+1 {
		t.Errorf("leaked %d objects, want %d:\n  %s", len(leaked), len(want)+1, strings.Join(leaked, "\n  "))
	}
	for _, l := range leaked {
		if strings.Contains(l, other) || strings.HasSuffix(l, "KCI-ISO-"+ID) || strings.HasSuffix(l, "KCI-NOMASQ-"+ID) || l == "cgroup "+level {
			t.Errorf("reported %q, which is kept for life or not this identity's", l)
		}
	}
	in := Identity{ID: id, Bridges: []string{br}}
	if left, err := NetworkObjects(t.Context(), in); err != nil || len(left) > 0 {
		t.Errorf("left after CleanKcid: %v %v", left, err)
	}
	if _, err := os.Stat(group); !os.IsNotExist(err) {
		t.Errorf("cgroup %s not removed: %v", group, err)
	}
	if _, err := os.Stat("/run/netns/" + otherPin); err != nil {
		t.Errorf("the other identity's pin was removed: %v", err)
	}
}
