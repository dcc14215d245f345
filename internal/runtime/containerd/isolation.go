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

// ensureRule appends rule to chain unless it is there.
func ensureRule(ctx context.Context, chain string, rule ...string) error {
	if _, err := iptables(ctx, append([]string{"-C", chain}, rule...)...); err == nil {
		return nil
	}
	_, err := iptables(ctx, append([]string{"-A", chain}, rule...)...)
	return err
}

// isolate records that bridge br carries VPC vpc and drops traffic between
// it and the known bridges of other VPCs. Called with cniNet.isoMu held.
func (c *cniNet) isolate(ctx context.Context, br, vpc string) error {
	if c.vpcOf == nil {
		c.vpcOf = map[string]string{}
	}
	if c.vpcOf[br] == vpc && c.chainReady {
		return nil
	}
	chain := c.in.isolationChain()
	if !c.chainReady {
		if _, err := iptables(ctx, "-N", chain); err != nil && !strings.Contains(err.Error(), "exists") {
			return err
		}
		if _, err := iptables(ctx, "-C", "FORWARD", "-j", chain); err != nil {
			if _, err := iptables(ctx, "-I", "FORWARD", "1", "-j", chain); err != nil {
				return err
			}
		}
		c.chainReady = true
	}
	c.vpcOf[br] = vpc
	for other, ov := range c.vpcOf {
		if other == br || ov == vpc {
			continue
		}
		for _, pair := range [][2]string{{br, other}, {other, br}} {
			if err := ensureRule(ctx, chain, "-i", pair[0], "-o", pair[1], "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	return nil
}

// forget removes the rules of a deleted bridge. Called with cniNet.isoMu
// held.
func (c *cniNet) forget(ctx context.Context, br string) {
	delete(c.vpcOf, br)
	chain := c.in.isolationChain()
	out, err := iptables(ctx, "-S", chain)
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" || !strings.Contains(" "+line+" ", " "+br+" ") {
			continue
		}
		_, _ = iptables(ctx, append([]string{"-D"}, f[1:]...)...)
	}
}

// pruneIsolation removes the isolation rules naming bridges that no longer
// exist (a bridge deleted while kcid was down). Called with cniNet.isoMu
// held.
func (c *cniNet) pruneIsolation(ctx context.Context) {
	out, err := iptables(ctx, "-S", c.in.isolationChain())
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		for i := 2; i+1 < len(f); i++ {
			if (f[i] == "-i" || f[i] == "-o") && !bridgeExists(f[i+1]) {
				_, _ = iptables(ctx, append([]string{"-D"}, f[1:]...)...)
				delete(c.vpcOf, f[i+1])
				break
			}
		}
	}
}
