package containerd

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/openkci/openkci/internal/core"
)

// Security-group filtering (docs/networking.md). A group's rules — the
// union of the rules of its security groups — are enforced inside the
// group's own network namespace, which sees every packet of the group
// whether it is bridged (same subnet) or routed: two chains of table
// filter, jumped to from INPUT (rules "in") and OUTPUT (rules "out"),
// each accepting loopback and conntrack ESTABLISHED,RELATED first and
// dropping what no rule allows last. The whole table of the netns is
// replaced in one iptables-restore, so a change is atomic and a crash
// leaves the old or the new rules.

// firewallChains names a group's two chains with the instance's ID.
func (in instance) firewallChains() (inChain, outChain string) {
	id := strings.ToUpper(in.ID)
	return "KCI-IN-" + id, "KCI-OUT-" + id
}

// firewallScript renders the iptables-restore input of a group's rules.
func firewallScript(in instance, rules []core.SecurityGroupRule) string {
	inChain, outChain := in.firewallChains()
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", inChain, outChain)
	fmt.Fprintf(&b, "-A INPUT -j %s\n-A OUTPUT -j %s\n", inChain, outChain)
	for _, c := range []struct{ chain, dir, iface, peer string }{{inChain, "in", "-i", "-s"}, {outChain, "out", "-o", "-d"}} {
		fmt.Fprintf(&b, "-A %s %s lo -j ACCEPT\n", c.chain, c.iface)
		fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", c.chain)
		for _, r := range rules {
			if r.Direction != c.dir {
				continue
			}
			fmt.Fprintf(&b, "-A %s %s %s%s -m comment --comment %s -j ACCEPT\n", c.chain, c.peer, r.CIDR, matchProtocol(r), strconv.Quote("entry "+r.ID))
		}
		fmt.Fprintf(&b, "-A %s -j DROP\n", c.chain)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// matchProtocol renders the protocol part of a rule's match.
func matchProtocol(r core.SecurityGroupRule) string {
	switch r.Protocol {
	case "tcp", "udp":
		return fmt.Sprintf(" -p %s -m %s --dport %d:%d", r.Protocol, r.Protocol, r.PortFrom, r.PortTo)
	case "icmp":
		switch {
		case r.IcmpType == -1:
			return " -p icmp"
		case r.IcmpCode == -1:
			return fmt.Sprintf(" -p icmp -m icmp --icmp-type %d", r.IcmpType)
		default:
			return fmt.Sprintf(" -p icmp -m icmp --icmp-type %d/%d", r.IcmpType, r.IcmpCode)
		}
	}
	return ""
}

// applyFirewall replaces the filter table of the netns at netnsPath with
// the group's rules.
func applyFirewall(ctx context.Context, in instance, netnsPath string, rules []core.SecurityGroupRule) error {
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+netnsPath, "iptables-restore", "-w", "5")
	cmd.Stdin = strings.NewReader(firewallScript(in, rules))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apply security-group rules in %s: %v: %s", netnsPath, err, strings.TrimSpace(string(out)))
	}
	return nil
}
