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

// hostObject and identity are testenv's: the finding of objects by
// identity is shared with the e2e tests' clean-up (testenv.CleanKcid).
type (
	hostObject = testenv.HostObject
	identity   = testenv.Identity
)

// identity returns the run's kcid's identity as the host shows it.
func (r *rig) identity() identity {
	id := r.instanceID()
	in := identity{ID: id}
	if id == "" {
		return in
	}
	in.Bridges = testenv.BridgesWithAlias(func(alias string) bool { return alias == "kcid:"+id })
	if br := bridgeName(id, subnetID); !contains(in.Bridges, br) {
		in.Bridges = append(in.Bridges, br)
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
	if in.ID == "" {
		return nil, fmt.Errorf("no instance identity in %s yet", r.dataDir)
	}
	objs, err := testenv.HostRuleObjects(ctx, in)
	if err != nil {
		return nil, err
	}
	for _, br := range in.Bridges {
		if linkExists(br) {
			objs = append(objs, hostObject{Kind: "bridge", Name: br})
		}
	}
	h, err := r.scanHost(ctx)
	if err != nil {
		return nil, err
	}
	add := func(kind string, names []string) {
		for _, n := range names {
			objs = append(objs, hostObject{Kind: kind, Name: n})
		}
	}
	add("containerd container", h.containers)
	add("containerd task", h.tasks)
	for _, pid := range sortedKeys(h.shims) {
		objs = append(objs, hostObject{Kind: "shim", Name: fmt.Sprintf("pid %d -id %s", pid, h.shims[pid])})
	}
	add("netns", sortedKeys(h.netns))
	add("cgroup", sortedKeys(h.cgroups))
	add("mount", sortedKeys(h.mounts))
	for _, dev := range sortedKeys(h.loops) {
		objs = append(objs, hostObject{Kind: "loop device", Name: dev + " of " + h.loops[dev]})
	}
	if out, err := r.ctr("leases", "ls", "-q"); err == nil {
		add("containerd lease", strings.Fields(out))
	}
	if out, err := r.ctr("snapshots", "ls"); err == nil {
		for i, line := range strings.Split(out, "\n") {
			// KEY PARENT KIND: only image layers are committed.
			if f := strings.Fields(line); i > 0 && len(f) >= 2 && f[len(f)-1] == "Active" {
				objs = append(objs, hostObject{Kind: "containerd active snapshot", Name: f[0]})
			}
		}
	}
	groups, _ := filepath.Glob(filepath.Join(r.dataDir, "runtime", "groups", "*"))
	add("group directory", groups)
	recs, _ := filepath.Glob(filepath.Join(r.dataDir, "runtime", "disks", "*.json"))
	for _, rec := range recs {
		if b, err := os.ReadFile(rec); err == nil && strings.Contains(string(b), `"group":`) {
			objs = append(objs, hostObject{Kind: "disk held by a group", Name: rec})
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
	for _, br := range in.Bridges {
		if !exists(br) {
			gone[br] = true
		}
	}
	var out []hostObject
	for _, o := range objs {
		if strings.HasSuffix(o.Kind, " chain") {
			if br, ok := strings.CutPrefix(o.Name, "KCI-MASQ-"); ok && gone[br] {
				out = append(out, o)
			}
			continue
		}
		if !strings.HasSuffix(o.Kind, " rule") {
			continue
		}
		f := testenv.SplitRule(strings.TrimPrefix(o.Name, "-A "))
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
	if in.ID == "" {
		return nil, nil
	}
	objs, err := testenv.HostRuleObjects(ctx, in)
	if err != nil {
		return nil, err
	}
	var vs []violation
	for _, o := range orphanedByBridge(objs, in, linkExists) {
		vs = append(vs, violation{kind: vOrphan, detail: o.String() + ", of a bridge that no longer exists"})
	}
	return vs, nil
}
