package containerd

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"

	"github.com/openkci/openkci/internal/core"
)

// ifName is the group's interface inside its network namespace.
const ifName = "eth0"

// cniNet runs CNI plugins for the groups of a runtime.
//
// ADDs and DELs of different groups run in parallel: the IPAM is kcid's
// own (static addresses, no host-local store to lock), and every group
// has its own veth, NAT chain and rules. What the bridge plugin cannot do
// concurrently is make a bridge: two ADDs on a bridge that is not there
// yet race to create it and to give it its gateway address ("file
// exists"), and a bridge deleted with its last group must not vanish
// under an ADD attaching to it. So each bridge has a lock: the first ADD
// on a bridge this process has not seen attached holds it alone, later
// ADDs and every DEL share it, and deleting the bridge holds it alone.
// Plugins run at most maxPluginRuns at once. The VPC isolation chain has
// a mutex of its own; the start-up sweep of NAT leftovers excludes DELs
// (both remove the same rules).
type cniNet struct {
	in    instance
	conf  *libcni.CNIConfig
	slots chan struct{} // one per plugin run in progress

	mu      sync.Mutex
	bridges map[string]*bridgeLock // guarded by mu

	// sweeping is held by sweepNetworks, shared by DELs.
	sweeping sync.RWMutex

	isoMu sync.Mutex
	// vpcOf maps the bridges attached by this process to their VPC, for
	// isolation rules; chainReady: the isolation chain is in place.
	vpcOf      map[string]string // guarded by isoMu
	chainReady bool              // guarded by isoMu
}

// bridgeLock orders the CNI calls on one bridge.
type bridgeLock struct {
	rw sync.RWMutex
	// attached: an ADD on the bridge completed since this process last
	// deleted it (the bridge, its address and its masquerade are in
	// place); masqueraded: its masquerade is. Written with rw held alone,
	// read with rw shared.
	attached, masqueraded bool
}

// maxPluginRuns bounds the CNI calls running at once: enough to keep
// the CPUs busy while others wait on the xtables lock, few enough that
// a burst of creates does not fork hundreds of plugins at once.
var maxPluginRuns = 4 * runtime.NumCPU()

func newCNINet(in instance, binDirs []string, cacheDir string) *cniNet {
	return &cniNet{
		in:      in,
		conf:    libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, &pluginExec{}),
		slots:   make(chan struct{}, maxPluginRuns),
		bridges: map[string]*bridgeLock{},
	}
}

// bridge returns the lock of bridge br ("" for a configuration without
// one of ours: such calls share one lock).
func (c *cniNet) bridge(br string) *bridgeLock {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.bridges[br]
	if l == nil {
		l = &bridgeLock{}
		c.bridges[br] = l
	}
	return l
}

// plugins runs fn in a plugin slot.
func (c *cniNet) plugins(ctx context.Context, fn func() error) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slots }()
	return fn()
}

// netConfList builds the CNI configuration of a group: a bridge per subnet
// with the group's static address, gateway, NAT egress and MAC (the
// bridge plugin's args.cni.mac: one plugin run less per ADD and DEL than
// the tuning plugin, which groups attached by earlier releases still name
// in their recorded configuration), and the bandwidth plugin when a limit
// is set.
func netConfList(in instance, g *core.Group) ([]byte, error) {
	n := g.Network
	prefix, err := netip.ParsePrefix(n.SubnetCIDR)
	if err != nil {
		return nil, fmt.Errorf("subnet CIDR %q: %w", n.SubnetCIDR, err)
	}
	ip, err := netip.ParseAddr(n.PrivateIP)
	if err != nil {
		return nil, fmt.Errorf("private IP %q: %w", n.PrivateIP, err)
	}
	if !prefix.Contains(ip) {
		return nil, fmt.Errorf("private IP %s outside subnet %s", ip, prefix)
	}
	gw := n.Gateway
	if gw == "" {
		gw = prefix.Masked().Addr().Next().String()
	}
	subnet := n.SubnetID
	if subnet == "" {
		subnet = prefix.Masked().String()
	}
	addr := map[string]any{
		"address": netip.PrefixFrom(ip, prefix.Bits()).String(),
		"gateway": gw,
	}
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      in.bridgeName(subnet),
		"isGateway":   true,
		"ipMasq":      false, // one masquerade per bridge: masquerade.go
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":      "static",
			"addresses": []any{addr},
			"routes":    []any{map[string]any{"dst": "0.0.0.0/0"}},
		},
	}
	if n.MAC != "" {
		if _, err := net.ParseMAC(n.MAC); err != nil {
			return nil, fmt.Errorf("MAC %q: %w", n.MAC, err)
		}
		bridge["args"] = map[string]any{"cni": map[string]any{"mac": n.MAC}}
	}
	plugins := []any{bridge}
	if g.IngressBandwidth > 0 || g.EgressBandwidth > 0 {
		bw := map[string]any{"type": "bandwidth"}
		// The plugin takes bits per second and a burst in bits; a tenth of a
		// second's worth keeps the limit tight without starving small bursts.
		if r := g.IngressBandwidth * 1_000_000; r > 0 {
			bw["ingressRate"], bw["ingressBurst"] = r, burst(r)
		}
		if r := g.EgressBandwidth * 1_000_000; r > 0 {
			bw["egressRate"], bw["egressBurst"] = r, burst(r)
		}
		plugins = append(plugins, bw)
	}
	return json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       in.networkName(subnet),
		"plugins":    plugins,
	})
}

