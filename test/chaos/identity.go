package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openkci/openkci/internal/testenv"
)

// The end-of-run leak check. Once every group is deleted, the run's kcid
// may keep only what it keeps for its whole life (docs/host.md): its VPC
// isolation chain in filter and its VPC source chain in nat, each empty
// and jumped to from its hook, and the cgroup level of its identity.
// Anything else on the host that carries the identity is a leak:
// iptables and ip6tables chains and rules of any table (KCI-ISO-<ID>,
// KCI-NOMASQ-<ID>, KCI-MASQ-<bridge>, the bridge plugin's CNI-<hash>,
// rules commented kcid:<id> or with its CNI network, rules naming its
// bridges or jumping to its chains), bridges with its alias (or with its
// names), network namespace pins, cgroups, mounts and loop devices under
// the run's directory, containerd containers, tasks, leases and active
// snapshots in its namespace, shims, group directories and disks still
// held by a group. Everything is found by the identity alone, so a
// second kcid on the machine (another engineer's, another run's) is
// never counted.

// hostObject is one thing on the host that carries the run's identity.
type hostObject struct {
	kind string // "iptables nat chain", "bridge", "netns", ...
	name string // what names it: a chain, a rule as iptables-save prints it, a path
}

func (o hostObject) String() string { return o.kind + " " + o.name }

// identity is how the run's kcid marks what it makes (docs/host.md).
type identity struct {
	id      string   // instance ID, 8 hex digits
	bridges []string // its bridges: those with its alias, and those its subnets are named to
}

func (in identity) upper() string { return strings.ToUpper(in.id) }

// ownsChain reports whether an iptables chain is named after the
// identity.
func (in identity) ownsChain(chain string) bool {
	switch chain {
	case "KCI-ISO-" + in.upper(), "KCI-NOMASQ-" + in.upper():
		return true
	}
	for _, br := range in.bridges {
		if chain == "KCI-MASQ-"+br {
			return true
		}
	}
	return false
}

// marks reports whether an iptables rule carries the identity: its
// comment (kcid:<id>, or the CNI network kci-<id>-<subnet> the bridge
// plugin writes) or one of its bridges as an interface.
func (in identity) marks(rule []string) bool {
	for i, f := range rule {
		switch {
		case strings.Contains(f, "kcid:"+in.id), strings.Contains(f, "kci-"+in.id+"-"):
			return true
		case (f == "-i" || f == "-o" || f == "--physdev-in" || f == "--physdev-out") && i+1 < len(rule):
			for _, br := range in.bridges {
				if rule[i+1] == br {
					return true
				}
			}
		}
	}
	return false
}

// ruleObjects returns the chains and rules of one iptables-save output
// (family: "iptables" or "ip6tables") that belong to the identity: chains
// named after it, chains holding a rule that carries it (the bridge
// plugin's CNI-<hash>), rules in those chains, rules that carry it and
// rules that jump to its chains.
func ruleObjects(family, save string, in identity) []hostObject {
	type rule struct {
		table, chain string
		fields       []string
		text         string
	}
	var rules []rule
	var chains [][2]string // table, chain in order of appearance
	owned := map[[2]string]bool{}
	table := ""
	for _, line := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = strings.TrimPrefix(line, "*")
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(strings.TrimPrefix(line, ":"))
			if len(f) > 0 {
				chains = append(chains, [2]string{table, f[0]})
				if in.ownsChain(f[0]) {
					owned[[2]string{table, f[0]}] = true
				}
			}
		case strings.HasPrefix(line, "-A "):
			f := splitRule(strings.TrimPrefix(line, "-A "))
			if len(f) == 0 {
				continue
			}
			r := rule{table: table, chain: f[0], fields: f, text: line}
			rules = append(rules, r)
			if in.marks(f) && !builtinChain(f[0]) {
				owned[[2]string{table, f[0]}] = true
			}
		}
	}
	var objs []hostObject
	for _, c := range chains {
		if owned[c] {
			objs = append(objs, hostObject{kind: family + " " + c[0] + " chain", name: c[1]})
		}
	}
	for _, r := range rules {
		jump := ""
		for i := 0; i+1 < len(r.fields); i++ {
			if r.fields[i] == "-j" || r.fields[i] == "-g" {
				jump = r.fields[i+1]
			}
		}
		if owned[[2]string{r.table, r.chain}] || owned[[2]string{r.table, jump}] || in.marks(r.fields) {
			objs = append(objs, hostObject{kind: family + " " + r.table + " rule", name: r.text})
		}
	}
	return objs
}

// builtinChain: the hooks, which are nobody's.
func builtinChain(c string) bool {
	switch c {
	case "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING":
		return true
	}
	return false
}

// keptForLife are the objects a kcid with no group keeps while it runs:
// its two VPC chains, empty, and the jumps to them.
func keptForLife(in identity) map[hostObject]bool {
	iso, noMasq := "KCI-ISO-"+in.upper(), "KCI-NOMASQ-"+in.upper()
	return map[hostObject]bool{
		{kind: "iptables filter chain", name: iso}:                       true,
		{kind: "iptables filter rule", name: "-A FORWARD -j " + iso}:     true,
		{kind: "iptables nat chain", name: noMasq}:                       true,
		{kind: "iptables nat rule", name: "-A POSTROUTING -j " + noMasq}: true,
	}
}

