package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// Egress NAT, one rule set per bridge. The bridge plugin's ipMasq made a
// NAT chain and three rules for every group, eight iptables processes per
// ADD and as many per DEL: under load the ADD, not the container, was the
// slow part of a start. Groups attached now have ipMasq off, and the
// subnet's bridge gets, when this process first attaches a group to it,
//
//	-t nat -N KCI-MASQ-<bridge>
//	-A KCI-MASQ-<bridge> -d <subnet> -m comment --comment kcid:<instance> -j ACCEPT
//	-A KCI-MASQ-<bridge> ! -d 224.0.0.0/4 -m comment --comment kcid:<instance> -j MASQUERADE
//	-A POSTROUTING -s <subnet> -m comment --comment kcid:<instance> -j KCI-MASQ-<bridge>
//
// the plugin's per-group rules for the whole subnet: traffic leaving the
// subnet takes the host's address, except within the VPC (the chain
// KCI-NOMASQ-<ID>, jumped to before, accepts that first: isolation.go).
// They go with the bridge; start-up
// removes those of this instance whose bridge is gone. Groups attached by
// earlier releases keep their per-group rules (their recorded
// configuration has ipMasq on), which their DEL removes.

// masqChainPrefix starts the NAT chain of each bridge's masquerade.
const masqChainPrefix = "KCI-MASQ-"

func masqChain(br string) string { return masqChainPrefix + br }

// confSubnet returns the subnet of a configuration made by netConfList
// (its static address, masked).
func confSubnet(conf []byte) (netip.Prefix, error) {
	var l struct {
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				Addresses []struct {
					Address string `json:"address"`
				} `json:"addresses"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(conf, &l); err != nil {
		return netip.Prefix{}, err
	}
	for _, p := range l.Plugins {
		if p.Type == "bridge" && len(p.IPAM.Addresses) > 0 {
			a, err := netip.ParsePrefix(p.IPAM.Addresses[0].Address)
			if err != nil {
				return netip.Prefix{}, err
			}
			return a.Masked(), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no bridge address in the CNI configuration")
}

// ensureMasquerade puts bridge br's masquerade of subnet in place: the
// chain's rules first, then the jump, so a cut-short setup never sends
// traffic into a half-made chain. Idempotent.
func (c *cniNet) ensureMasquerade(ctx context.Context, br string, subnet netip.Prefix) error {
	chain, comment := masqChain(br), c.in.linkAlias()
	if _, err := iptables(ctx, "-t", "nat", "-N", chain); err != nil && !strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("masquerade of %s: %w", br, err)
	}
	for _, rule := range [][]string{
		{chain, "-d", subnet.String(), "-m", "comment", "--comment", comment, "-j", "ACCEPT"},
		{chain, "!", "-d", "224.0.0.0/4", "-m", "comment", "--comment", comment, "-j", "MASQUERADE"},
		{"POSTROUTING", "-s", subnet.String(), "-m", "comment", "--comment", comment, "-j", chain},
	} {
		if _, err := iptables(ctx, append([]string{"-t", "nat", "-C"}, rule...)...); err == nil {
			continue
		}
		if _, err := iptables(ctx, append([]string{"-t", "nat", "-A"}, rule...)...); err != nil {
			return fmt.Errorf("masquerade of %s: %w", br, err)
		}
	}
	return nil
}

// removeMasquerade removes bridge br's masquerade: the jumps to its
// chain, then the chain. Idempotent.
func removeMasquerade(ctx context.Context, br string) error {
	chain := masqChain(br)
	out, err := iptables(ctx, "-t", "nat", "-S", "POSTROUTING")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		f, err := splitSaved(line)
		if err != nil || len(f) < 2 || f[0] != "-A" || argAfter(f, "-j") != chain {
			continue
		}
		if _, err := iptables(ctx, append([]string{"-t", "nat", "-D"}, f[1:]...)...); err != nil && !notExist(err) {
			return err
		}
	}
	if _, err := iptables(ctx, "-t", "nat", "-F", chain); err != nil {
		if notExist(err) {
			return nil
		}
		return err
	}
	if _, err := iptables(ctx, "-t", "nat", "-X", chain); err != nil && !notExist(err) {
		return err
	}
	return nil
}

// argAfter returns the argument that follows flag in a rule ("" if none).
func argAfter(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

// pruneMasquerade removes the masquerades of this instance (rules with
// its comment) whose bridge no longer exists: a bridge deleted while kcid
// was down, or a kill between deleting a bridge and its rules.
func (c *cniNet) pruneMasquerade(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "iptables-save", "-t", "nat").Output()
	if err != nil {
		return fmt.Errorf("iptables-save -t nat: %w", err)
	}
	comment := c.in.linkAlias()
	gone := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f, err := splitSaved(line)
		if err != nil || len(f) < 2 || f[0] != "-A" || argAfter(f, "--comment") != comment {
			continue
		}
		for _, ch := range []string{f[1], argAfter(f, "-j")} {
			if br, ok := strings.CutPrefix(ch, masqChainPrefix); ok && !bridgeExists(br) {
				gone[br] = true
			}
		}
	}
	var errs []string
	for br := range gone {
		if err := removeMasquerade(ctx, br); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("masquerade of bridges that are gone: %s", strings.Join(errs, "; "))
	}
	return nil
}
