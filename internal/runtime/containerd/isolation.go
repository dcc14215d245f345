package containerd

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// VPC isolation. Each subnet is a bridge and the host routes between
// bridges, so without a rule groups of different VPCs would reach each
// other through it. A filter chain jumped to from FORWARD drops traffic
// between every pair of this runtime's bridges that belong to different
// VPCs. Rules are added when a bridge is first attached (under the
// isolation mutex) and removed with the bridge; a stale rule naming a
// bridge that no longer exists matches nothing.

func iptables(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ensureRule appends rule to chain of table unless it is there.
func ensureRule(ctx context.Context, table, chain string, rule ...string) error {
	if _, err := iptables(ctx, append([]string{"-t", table, "-C", chain}, rule...)...); err == nil {
		return nil
	}
	_, err := iptables(ctx, append([]string{"-t", table, "-A", chain}, rule...)...)
	return err
}

// ensureChain makes chain in table and jumps to it first from hook.
func ensureChain(ctx context.Context, table, hook, chain string) error {
	if _, err := iptables(ctx, "-t", table, "-N", chain); err != nil && !strings.Contains(err.Error(), "exists") {
		return err
	}
	if _, err := iptables(ctx, "-t", table, "-C", hook, "-j", chain); err != nil {
		if _, err := iptables(ctx, "-t", table, "-I", hook, "1", "-j", chain); err != nil {
			return err
		}
	}
	return nil
}

// Source addresses within a VPC. The bridge plugin masquerades what a
// group sends outside its subnet, so a group of another subnet of the same
// VPC would be seen coming from its own subnet's gateway, and security
// group rules naming CIDRs could not tell subnets apart (a rule admitting
// the own subnet would admit the whole VPC). The nat chain
// KCI-NOMASQ-<ID>, jumped to first from POSTROUTING, accepts (leaves
// unmasqueraded) what leaves through a subnet's bridge from inside that
// subnet's VPC; traffic to the outside is masqueraded as before.

// isolate records that bridge br carries VPC vpc and drops traffic between
// it and the known bridges of other VPCs. Called with cniNet.isoMu held.
// The VPC's block vpcCIDR (if known) keeps its source addresses on br.
func (c *cniNet) isolate(ctx context.Context, br, vpc, vpcCIDR string) error {
	if c.vpcOf == nil {
		c.vpcOf = map[string]string{}
	}
	if c.vpcOf[br] == vpc && c.chainReady {
		return nil
	}
	chain := c.in.isolationChain()
	if !c.chainReady {
		if err := ensureChain(ctx, "filter", "FORWARD", chain); err != nil {
			return err
		}
		if err := ensureChain(ctx, "nat", "POSTROUTING", c.in.noMasqChain()); err != nil {
			return err
		}
		c.chainReady = true
	}
	if vpcCIDR != "" {
		if err := ensureRule(ctx, "nat", c.in.noMasqChain(), "-o", br, "-s", vpcCIDR, "-j", "ACCEPT"); err != nil {
			return err
		}
	}
	c.vpcOf[br] = vpc
	for other, ov := range c.vpcOf {
		if other == br || ov == vpc {
			continue
		}
		for _, pair := range [][2]string{{br, other}, {other, br}} {
			if err := ensureRule(ctx, "filter", chain, "-i", pair[0], "-o", pair[1], "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	return nil
}

// chains are the runtime's bridge rules: table and chain.
func (c *cniNet) chains() [][2]string {
	return [][2]string{{"filter", c.in.isolationChain()}, {"nat", c.in.noMasqChain()}}
}

// forget removes the rules of a deleted bridge. Called with cniNet.isoMu
// held.
func (c *cniNet) forget(ctx context.Context, br string) {
	delete(c.vpcOf, br)
	for _, tc := range c.chains() {
		out, err := iptables(ctx, "-t", tc[0], "-S", tc[1])
		if err != nil {
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "-A" || !strings.Contains(" "+line+" ", " "+br+" ") {
				continue
			}
			_, _ = iptables(ctx, append([]string{"-t", tc[0], "-D"}, f[1:]...)...)
		}
	}
}

// pruneIsolation removes the isolation and source rules naming bridges
// that no longer exist (a bridge deleted while kcid was down). Called with
// cniNet.isoMu held.
func (c *cniNet) pruneIsolation(ctx context.Context) {
	for _, tc := range c.chains() {
		out, err := iptables(ctx, "-t", tc[0], "-S", tc[1])
		if err != nil {
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "-A" {
				continue
			}
			for i := 2; i+1 < len(f); i++ {
				if (f[i] == "-i" || f[i] == "-o") && !bridgeExists(f[i+1]) {
					_, _ = iptables(ctx, append([]string{"-t", tc[0], "-D"}, f[1:]...)...)
					delete(c.vpcOf, f[i+1])
					break
				}
			}
		}
	}
}
