package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CleanKcid removes what a kcid of a test keeps after its last group went
// (docs/host.md), so that test runs do not pile up: its containerd
// namespace ns (images, leases, then the namespace), its cgroup roots, and
// the host names that carry the instance identity in dataDir (netns pins,
// its VPC chains, its bridges and their rules). Call it once the kcid has
// stopped. leaked lists what a kcid must not leave once its groups are
// deleted — containers in ns, group cgroups, netns pins, bridges, iptables
// and ip6tables chains and rules of the identity but the VPC chains it
// keeps for life (Leaks) — all removed, for the test to fail on. notes say
// what could not be read or removed.
func CleanKcid(ctrd, ns, dataDir string) (leaked, notes []string) {
	containers, err := RemoveNamespace(ctrd, ns)
	for _, c := range containers {
		leaked = append(leaked, "containerd container "+c+" in namespace "+ns)
	}
	if err != nil {
		notes = append(notes, err.Error())
	}
	id, idErr := instanceID(dataDir)
	// A group kcid failed to remove leaves its cgroup (and its
	// containers' inside it) under the identity's level, which kcid
	// keeps; nothing would ever remove them.
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + ns)
	roots = append(roots, "/sys/fs/cgroup/"+ns)
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if d := dirs[i]; d != root && (id == "" || d != filepath.Join(root, "kcid-"+id)) {
				leaked = append(leaked, "cgroup "+d)
			}
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				notes = append(notes, fmt.Sprintf("cgroup %s not removed: %v", dirs[i], err))
			}
		}
	}
	if idErr != nil {
		return leaked, append(notes, idErr.Error())
	}
	in, err := IdentityOf(dataDir)
	if err != nil {
		return leaked, append(notes, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs, err := NetworkObjects(ctx, in)
	if err != nil {
		notes = append(notes, fmt.Sprintf("cannot list the host objects of kcid %s: %v", in.ID, err))
	}
	for _, o := range Leaks(objs, in) {
		leaked = append(leaked, o.String())
	}
	for _, o := range objs {
		if o.Kind == "netns" {
			_ = exec.Command("ip", "netns", "delete", filepath.Base(o.Name)).Run()
		}
	}
	removeRuleObjects(Leaks(objs, in))
	RemoveRuntimeChains(in.ID)
	// A bridge left behind would hold a route that every later kcid with
	// that subnet refuses to start over.
	for _, br := range in.Bridges {
		_ = exec.Command("ip", "link", "delete", br).Run()
	}
	if left, err := NetworkObjects(ctx, in); err == nil {
		for _, o := range left {
			notes = append(notes, "not removed: "+o.String())
		}
	}
	return leaked, notes
}

// removeRuleObjects deletes the iptables and ip6tables rules among objs,
// then flushes and deletes the chains.
func removeRuleObjects(objs []HostObject) {
	for _, chains := range []bool{false, true} {
		for _, o := range objs {
			family, rest, _ := strings.Cut(o.Kind, " ")
			table, what, _ := strings.Cut(rest, " ")
			if family != "iptables" && family != "ip6tables" {
				continue
			}
			switch {
			case !chains && what == "rule":
				if f := SplitRule(o.Name); len(f) > 1 && f[0] == "-A" {
					_ = exec.Command(family, append([]string{"-w", "5", "-t", table, "-D"}, f[1:]...)...).Run()
				}
			case chains && what == "chain":
				_ = exec.Command(family, "-w", "5", "-t", table, "-F", o.Name).Run()
				_ = exec.Command(family, "-w", "5", "-t", table, "-X", o.Name).Run()
			}
		}
	}
}

// instanceID reads the instance identity of the kcid whose data dir is
// dataDir (runtime/instance.json).
func instanceID(dataDir string) (string, error) {
	var in struct{ ID string }
	b, err := os.ReadFile(filepath.Join(dataDir, "runtime", "instance.json"))
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	if err == nil && in.ID == "" {
		err = errors.New("no id")
	}
	if err != nil {
		return "", fmt.Errorf("no instance identity in %s: %v", dataDir, err)
	}
	return in.ID, nil
}

// RemoveNamespace removes containerd namespace ns (of the containerd at
// ctrd) whole, for the test process that owns it: the containers left in
// it are a leak, removed (tasks too) and returned; then its images (their
// content is collected) and leases, then the namespace. The error says
// what kept the namespace (a snapshot of a container removed without its
// snapshot, say).
func RemoveNamespace(ctrd, ns string) (leaked []string, err error) {
	ctr := func(args ...string) (string, error) { return CtrE(ctrd, ns, args...) }
	if out, err := ctr("containers", "ls", "-q"); err == nil && strings.TrimSpace(out) != "" {
		leaked = strings.Fields(out)
		CleanNamespace(ctrd, ns)
	}
	if out, err := ctr("images", "ls", "-q"); err == nil {
		for _, ref := range strings.Fields(out) {
			_, _ = ctr("images", "rm", "--sync", ref)
		}
	}
	if out, err := ctr("leases", "ls", "-q"); err == nil {
		for _, l := range strings.Fields(out) {
			_, _ = ctr("leases", "rm", l)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err = CtrE(ctrd, "default", "namespaces", "rm", ns); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return leaked, fmt.Errorf("containerd namespace %s not removed: %w", ns, err)
	}
	return leaked, nil
}

// Namespaces lists the namespaces of the containerd at ctrd named prefix
// or prefix-<anything>: a test process's own.
func Namespaces(ctrd, prefix string) ([]string, error) {
	out, err := CtrE(ctrd, "default", "namespaces", "ls", "-q")
	if err != nil {
		return nil, err
	}
	var nss []string
	for _, ns := range strings.Fields(out) {
		if ns == prefix || strings.HasPrefix(ns, prefix+"-") {
			nss = append(nss, ns)
		}
	}
	return nss, nil
}

// BridgesWithAlias lists the host's bridges whose alias passes keep.
func BridgesWithAlias(keep func(alias string) bool) []string {
	out, err := exec.Command("ip", "-d", "-o", "link", "show", "type", "bridge").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for i, w := range f {
			if w == "alias" && i+1 < len(f) && keep(f[i+1]) {
				names = append(names, strings.TrimSuffix(f[1], ":"))
				break
			}
		}
	}
	return names
}

// BuildKcid builds github.com/openkci/openkci/cmd/kcid into dir and
// returns the binary's path, for tests that run the real kcid.
func BuildKcid(dir string) (string, error) {
	goTool, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kcid")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/openkci/openkci/cmd/kcid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/kcid: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// RequireGroupHost fails (CI=true) or skips a test that runs groups on
// this host unless it runs as root with CNI plugins, ip and iptables.
func RequireGroupHost(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if CNIBinDir() == "" {
		SkipOrFatal(t, "no CNI plugins in /opt/cni/bin or /usr/lib/cni (install containernetworking-plugins)")
	}
	for _, bin := range []string{"iptables", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			SkipOrFatal(t, "%s not found: %v", bin, err)
		}
	}
}