func burst(rate int64) int64 { return max(rate/10, 8*64*1024) }

func (c *cniNet) runtimeConf(groupID, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: groupID,
		NetNS:       netnsPath,
		IfName:      ifName,
		Args:        [][2]string{{"IgnoreUnknown", "1"}},
	}
}

// add attaches the group's namespace to its network, and isolates the
// subnet's bridge from other VPCs' bridges.
func (c *cniNet) add(ctx context.Context, conf []byte, groupID, netnsPath, vpc, vpcCIDR string) error {
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		return err
	}
	br := confBridge(conf)
	attach := func() error {
		if err := c.plugins(ctx, func() error {
			_, err := c.conf.AddNetworkList(ctx, list, c.runtimeConf(groupID, netnsPath))
			return err
		}); err != nil {
			return fmt.Errorf("cni add: %w", err)
		}
		return c.register(ctx, conf, vpc, vpcCIDR)
	}
	bl := c.bridge(br)
	bl.rw.RLock()
	if bl.attached {
		defer bl.rw.RUnlock()
		return attach()
	}
	bl.rw.RUnlock()
	bl.rw.Lock()
	defer bl.rw.Unlock()
	if err := c.masquerade(ctx, bl, br, conf); err != nil {
		return err
	}
	if err := attach(); err != nil {
		return err
	}
	bl.attached = true
	return nil
}

// masquerade puts the bridge's masquerade in place unless this process
// did. Called with bl.rw held alone.
func (c *cniNet) masquerade(ctx context.Context, bl *bridgeLock, br string, conf []byte) error {
	if bl.masqueraded || br == "" {
		return nil
	}
	subnet, err := confSubnet(conf)
	if err != nil {
		return err
	}
	if err := c.ensureMasquerade(ctx, br, subnet); err != nil {
		return err
	}
	bl.masqueraded = true
	return nil
}

// register notes an attached bridge's VPC (also for groups re-adopted with
// their network up); vpcCIDR (if known) keeps its source addresses.
func (c *cniNet) register(ctx context.Context, conf []byte, vpc, vpcCIDR string) error {
	if br := confBridge(conf); br != "" {
		c.isoMu.Lock()
		defer c.isoMu.Unlock()
		if err := c.in.markLink(br); err != nil {
			return err
		}
		if err := c.isolate(ctx, br, vpc, vpcCIDR); err != nil {
			return fmt.Errorf("vpc isolation: %w", err)
		}
	}
	return nil
}

// adopted registers the bridge of a group whose network was already up,
// and puts its masquerade in place (a group attached by an earlier
// release has its own rules too: harmless, the first match wins).
func (c *cniNet) adopted(ctx context.Context, conf []byte, vpc, vpcCIDR string) error {
	if br := confBridge(conf); br != "" {
		bl := c.bridge(br)
		bl.rw.Lock()
		err := c.masquerade(ctx, bl, br, conf)
		bl.rw.Unlock()
		if err != nil {
			return err
		}
	}
	return c.register(ctx, conf, vpc, vpcCIDR)
}

// del detaches the group. It is idempotent: plugins tolerate a missing
// interface, and a namespace that is gone is passed as empty.
func (c *cniNet) del(ctx context.Context, conf []byte, groupID, netnsPath string) error {
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		return err
	}
	if !isNetNS(netnsPath) {
		netnsPath = ""
	}
	c.sweeping.RLock()
	defer c.sweeping.RUnlock()
	br := confBridge(conf)
	bl := c.bridge(br)
	bl.rw.RLock()
	err = c.plugins(ctx, func() error { return c.detach(ctx, list, groupID, netnsPath) })
	bl.rw.RUnlock()
	if err != nil {
		return err
	}
	// The subnet's bridge goes with its last group.
	if br != "" && bridgeEmpty(br) {
		return c.removeBridge(ctx, br)
	}
	return nil
}

