package containerd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/openkci/openkci/internal/testenv"
)

// The package's leak guard. Each runtime a test makes has an identity of
// its own (a new data dir) and keeps its containers in this process's
// containerd namespaces (testNS, testNS-<suffix>). Once every test has
// run, nothing of them may be left: TestMain removes the namespaces
// (images, leases and all) and fails the package if a namespace still
// held a container or could not be removed, or if the host still has a
// netns pin, cgroup, bridge or iptables rule of one of the identities;
// what it finds it also removes, so a failed run does not pile up on the
// machine. Only this process's namespaces and identities are looked at:
// other test processes share the machine.

var guard struct {
	mu        sync.Mutex
	addrs     map[string]bool     // containerd addresses the tests used
	instances map[string]instance // identities of the runtimes they made
}

// guardRuntime records a runtime's containerd and identity for the guard.
func guardRuntime(addr string, in instance) {
	guard.mu.Lock()
	defer guard.mu.Unlock()
	if guard.addrs == nil {
		guard.addrs, guard.instances = map[string]bool{}, map[string]instance{}
	}
	guard.addrs[addr] = true
	guard.instances[in.ID] = in
}

// defaultLockDir is where the tests' runtimes keep their host locks.
var defaultLockDir = func() string {
	var c Config
	c.setDefaults()
	return c.LockDir
}()

// hostLeftovers removes what the package's tests left on the host and
// says what it was.
func hostLeftovers() []string {
	guard.mu.Lock()
	defer guard.mu.Unlock()
	var leaks []string
	for addr := range guard.addrs {
		if _, err := os.Stat(addr); err != nil {
			continue // a private containerd of a test, gone with it
		}
		nss, err := testenv.Namespaces(addr, testNS)
		if err != nil {
			leaks = append(leaks, fmt.Sprintf("cannot list containerd namespaces on %s: %v", addr, err))
			continue
		}
		for _, ns := range nss {
			_ = os.Remove(filepath.Join(defaultLockDir, "containerd-ns-"+ns+".lock"))
			leaked, err := testenv.RemoveNamespace(addr, ns)
			for _, c := range leaked {
				leaks = append(leaks, fmt.Sprintf("containerd container %s in namespace %s", c, ns))
			}
			if err != nil {
				leaks = append(leaks, err.Error())
			}
		}
	}
	rules, _ := exec.Command("iptables-save").Output()
	for _, in := range guard.instances {
		pins, _ := filepath.Glob(filepath.Join("/run/netns", in.netnsPrefix()+"*"))
		for _, p := range pins {
			leaks = append(leaks, "netns pin "+p)
			if err := removeNetNS(p); err != nil {
				leaks = append(leaks, fmt.Sprintf("netns pin %s not removed: %v", p, err))
			}
		}
		if !in.Legacy { // a legacy identity's root is /<testNS>, removed after
			for _, d := range cgroupDirs(in.cgroupRoot()) {
				if _, err := os.Stat(d); err == nil {
					leaks = append(leaks, "cgroup "+d)
				}
			}
			_ = removeCgroupTree(in.cgroupRoot())
		}
		for _, br := range testenv.BridgesWithAlias(func(alias string) bool { return alias == in.linkAlias() }) {
			leaks = append(leaks, "bridge "+br)
			_ = exec.Command("ip", "link", "delete", br).Run()
		}
		table := ""
		for _, line := range strings.Split(string(rules), "\n") {
			if t, ok := strings.CutPrefix(line, "*"); ok {
				table = t
			}
			if !strings.Contains(line, "kcid:"+in.ID) && !strings.Contains(line, in.networkPrefix()) &&
				!strings.Contains(line, in.isolationChain()) && !strings.Contains(line, in.noMasqChain()) {
				continue
			}
			leaks = append(leaks, "iptables -t "+table+" "+line)
			// A group's own NAT rules (a release before the per-bridge
			// masquerade) and the chain they jump to; the chains of the
			// identity go below.
			if f, err := splitSaved(line); err == nil && len(f) > 1 && f[0] == "-A" {
				_ = exec.Command("iptables", append([]string{"-w", "5", "-t", table, "-D"}, f[1:]...)...).Run()
				if c := argAfter(f, "-j"); strings.HasPrefix(c, "CNI-") {
					_ = exec.Command("iptables", "-w", "5", "-t", table, "-F", c).Run()
					_ = exec.Command("iptables", "-w", "5", "-t", table, "-X", c).Run()
				}
			}
		}
		testenv.RemoveRuntimeChains(in.ID)
		// Host lock files outlive a killed stand-in kcid; not a leak.
		_ = os.Remove(filepath.Join(defaultLockDir, "instance-"+in.ID+".lock"))
	}
	sort.Strings(leaks)
	return leaks
}

// removeCgroupTree removes a cgroup and the empty cgroups under it,
// deepest first.
func removeCgroupTree(path string) error {
	for _, d := range cgroupDirs(path) {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
	return nil
}
