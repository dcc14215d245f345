package main

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/pkg/kci"
)

// hostState is what the machine holds of the run: the resources kcid
// creates for groups, found by the run's own identity (its containerd
// namespace and socket, the netns prefix and CNI network name derived from
// the namespace, its directory).
type hostState struct {
	containers []string            // containerd containers in the namespace
	tasks      []string            // their tasks
	shims      map[int]string      // shim pid → the -id it serves
	netns      map[string]string   // netns name → group ID
	cgroups    map[string]string   // cgroup directory → group ID
	natRules   map[string][]string // group ID → nat rules (commented with the run's network)
	chains     map[string]bool     // nat chains named CNI-*
	mounts     map[string]string   // mount point under the run's directory → source
	loops      map[string]string   // loop device → backing file under the run's directory
	ips        map[string][]string // IPv4 address → netns holding it
}

// scanHost reads the host state of the run.
func (r *rig) scanHost(ctx context.Context) (*hostState, error) {
	h := &hostState{}
	var err error
	if h.containers, err = r.ctrList("containers", "ls", "-q"); err != nil {
		return nil, err
	}
	if h.tasks, err = r.taskList(); err != nil {
		return nil, err
	}
	h.shims = r.shims()
	if h.netns, h.ips, err = r.netnsOf(ctx); err != nil {
		return nil, err
	}
	h.cgroups = r.cgroupsOf()
	if h.natRules, h.chains, err = r.natOf(ctx); err != nil {
		return nil, err
	}
	if h.mounts, err = mountsUnder(r.dir, r.dataDir); err != nil {
		return nil, err
	}
	if h.loops, err = loopsUnder(r.dir, r.img); err != nil {
		return nil, err
	}
	return h, nil
}

func (r *rig) ctrList(args ...string) ([]string, error) {
	out, err := r.ctr(args...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// taskList lists the tasks of the namespace (ctr tasks ls has no quiet
// mode: the first column after the header).
func (r *rig) taskList() ([]string, error) {
	out, err := r.ctr("tasks", "ls")
	if err != nil {
		return nil, err
	}
	var ids []string
	for i, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); i > 0 && len(f) > 0 {
			ids = append(ids, f[0])
		}
	}
	return ids, nil
}

// shims are the containerd-shim-runc-v2 processes serving the run's
// namespace on its containerd's socket.
func (r *rig) shims() map[int]string {
	shims := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		flags := map[string]string{}
		for i := 1; i+1 < len(args); i++ {
			if strings.HasPrefix(args[i], "-") {
				flags[strings.TrimLeft(args[i], "-")] = args[i+1]
			}
		}
		if flags["namespace"] == r.ns && strings.HasPrefix(flags["address"], r.dataDir) {
			shims[pid] = flags["id"]
		}
	}
	return shims
}

// instanceID is the runtime's identity, read from its data dir (kcid
// writes it on first start): every host resource of the runtime is named
// after it (internal/runtime/containerd/instance.go). "" until it exists.
func (r *rig) instanceID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.instance == "" {
		b, err := os.ReadFile(filepath.Join(r.dataDir, "runtime", "instance.json"))
		if err == nil {
			var in struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(b, &in) == nil {
				r.instance = in.ID
			}
		}
	}
	return r.instance
}

// netnsPrefix is the runtime's netns name prefix: kci-<instance>-.
func netnsPrefix(instance string) string { return "kci-" + instance + "-" }

var inetRE = regexp.MustCompile(`\binet ([0-9.]+)/`)

func (r *rig) netnsOf(ctx context.Context) (map[string]string, map[string][]string, error) {
	id := r.instanceID()
	if id == "" {
		return map[string]string{}, map[string][]string{}, nil
	}
	prefix := netnsPrefix(id)
	names, err := filepath.Glob("/run/netns/" + prefix + "*")
	if err != nil {
		return nil, nil, err
	}
	netns := map[string]string{}
	ips := map[string][]string{}
	for _, p := range names {
		name := filepath.Base(p)
		netns[name] = strings.TrimPrefix(name, prefix)
		out, err := run(ctx, "ip", "-n", name, "-4", "-o", "addr", "show", "scope", "global")
		if err != nil {
			continue // torn down meanwhile, or a pinned file without a namespace: the name is enough
		}
		for _, m := range inetRE.FindAllStringSubmatch(out, -1) {
			ips[m[1]] = append(ips[m[1]], name)
		}
	}
	return netns, ips, nil
}

// cgroupRoot is the runtime's parent cgroup: /<namespace>/kcid-<instance>.
func (r *rig) cgroupRoot() string { return r.ns + "/kcid-" + r.instanceID() }

