package testenv

import (
	"os/exec"
	"strings"
)

// RemoveRuntimeChains removes the host-wide iptables chains a containerd
// runtime of identity instanceID keeps after its last group went (its VPC
// isolation chain in filter, its source-keeping chain in nat; see
// internal/runtime/containerd, isolation.go): each test's data dir is a
// new identity.
func RemoveRuntimeChains(instanceID string) {
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
