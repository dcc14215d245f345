package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSecondKcidOnNamespaceRefused: kcid A runs a group; kcid B, with
// another data dir and A's containerd namespace (on A's containerd, and on
// a containerd address where none answers, which B would otherwise start
// itself), exits at once with a message naming A and the flag that
// separates them. A's group keeps its netns pin, NAT rules and address,
// and deletes cleanly (docs/host.md).
func TestSecondKcidOnNamespaceRefused(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetHost)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{name: "e2e-first", subnet: subnetHost, script: "sleep 3600"})
	g := waitGroup(t, k, c, id, runningTimeout, "Running", running)
	netns, _ := filepath.Glob("/run/netns/kci-*-" + id)
	if len(netns) != 1 {
		t.Fatalf("group %s: netns %v", id, netns)
	}
	// A's NAT rules: its bridge's masquerade, commented with A's identity
	// (netns pins are kci-<identity>-<group>).
	instance := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(netns[0]), "kci-"), "-"+id)
	nat := natRulesOf(t, "kcid:"+instance)
	if len(nat) == 0 {
		t.Fatalf("group %s: no NAT rules commented kcid:%s", id, instance)
	}

	for _, tc := range []struct{ name, address string }{
		{"same containerd", e.ctrd},
		{"another containerd", filepath.Join(t.TempDir(), "none.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, code := runKcid(t, os.Environ(), "serve", "--listen", "127.0.0.1:0", "--data-dir", dir,
				"--containerd-address", tc.address, "--containerd-namespace", k.ns, "--insecure-no-auth")
			if code != 1 {
				t.Errorf("exit code %d, want 1:\n%s", code, out)
			}
			for _, want := range []string{`containerd namespace "` + k.ns + `" is in use`, "data dir " + k.dataDir, "--containerd-namespace"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, "containerd")); len(ents) > 0 {
				t.Errorf("the refused kcid started a containerd of its own")
			}
		})
	}

	if _, err := os.Stat(netns[0]); err != nil {
		t.Errorf("netns pin of A's group: %v", err)
	}
	if got := natRulesOf(t, "kcid:"+instance); !slices.Equal(got, nat) {
		t.Errorf("NAT rules of A's group changed:\nbefore %q\nafter  %q", nat, got)
	}
	if err := hostPing(g.ip()); err != nil {
		t.Errorf("A's group after B's attempts: %v", err)
	}
	if err := c.call("DeleteContainerGroup", vals("ContainerGroupId", id), nil); err != nil {
		t.Fatalf("delete %s: %v", id, err)
	}
	waitGone(t, k, id, true, goneTimeout)
}

// natRulesOf lists the nat table's rules that contain match.
func natRulesOf(t *testing.T, match string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, match) && strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return rules
}