// cgroupsOf: the runtime's group cgroups are <cgroupRoot>/<group> in every
// hierarchy (cgroup v1) or in the unified one (v2).
func (r *rig) cgroupsOf() map[string]string {
	cgs := map[string]string{}
	if r.instanceID() == "" {
		return cgs
	}
	var dirs []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/" + r.cgroupRoot() + "/*", "/sys/fs/cgroup/" + r.cgroupRoot() + "/*"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			cgs[d] = filepath.Base(d)
		}
	}
	return cgs
}

// cniNetwork is the CNI network name of the run's subnet (the runtime
// names it kci-<instance>-<subnet ID>); the bridge plugin's NAT rules
// carry it and the group ID in their comments.
func (r *rig) cniNetwork() string { return "kci-" + r.instanceID() + "-" + subnetID }

// cniChain is the NAT chain the bridge plugin makes for a container
// (CNI plugins' utils.FormatChainName: "CNI-" and the first 24 hex digits
// of sha512(network name + container ID)).
func cniChain(network, id string) string {
	h := sha512.Sum512([]byte(network + id))
	return "CNI-" + hex.EncodeToString(h[:])[:24]
}

var commentIDRE = regexp.MustCompile(`name: \\"([^\\"]*)\\" id: \\"([^\\"]*)\\"`)

func (r *rig) natOf(ctx context.Context) (map[string][]string, map[string]bool, error) {
	out, err := run(ctx, "iptables", "-w", "10", "-t", "nat", "-S")
	if err != nil {
		return nil, nil, err
	}
	rules := map[string][]string{}
	chains := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(line, "-N "); ok && strings.HasPrefix(c, "CNI-") {
			chains[c] = true
			continue
		}
		m := commentIDRE.FindStringSubmatch(line)
		if m != nil && m[1] == r.cniNetwork() {
			rules[m[2]] = append(rules[m[2]], line)
		}
	}
	return rules, chains, nil
}

// mountsUnder lists the mount points under dir (dir itself excluded, and
// except, the loop file system's own mount point) with their sources.
func mountsUnder(dir, except string) (map[string]string, error) {
	ms, err := testenv.ReadMounts()
	if err != nil {
		return nil, err
	}
	mounts := map[string]string{}
	for _, m := range ms {
		if m.Point != except && strings.HasPrefix(m.Point, dir+"/") {
			mounts[m.Point] = m.Source
		}
	}
	return mounts, nil
}

// loopsUnder lists loop devices backed by files under dir, except the
// run's own data image.
func loopsUnder(dir, except string) (map[string]string, error) {
	devs, err := testenv.ListLoopDevices()
	if err != nil {
		return nil, err
	}
	loops := map[string]string{}
	for _, d := range devs {
		back := strings.TrimSuffix(d.BackingFile, " (deleted)")
		if back != except && strings.HasPrefix(back, dir+"/") {
			loops[d.Name] = back
		}
	}
	return loops, nil
}

// hostIssues compares the host with kcid's listing: every resource must
// belong to a listed group (or, for tasks, shims and rootfs mounts, to an
// existing container of one), no disk is attached or mounted twice, no IP
// is in two network namespaces, and a group's netns holds the IP kcid
// reports. known are the IDs of every group of the run, for the NAT chains
// (which carry no group ID in their names).
func (r *rig) hostIssues(h *hostState, listed []kci.ContainerGroup, known []string) []violation {
	in := map[string]*kci.ContainerGroup{}
	diskOwner := map[string]string{}
	for i := range listed {
		g := &listed[i]
		in[g.ContainerGroupID] = g
		for _, v := range g.Volumes {
			if v.EBSVolume != nil {
				diskOwner[v.EBSVolume.VolumeID] = g.ContainerGroupID
			}
		}
	}
	containers := map[string]bool{}
	var vs []violation
	orphan := func(format string, args ...any) {
		vs = append(vs, violation{kind: vOrphan, detail: fmt.Sprintf(format, args...)})
	}
	for _, c := range h.containers {
		containers[c] = true
		if in[groupOfContainer(c)] == nil {
			orphan("containerd container %s of no listed group", c)
		}
	}
	for _, t := range h.tasks {
		if !containers[t] {
			orphan("containerd task %s without its container", t)
		} else if in[groupOfContainer(t)] == nil {
			orphan("containerd task %s of no listed group", t)
		}
	}
	for _, pid := range sortedKeys(h.shims) {
		id := h.shims[pid]
		if in[groupOfContainer(id)] == nil || !containers[id] {
			orphan("shim pid %d (-id %s) of no listed group's container", pid, id)
		}
	}
	for _, name := range sortedKeys(h.netns) {
		if in[h.netns[name]] == nil {
			orphan("network namespace %s of no listed group", name)
		}
	}
	for _, d := range sortedKeys(h.cgroups) {
		if in[h.cgroups[d]] == nil {
			orphan("cgroup %s of no listed group", d)
		}
	}
	for _, id := range sortedKeys(h.natRules) {
		if in[id] == nil {
			orphan("%d NAT rules of group %s, which kcid does not list: %s", len(h.natRules[id]), id, h.natRules[id][0])
		}
	}
	for _, id := range known {
		if c := cniChain(r.cniNetwork(), id); h.chains[c] && in[id] == nil {
			orphan("NAT chain %s of group %s, which kcid does not list", c, id)
		}
	}
	loopOf := map[string]string{} // backing file → loop device
	for _, dev := range sortedKeys(h.loops) {
		back := h.loops[dev]
		disk := strings.TrimSuffix(filepath.Base(back), ".img")
		if other, ok := loopOf[back]; ok {
			vs = append(vs, violation{kind: vDiskTwice, detail: fmt.Sprintf("disk file %s is attached to %s and %s", back, other, dev)})
		}
		loopOf[back] = dev
		if filepath.Base(filepath.Dir(back)) != "disks" {
			orphan("loop device %s backed by %s, not a disk", dev, back)
		} else if diskOwner[disk] == "" {
			orphan("loop device %s of disk %s, which no listed group mounts", dev, disk)
		}
	}
	mountsOf := map[string][]string{}
	for _, mp := range sortedKeys(h.mounts) {
		src := h.mounts[mp]
		if h.loops[src] != "" {
			mountsOf[src] = append(mountsOf[src], mp)
		}
		if issue := r.mountOwnerIssue(mp, in, containers); issue != "" {
			orphan("%s", issue)
		}
	}
	for _, dev := range sortedKeys(mountsOf) {
		if mps := mountsOf[dev]; len(mps) > 1 {
			vs = append(vs, violation{kind: vDiskTwice, detail: fmt.Sprintf("disk %s (%s) is mounted %d times: %s", h.loops[dev], dev, len(mps), strings.Join(mps, ", "))})
		}
	}
	for _, ip := range sortedKeys(h.ips) {
		if ns := h.ips[ip]; len(ns) > 1 {
			vs = append(vs, violation{kind: vDuplicateIP, detail: fmt.Sprintf("IP %s is in network namespaces %s", ip, strings.Join(ns, ", "))})
		}
	}
	prefix := netnsPrefix(r.instanceID())
	for _, g := range listed {
		want := g.PrivateIP()
		if want == "" {
			continue
		}
		name := prefix + g.ContainerGroupID
		if _, ok := h.netns[name]; !ok {
			continue // not (yet, or no longer) set up
		}
		found := false
		for _, ns := range h.ips[want] {
			found = found || ns == name
		}
		if !found {
			vs = append(vs, violation{kind: vDuplicateIP, detail: fmt.Sprintf("group %s: kcid reports IP %s, its network namespace %s does not hold it", g.ContainerGroupID, want, name)})
		}
	}
	return vs
}

// mountOwnerIssue says why a mount under the run's directory belongs to
// nothing listed, or "" if it belongs to a listed group or an existing
// container of one.
func (r *rig) mountOwnerIssue(mp string, in map[string]*kci.ContainerGroup, containers map[string]bool) string {
	groups := filepath.Join(r.dataDir, "runtime", "groups") + "/"
	tasks := filepath.Join(r.dataDir, "containerd", "state", "io.containerd.runtime.v2.task", r.ns) + "/"
	switch {
	case strings.HasPrefix(mp, groups):
		id, _, _ := strings.Cut(strings.TrimPrefix(mp, groups), "/")
		if in[id] == nil {
			return fmt.Sprintf("mount %s of group %s, which kcid does not list", mp, id)
		}
	case strings.HasPrefix(mp, tasks):
		id, _, _ := strings.Cut(strings.TrimPrefix(mp, tasks), "/")
		if !containers[id] || in[groupOfContainer(id)] == nil {
			return fmt.Sprintf("rootfs mount %s of container %s, which no listed group has", mp, id)
		}
	default:
		return fmt.Sprintf("mount %s, of nothing kcid runs", mp)
	}
	return ""
}

// groupOfContainer: containerd containers are named <group>_<container>
// (container names have no underscore).
func groupOfContainer(id string) string {
	if i := strings.LastIndexByte(id, '_'); i > 0 {
		return id[:i]
	}
	return id
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// run runs a command with a 30 s timeout and returns its stdout.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// bridgeName and isolationChain are the runtime's documented names
// (internal/runtime/containerd/instance.go) of a subnet's bridge and of the VPC isolation chain of an
// instance.
func bridgeName(instance, subnetID string) string {
	h := sha256.Sum256([]byte(instance + "/" + subnetID))
	return "kci" + hex.EncodeToString(h[:])[:10]
}

func isolationChain(instance string) string { return "KCI-ISO-" + strings.ToUpper(instance) }
