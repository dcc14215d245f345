package containerd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Host network resources found by identity: the bridges this runtime made
// carry its alias, and the NAT rules the bridge plugin made for its groups
// carry its CNI network name in their comment.

// linkAliasOf reads a link's alias ("" if none).
func linkAliasOf(dev string) string {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", dev, "ifalias"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// markLink gives a link this runtime made its alias (kcid:<id>).
func (in instance) markLink(dev string) error {
	if linkAliasOf(dev) == in.linkAlias() {
		return nil
	}
	if err := os.WriteFile(filepath.Join("/sys/class/net", dev, "ifalias"), []byte(in.linkAlias()), 0); err != nil {
		return fmt.Errorf("mark bridge %s as kcid %s's: %w", dev, in.ID, err)
	}
	return nil
}

// ownedBridges lists the bridges that carry this runtime's alias.
func (in instance) ownedBridges() []string {
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join("/sys/class/net", e.Name(), "bridge")); err != nil {
			continue
		}
		if linkAliasOf(e.Name()) == in.linkAlias() {
			out = append(out, e.Name())
		}
	}
	return out
}

// HostRoute is an IPv4 route or link address of the host.
type HostRoute struct {
	Prefix netip.Prefix
	Device string
}

func (h HostRoute) String() string { return h.Prefix.String() + " dev " + h.Device }

// ForeignRoutes lists the IPv4 routes and link addresses of the host that
// are not on a link of this runtime (default routes left out): a subnet
// overlapping one of them would not be reachable from the host.
func (r *Runtime) ForeignRoutes() ([]HostRoute, error) {
	all, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	var out []HostRoute
	for _, h := range all {
		if h.Prefix.Bits() == 0 || (h.Device != "" && linkAliasOf(h.Device) == r.in.linkAlias()) {
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

// hostRoutes reads the main routing table (/proc/net/route) and the
// addresses of every link (ip -o -4 addr).
func hostRoutes() ([]HostRoute, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []HostRoute
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(fs[1], 16, 32)
		mask, err2 := strconv.ParseUint(fs[7], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		var d, m [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		binary.LittleEndian.PutUint32(m[:], uint32(mask))
		bits := 0
		for _, b := range m {
			for ; b&0x80 != 0; b <<= 1 {
				bits++
			}
		}
		out = append(out, HostRoute{Prefix: netip.PrefixFrom(netip.AddrFrom4(d), bits).Masked(), Device: fs[0]})
	}
	addrs, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip addr: %w", err)
	}
	for _, line := range strings.Split(string(addrs), "\n") {
		// 5: kci0123456789    inet 10.88.0.1/20 brd 10.88.15.255 scope global kci0123456789
		fs := strings.Fields(line)
		for i := 0; i+1 < len(fs); i++ {
			if fs[i] != "inet" {
				continue
			}
			p, err := netip.ParsePrefix(fs[i+1])
			if err != nil {
				break
			}
			dev := strings.TrimSuffix(fs[1], ":")
			if at := strings.IndexByte(dev, '@'); at >= 0 {
				dev = dev[:at]
			}
			out = append(out, HostRoute{Prefix: p.Masked(), Device: dev})
			break
		}
	}
	return out, sc.Err()
}

// natRule is one rule of iptables-save -t nat.
type natRule struct {
	chain string   // the chain the rule is in
	args  []string // the rule after "-A <chain>"
	// network and group from the comment the bridge plugin writes:
	// name: "<network>" id: "<group>".
	network, group string
	target         string // -j
}

// natRules lists the rules of the nat table that carry a CNI comment.
func natRules(ctx context.Context) ([]natRule, error) {
	out, err := exec.CommandContext(ctx, "iptables-save", "-t", "nat").Output()
	if err != nil {
		return nil, fmt.Errorf("iptables-save -t nat: %w", err)
	}
	var rules []natRule
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		f, err := splitSaved(line)
		if err != nil || len(f) < 2 {
			continue
		}
		r := natRule{chain: f[1], args: f[2:]}
		for i := 0; i+1 < len(r.args); i++ {
			switch r.args[i] {
			case "--comment":
				r.network, r.group = parseCNIComment(r.args[i+1])
			case "-j":
				r.target = r.args[i+1]
			}
		}
		if r.group != "" {
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// parseCNIComment reads `name: "NET" id: "ID"` (the plugins'
// utils.FormatComment).
func parseCNIComment(c string) (network, id string) {
	rest, ok := strings.CutPrefix(c, `name: "`)
	if !ok {
		return "", ""
	}
	network, rest, ok = strings.Cut(rest, `" id: "`)
	if !ok {
		return "", ""
	}
	id, ok = strings.CutSuffix(rest, `"`)
	if !ok {
		return "", ""
	}
	return network, id
}

// splitSaved splits an iptables-save line into arguments: fields separated
// by spaces, double quotes group, a backslash escapes the next character.
func splitSaved(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			have = true
		case c == '"':
			inQuote = !inQuote
			have = true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, errors.New("unbalanced quote")
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

// removeNAT deletes the NAT rules the bridge plugin made for the groups
// keep rejects, among those of networks owned accepts: the jump from
// POSTROUTING first, then the group's chain. It returns the groups whose
// rules it removed. The plugin's own DEL removes them only when it still
// finds the group's interface, so a DEL repeated after a crash leaves them.
func removeNAT(ctx context.Context, owned func(network string) bool, keep func(group string) bool) ([]string, error) {
	rules, err := natRules(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	chains := map[string]bool{}
	groups := map[string]bool{}
	for _, r := range rules {
		if !owned(r.network) || keep(r.group) {
			continue
		}
		groups[r.group] = true
		if strings.HasPrefix(r.chain, "CNI-") {
			chains[r.chain] = true
			continue
		}
		if strings.HasPrefix(r.target, "CNI-") {
			chains[r.target] = true
		}
		if _, err := iptables(ctx, append([]string{"-t", "nat", "-D", r.chain}, r.args...)...); err != nil && !notExist(err) {
			errs = append(errs, err)
		}
	}
	for ch := range chains {
		if _, err := iptables(ctx, "-t", "nat", "-F", ch); err != nil && !notExist(err) {
			errs = append(errs, err)
			continue
		}
		if _, err := iptables(ctx, "-t", "nat", "-X", ch); err != nil && !notExist(err) {
			errs = append(errs, err)
		}
	}
	out := make([]string, 0, len(groups))
	for g := range groups {
		out = append(out, g)
	}
	return out, errors.Join(errs...)
}

// notExist reports an iptables error about a rule or chain that is not
// there (legacy and nf_tables wordings).
func notExist(err error) bool {
	s := err.Error()
	return strings.Contains(s, "does not exist") || strings.Contains(s, "No chain/target/match") ||
		strings.Contains(s, "Bad rule") || strings.Contains(s, "doesn't exist")
}
