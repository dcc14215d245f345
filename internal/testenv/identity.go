package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Finding what a containerd kcid left on the host by its instance
// identity (docs/host.md, "Names of host resources"): used by the chaos
// run's end-of-run check and by CleanKcid, so that a second kcid on the
// machine (another engineer's, another test's) is never counted.

// HostObject is one thing on the host that carries an identity.
type HostObject struct {
	Kind string // "iptables nat chain", "bridge", "netns", ...
	Name string // what names it: a chain, a rule as iptables-save prints it, a path
}

func (o HostObject) String() string { return o.Kind + " " + o.Name }

// Identity is how a kcid marks what it makes.
type Identity struct {
	ID      string   // instance ID, 8 hex digits
	Bridges []string // its bridges: those with its alias, and any the caller knows by name
}

func (in Identity) upper() string { return strings.ToUpper(in.ID) }

// ownsChain reports whether an iptables chain is named after the
// identity.
func (in Identity) ownsChain(chain string) bool {
	switch chain {
	case "KCI-ISO-" + in.upper(), "KCI-NOMASQ-" + in.upper():
		return true
	}
	for _, br := range in.Bridges {
		if chain == "KCI-MASQ-"+br {
			return true
		}
	}
	return false
}

// marks reports whether an iptables rule carries the identity: its
// comment (kcid:<id>, or the CNI network kci-<id>-<subnet> the bridge
// plugin writes) or one of its bridges as an interface.
func (in Identity) marks(rule []string) bool {
	for i, f := range rule {
		switch {
		case strings.Contains(f, "kcid:"+in.ID), strings.Contains(f, "kci-"+in.ID+"-"):
			return true
		case (f == "-i" || f == "-o" || f == "--physdev-in" || f == "--physdev-out") && i+1 < len(rule):
			for _, br := range in.Bridges {
				if rule[i+1] == br {
					return true
				}
			}
		}
	}
	return false
}

// RuleObjects returns the chains and rules of one iptables-save output
// (family: "iptables" or "ip6tables") that belong to the identity: chains
// named after it, chains holding a rule that carries it (the bridge
// plugin's CNI-<hash>), rules in those chains, rules that carry it and
// rules that jump to its chains.
func RuleObjects(family, save string, in Identity) []HostObject {
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
			f := SplitRule(strings.TrimPrefix(line, "-A "))
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
	var objs []HostObject
	for _, c := range chains {
		if owned[c] {
			objs = append(objs, HostObject{Kind: family + " " + c[0] + " chain", Name: c[1]})
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
			objs = append(objs, HostObject{Kind: family + " " + r.table + " rule", Name: r.text})
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

// SplitRule splits an iptables -S rule into arguments (quoted comments
// are one argument, without their quotes).
func SplitRule(rule string) []string {
	var args []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(rule); i++ {
		c := rule[i]
		switch {
		case c == '\\' && i+1 < len(rule) && rule[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}

// keptForLife are the objects a kcid with no group keeps while it runs
// (and after it stopped): its two VPC chains, empty, and the jumps to
// them.
func keptForLife(in Identity) map[HostObject]bool {
	iso, noMasq := "KCI-ISO-"+in.upper(), "KCI-NOMASQ-"+in.upper()
	return map[HostObject]bool{
		{Kind: "iptables filter chain", Name: iso}:                       true,
		{Kind: "iptables filter rule", Name: "-A FORWARD -j " + iso}:     true,
		{Kind: "iptables nat chain", Name: noMasq}:                       true,
		{Kind: "iptables nat rule", Name: "-A POSTROUTING -j " + noMasq}: true,
	}
}

// Leaks are the objects a kcid with no group does not keep.
func Leaks(objs []HostObject, in Identity) []HostObject {
	kept := keptForLife(in)
	var out []HostObject
	for _, o := range objs {
		if !kept[o] {
			out = append(out, o)
		}
	}
	return out
}

// HostRuleObjects reads the host's iptables and ip6tables rules for
// RuleObjects.
func HostRuleObjects(ctx context.Context, in Identity) ([]HostObject, error) {
	var objs []HostObject
	for _, family := range []string{"iptables", "ip6tables"} {
		out, err := exec.CommandContext(ctx, family+"-save").Output()
		if err != nil {
			return nil, fmt.Errorf("%s-save: %w", family, err)
		}
		objs = append(objs, RuleObjects(family, string(out), in)...)
	}
	return objs, nil
}

// IdentityOf returns the identity of the kcid whose data dir is dataDir,
// its bridges (by their alias) included.
func IdentityOf(dataDir string) (Identity, error) {
	id, err := instanceID(dataDir)
	if err != nil {
		return Identity{}, err
	}
	return Identity{ID: id, Bridges: BridgesWithAlias(func(alias string) bool { return alias == "kcid:"+id })}, nil
}

// NetworkObjects lists what carries the identity in the host's network
// setup: iptables and ip6tables chains and rules (RuleObjects), its
// bridges and its netns pins.
func NetworkObjects(ctx context.Context, in Identity) ([]HostObject, error) {
	objs, err := HostRuleObjects(ctx, in)
	if err != nil {
		return nil, err
	}
	for _, br := range in.Bridges {
		if _, err := os.Stat("/sys/class/net/" + br); err == nil {
			objs = append(objs, HostObject{Kind: "bridge", Name: br})
		}
	}
	pins, _ := filepath.Glob("/run/netns/kci-" + in.ID + "-*")
	sort.Strings(pins)
	for _, p := range pins {
		objs = append(objs, HostObject{Kind: "netns", Name: p})
	}
	return objs, nil
}
