package containerd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/openkci/openkci/internal/core"
	"golang.org/x/sys/unix"
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
// host, if given, is the address the host has on the group's subnet (its
// gateway): always let in, as Kubernetes always lets a node reach its
// pods, for kcid's HTTP and TCP probes (docs/networking.md).
func firewallScript(in instance, host string, rules []core.SecurityGroupRule) string {
	inChain, outChain := in.firewallChains()
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", inChain, outChain)
	fmt.Fprintf(&b, "-A INPUT -j %s\n-A OUTPUT -j %s\n", inChain, outChain)
	for _, c := range []struct{ chain, dir, iface, peer string }{{inChain, "in", "-i", "-s"}, {outChain, "out", "-o", "-d"}} {
		fmt.Fprintf(&b, "-A %s %s lo -j ACCEPT\n", c.chain, c.iface)
		fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", c.chain)
		if c.dir == "in" && host != "" {
			fmt.Fprintf(&b, "-A %s -s %s/32 -m comment --comment \"the host: probes\" -j ACCEPT\n", c.chain, host)
		}
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

// firewallScript6 renders the ip6tables-restore input of every group:
// kcid's networks are IPv4 only, and without it groups on one bridge
// would reach each other over their IPv6 link-local addresses whatever
// the rules say. Loopback stays open.
func firewallScript6() string {
	return "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n" +
		"-A INPUT -i lo -j ACCEPT\n-A OUTPUT -o lo -j ACCEPT\nCOMMIT\n"
}

// applyFirewall replaces the IPv4 filter table of the netns at netnsPath
// with the group's rules (the host let in) and, with ipv6, its IPv6 filter
// table with no traffic but loopback. The IPv6 table does not depend on
// the rules: a group's setup writes it, a change of rules need not.
//
// The netns is entered once per apply (inNamespace): iptables-restore
// and ip6tables-restore start from a thread in it, and inherit its netns
// (rather than an nsenter process per restore).
func applyFirewall(ctx context.Context, in instance, netnsPath, host string, rules []core.SecurityGroupRule, ipv6 bool) error {
	restores := []restore{{"iptables-restore", firewallScript(in, host, rules)}}
	if ipv6 {
		restores = append(restores, restore{"ip6tables-restore", firewallScript6()})
	}
	if err := inNamespace(unix.CLONE_NEWNET, netnsPath, func() error { return runRestores(ctx, netnsPath, restores) }); err != nil {
		return fmt.Errorf("apply security-group rules: %w", err)
	}
	return nil
}

// restore is one table's replacement: the restore command and its input.
type restore struct{ cmd, script string }

// runRestores runs the restores in order from the calling thread (locked,
// in the group's netns). A restore dies with that thread (Pdeathsig), so a
// restore of older rules started by a kcid that was killed cannot commit
// after the next kcid applied newer ones.
func runRestores(ctx context.Context, netnsPath string, restores []restore) error {
	for _, t := range restores {
		cmd := exec.CommandContext(ctx, t.cmd, "-w", "5")
		cmd.Stdin = strings.NewReader(t.script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s in %s: %v: %s", t.cmd, netnsPath, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// EnforceSecurityGroups makes the runtime filter every group's traffic by
// the rules of its security groups, read through rules
// (service.SecurityGroupEnforcer). Without it groups are not filtered.
func (r *Runtime) EnforceSecurityGroups(rules func(id string) ([]core.SecurityGroupRule, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sgRules = rules
}

// groupRules returns the union of the current rules of a group's security
// groups, and whether rules are enforced at all.
func (r *Runtime) groupRules(g *core.Group) ([]core.SecurityGroupRule, bool) {
	r.mu.Lock()
	lookup := r.sgRules
	r.mu.Unlock()
	if lookup == nil {
		return nil, false
	}
	var out []core.SecurityGroupRule
	for _, id := range g.Network.SecurityGroupIDs {
		rules, _ := lookup(id) // a security group that is gone has no rules
		out = append(out, rules...)
	}
	return out, true
}

// changeParallelism bounds the netns updated at once by one change.
const changeParallelism = 8

// SecurityGroupsChanged re-applies the rules of every group of the runtime
// in one of the security groups ids; a group without its netns yet reads
// them itself before its containers start. A group whose update failed is
// retried at its next resync.
func (r *Runtime) SecurityGroupsChanged(ctx context.Context, ids []string) error {
	r.mu.Lock()
	var affected []*group
	for _, g := range r.groups {
		if slices.ContainsFunc(g.spec.Network.SecurityGroupIDs, func(id string) bool { return slices.Contains(ids, id) }) {
			affected = append(affected, g)
		}
	}
	r.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, changeParallelism)
	)
	for _, g := range affected {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := g.refreshFirewall(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("group %s: %w", g.spec.ID, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// applyFirewall filters the group's netns by its current rules, both
// tables, when rules are enforced (the group's setup).
func (g *group) applyFirewall(ctx context.Context) error {
	return g.applyTables(ctx, true)
}

// applyTables applies the group's current rules, the IPv6 table too with
// ipv6 or when the last apply failed. Applies of one group are serialised
// and each reads the rules when it runs, so the last one applies the
// latest rules.
func (g *group) applyTables(ctx context.Context, ipv6 bool) error {
	g.fwMu.Lock()
	defer g.fwMu.Unlock()
	rules, enforced := g.r.groupRules(g.spec)
	if !enforced {
		return nil
	}
	err := applyFirewall(ctx, g.r.in, g.netns, groupGateway(g.spec), rules, ipv6 || g.fwStale)
	g.fwStale = err != nil
	return err
}

// refreshFirewall re-applies the rules of a group whose netns exists (a
// group setting up applies them again after CNI ADD, reading the latest
// rules); a group being removed is left alone. Only the IPv4 table
// changes with the rules; after a failed apply both are applied.
func (g *group) refreshFirewall(ctx context.Context) error {
	if g.ctx.Err() != nil || !isNetNS(g.netns) {
		return nil
	}
	err := g.applyTables(ctx, false)
	if err != nil {
		g.r.log.Error("security group rules not applied; retrying at the next resync", "group", g.spec.ID, "err", err)
	}
	return err
}

// retryFirewall re-applies rules whose last apply failed (from resync).
func (g *group) retryFirewall() {
	g.fwMu.Lock()
	stale := g.fwStale
	g.fwMu.Unlock()
	if stale && g.refreshFirewall(g.ctx) == nil {
		g.logf("security group rules applied after a failure")
	}
}

// groupGateway is the host's address on the group's subnet, "" if it
// cannot be told.
func groupGateway(g *core.Group) string {
	if g.Network.Gateway != "" {
		return g.Network.Gateway
	}
	p, err := netip.ParsePrefix(g.Network.SubnetCIDR)
	if err != nil {
		return ""
	}
	return p.Masked().Addr().Next().String()
}