// leaks are the objects not kept for life.
func leaks(objs []hostObject, in identity) []hostObject {
	kept := keptForLife(in)
	var out []hostObject
	for _, o := range objs {
		if !kept[o] {
			out = append(out, o)
		}
	}
	return out
}

// identity returns the run's kcid's identity as the host shows it.
func (r *rig) identity() identity {
	id := r.instanceID()
	in := identity{id: id}
	if id == "" {
		return in
	}
	in.bridges = testenv.BridgesWithAlias(func(alias string) bool { return alias == "kcid:"+id })
	if br := bridgeName(id, subnetID); !contains(in.bridges, br) {
		in.bridges = append(in.bridges, br)
	}
	return in
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// identityObjects lists every object on the host that carries the run's
// identity, but the cgroup level of the identity itself (kept for life).
func (r *rig) identityObjects(ctx context.Context) ([]hostObject, error) {
	in := r.identity()
	if in.id == "" {
		return nil, fmt.Errorf("no instance identity in %s yet", r.dataDir)
	}
	var objs []hostObject
	for _, family := range []string{"iptables", "ip6tables"} {
		out, err := run(ctx, family+"-save")
		if err != nil {
			return nil, err
		}
		objs = append(objs, ruleObjects(family, out, in)...)
	}
	for _, br := range in.bridges {
		if linkExists(br) {
			objs = append(objs, hostObject{kind: "bridge", name: br})
		}
	}
	h, err := r.scanHost(ctx)
	if err != nil {
		return nil, err
	}
	add := func(kind string, names []string) {
		for _, n := range names {
			objs = append(objs, hostObject{kind: kind, name: n})
		}
	}
	add("containerd container", h.containers)
	add("containerd task", h.tasks)
	for _, pid := range sortedKeys(h.shims) {
		objs = append(objs, hostObject{kind: "shim", name: fmt.Sprintf("pid %d -id %s", pid, h.shims[pid])})
	}
	add("netns", sortedKeys(h.netns))
	add("cgroup", sortedKeys(h.cgroups))
	add("mount", sortedKeys(h.mounts))
	for _, dev := range sortedKeys(h.loops) {
		objs = append(objs, hostObject{kind: "loop device", name: dev + " of " + h.loops[dev]})
	}
	if out, err := r.ctr("leases", "ls", "-q"); err == nil {
		add("containerd lease", strings.Fields(out))
	}
	if out, err := r.ctr("snapshots", "ls"); err == nil {
		for i, line := range strings.Split(out, "\n") {
			// KEY PARENT KIND: only image layers are committed.
			if f := strings.Fields(line); i > 0 && len(f) >= 2 && f[len(f)-1] == "Active" {
				objs = append(objs, hostObject{kind: "containerd active snapshot", name: f[0]})
			}
		}
	}
	groups, _ := filepath.Glob(filepath.Join(r.dataDir, "runtime", "groups", "*"))
	add("group directory", groups)
	recs, _ := filepath.Glob(filepath.Join(r.dataDir, "runtime", "disks", "*.json"))
	for _, rec := range recs {
		if b, err := os.ReadFile(rec); err == nil && strings.Contains(string(b), `"group":`) {
			objs = append(objs, hostObject{kind: "disk held by a group", name: rec})
		}
	}
	return objs, nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// orphanedByBridge are the objects that serve one of the identity's
// bridges which no longer exists: its masquerade chain (KCI-MASQ-<bridge>)
// and the rules in it or jumping to it, and rules naming the bridge as an
// interface (VPC isolation, VPC source addresses). kcid removes them with
// the bridge, and its start-up removes what a kill left; one that stays is
// a leak even while the run goes on.
func orphanedByBridge(objs []hostObject, in identity, exists func(bridge string) bool) []hostObject {
	gone := map[string]bool{}
	for _, br := range in.bridges {
		if !exists(br) {
			gone[br] = true
		}
	}
	var out []hostObject
	for _, o := range objs {
		if strings.HasSuffix(o.kind, " chain") {
			if br, ok := strings.CutPrefix(o.name, "KCI-MASQ-"); ok && gone[br] {
				out = append(out, o)
			}
			continue
		}
		if !strings.HasSuffix(o.kind, " rule") {
			continue
		}
		f := splitRule(strings.TrimPrefix(o.name, "-A "))
		for i, w := range f {
			br := ""
			switch {
			case (w == "-i" || w == "-o" || w == "-j" || w == "-g") && i+1 < len(f):
				br = strings.TrimPrefix(f[i+1], "KCI-MASQ-")
			case i == 0:
				br = strings.TrimPrefix(w, "KCI-MASQ-")
			}
			if gone[br] {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// bridgeRuleIssues reads the host's rules for orphanedByBridge.
func (r *rig) bridgeRuleIssues(ctx context.Context) ([]violation, error) {
	in := r.identity()
	if in.id == "" {
		return nil, nil
	}
	var objs []hostObject
	for _, family := range []string{"iptables", "ip6tables"} {
		out, err := run(ctx, family+"-save")
		if err != nil {
			return nil, err
		}
		objs = append(objs, ruleObjects(family, out, in)...)
	}
	var vs []violation
	for _, o := range orphanedByBridge(objs, in, linkExists) {
		vs = append(vs, violation{kind: vOrphan, detail: o.String() + ", of a bridge that no longer exists"})
	}
	return vs, nil
}
