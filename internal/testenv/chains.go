package testenv

import (
	"os/exec"
	"strings"
)

// RemoveRuntimeChains removes the host-wide iptables chains a containerd
// runtime of identity instanceID keeps after its last group went (its VPC
// isolation chain in filter, its source-keeping chain in nat; see
// internal/runtime/containerd, isolation.go), and its bridges'
// masquerades if a bridge outlived the test: each test's data dir is a
// new identity.
func RemoveRuntimeChains(instanceID string) {
	RemoveMasquerades(instanceID)
	id := strings.ToUpper(instanceID)
	for _, c := range []struct{ table, hook, chain string }{
		{"filter", "FORWARD", "KCI-ISO-" + id},
		{"nat", "POSTROUTING", "KCI-NOMASQ-" + id},
	} {
		for i := 0; i < 10; i++ {
			if exec.Command("iptables", "-w", "5", "-t", c.table, "-D", c.hook, "-j", c.chain).Run() != nil {
				break
			}
		}
		_ = exec.Command("iptables", "-w", "5", "-t", c.table, "-F", c.chain).Run()
		_ = exec.Command("iptables", "-w", "5", "-t", c.table, "-X", c.chain).Run()
	}
}

// RemoveMasquerades removes the NAT masquerades of a containerd runtime's
// bridges (chains KCI-MASQ-<bridge> and the jumps to them, whose rules
// carry the comment kcid:<instance>) made by identity instanceID.
func RemoveMasquerades(instanceID string) {
	out, _ := exec.Command("iptables", "-w", "5", "-t", "nat", "-S").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := SplitRule(line) // iptables quotes a comment with a colon: "kcid:<id>"
		if len(f) < 2 || f[0] != "-A" || !strings.HasPrefix(f[1], "KCI-MASQ-") {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "--comment" && strings.EqualFold(f[i+1], "kcid:"+instanceID) {
				RemoveBridgeMasquerade(strings.TrimPrefix(f[1], "KCI-MASQ-"))
				break
			}
		}
	}
}

// RemoveBridgeMasquerade removes the NAT masquerade a containerd runtime
// made for bridge br: the jumps to KCI-MASQ-<bridge>, then the chain.
func RemoveBridgeMasquerade(br string) {
	chain := "KCI-MASQ-" + br
	out, _ := exec.Command("iptables", "-w", "5", "-t", "nat", "-S", "POSTROUTING").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == "-A" && f[len(f)-1] == chain {
			_ = exec.Command("iptables", append([]string{"-w", "5", "-t", "nat", "-D"}, f[1:]...)...).Run()
		}
	}
	_ = exec.Command("iptables", "-w", "5", "-t", "nat", "-F", chain).Run()
	_ = exec.Command("iptables", "-w", "5", "-t", "nat", "-X", chain).Run()
}