// detach runs the plugins' DEL and removes the NAT rules and chain of
// the group.
func (c *cniNet) detach(ctx context.Context, list *libcni.NetworkConfigList, groupID, netnsPath string) error {
	// The bridge plugin's DEL removes the NAT jump naming the group's
	// chain before the chain; an ADD cut short before it made the chain
	// makes that fail ("Chain 'CNI-…' does not exist") forever. An empty
	// chain lets the DEL through; the DEL removes it again.
	natChain := ""
	if masq, ok := confIPMasq(list.Plugins); ok && masq {
		natChain = cniChainName(list.Name, groupID)
		if _, err := iptables(ctx, "-t", "nat", "-N", natChain); err != nil {
			natChain = "" // it exists (or cannot be made): nothing to undo
		}
	}
	if err := c.conf.DelNetworkList(ctx, list, c.runtimeConf(groupID, netnsPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
		if natChain != "" {
			_, _ = iptables(ctx, "-t", "nat", "-X", natChain)
		}
		return fmt.Errorf("cni del: %w", err)
	}
	// The plugin removes the group's NAT rules only if it still finds the
	// group's interface: a DEL repeated after a crash would leave them
	// (and the chain made above).
	if _, err := removeNAT(ctx, func(n string) bool { return n == list.Name }, func(g string) bool { return g != groupID }); err != nil {
		return fmt.Errorf("cni del: NAT rules of %s: %w", groupID, err)
	}
	if masq, _ := confIPMasq(list.Plugins); masq {
		chain := cniChainName(list.Name, groupID)
		if _, err := iptables(ctx, "-t", "nat", "-F", chain); err == nil {
			if _, err := iptables(ctx, "-t", "nat", "-X", chain); err != nil && !notExist(err) {
				return fmt.Errorf("cni del: NAT chain of %s: %w", groupID, err)
			}
		}
	}
	return nil
}

// removeBridge deletes bridge br if no group is attached to it, with its
// isolation rules. Holding the bridge's lock alone, no ADD is attaching
// to it meanwhile.
func (c *cniNet) removeBridge(ctx context.Context, br string) error {
	bl := c.bridge(br)
	bl.rw.Lock()
	defer bl.rw.Unlock()
	if !bridgeEmpty(br) {
		return nil
	}
	// The masquerade first: a bridge left by a failure or a kill in
	// between is empty and carries the alias, so the next delete or the
	// start-up sweep comes back to it; the next ADD on it makes both again.
	bl.attached, bl.masqueraded = false, false
	if err := removeMasquerade(ctx, br); err != nil {
		return fmt.Errorf("masquerade of bridge %s: %w", br, err)
	}
	if out, err := exec.CommandContext(ctx, "ip", "link", "delete", br, "type", "bridge").CombinedOutput(); err != nil && bridgeExists(br) {
		return fmt.Errorf("delete bridge %s: %v: %s", br, err, strings.TrimSpace(string(out)))
	}
	c.isoMu.Lock()
	defer c.isoMu.Unlock()
	c.forget(ctx, br)
	return nil
}

// confIPMasq reports whether the bridge plugin of a configuration masquerades.
func confIPMasq(plugins []*libcni.NetworkConfig) (masq, found bool) {
	for _, p := range plugins {
		if p.Network.Type != "bridge" {
			continue
		}
		var b struct {
			IPMasq bool `json:"ipMasq"`
		}
		if json.Unmarshal(p.Bytes, &b) == nil {
			return b.IPMasq, true
		}
	}
	return false, false
}

// cniChainName is the NAT chain the bridge plugin makes for a group
// (the plugins' utils.FormatChainName: CNI- and the start of the hex
// SHA-512 of network name and container ID, 28 characters in all).
func cniChainName(network, containerID string) string {
	h := sha512.Sum512([]byte(network + containerID))
	return ("CNI-" + hex.EncodeToString(h[:]))[:28]
}

// confBridge returns the bridge of a configuration made by netConfList.
func confBridge(conf []byte) string {
	var l struct {
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
		} `json:"plugins"`
	}
	if json.Unmarshal(conf, &l) != nil {
		return ""
	}
	for _, p := range l.Plugins {
		if p.Type == "bridge" && strings.HasPrefix(p.Bridge, "kci") {
			return p.Bridge
		}
	}
	return ""
}

func bridgeExists(br string) bool {
	_, err := os.Stat("/sys/class/net/" + br)
	return err == nil
}

// bridgeEmpty reports whether br exists and has no ports.
func bridgeEmpty(br string) bool {
	ents, err := os.ReadDir("/sys/class/net/" + br + "/brif")
	return err == nil && len(ents) == 0
}
