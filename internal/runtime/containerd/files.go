package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/openkci/openkci/internal/core"
)

// Per-group files, under the group's directory, bind-mounted into every
// container of the group (as CRI does for a pod).
const (
	hostsFile    = "hosts"
	resolvFile   = "resolv.conf"
	hostnameFile = "hostname"
	volumesDir   = "volumes"
	logsDir      = "logs"
)

// hostname is the group's host name: its Name when it is a valid DNS label,
// else its ID.
func hostname(g *core.Group) string {
	n := strings.ToLower(g.Name)
	if n == "" || len(n) > 63 {
		return g.ID
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return g.ID
		}
	}
	return n
}

func hostsContent(g *core.Group) []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	if g.Network.PrivateIP != "" {
		names := hostname(g)
		if g.Name != "" && g.Name != names {
			names += " " + g.Name
		}
		fmt.Fprintf(&b, "%s\t%s\n", g.Network.PrivateIP, names)
	}
	if len(g.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range g.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return []byte(b.String())
}

// resolvContent is the group's DnsConfig, or the host's resolv.conf. A
// DnsConfig without name servers adds its searches and options to the
// host's file, as Kubernetes merges a pod's dnsConfig under dnsPolicy
// Default: a resolv.conf without name servers would send every lookup to
// 127.0.0.1, where no resolver runs.
func resolvContent(g *core.Group, hostResolv string) ([]byte, error) {
	d := g.DNS
	if d == nil || (len(d.NameServers) == 0 && len(d.Searches) == 0 && len(d.Options) == 0) {
		b, err := os.ReadFile(hostResolv)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	conf := *d
	if len(d.NameServers) == 0 {
		b, err := os.ReadFile(hostResolv)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		conf = mergeHostResolv(string(b), d)
	}
	var b strings.Builder
	for _, ns := range conf.NameServers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(conf.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(conf.Searches, " "))
	}
	if len(conf.Options) > 0 {
		opts := make([]string, 0, len(conf.Options))
		for _, o := range conf.Options {
			if o.Value != "" {
				opts = append(opts, o.Name+":"+o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return []byte(b.String()), nil
}

// mergeHostResolv is the host's resolv.conf (its name servers, searches
// and options) with d's searches after the host's and d's options in
// place of the host's options of the same name.
func mergeHostResolv(host string, d *core.DNSConfig) core.DNSConfig {
	var out core.DNSConfig
	for _, line := range strings.Split(host, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			out.NameServers = append(out.NameServers, f[1])
		case "search", "domain":
			// The last search or domain line wins, as in the resolver.
			out.Searches = slices.Clone(f[1:])
		case "options":
			for _, o := range f[1:] {
				name, value, _ := strings.Cut(o, ":")
				out.Options = append(out.Options, core.DNSOption{Name: name, Value: value})
			}
		}
	}
	for _, s := range d.Searches {
		if !slices.Contains(out.Searches, s) {
			out.Searches = append(out.Searches, s)
		}
	}
	for _, o := range d.Options {
		if i := slices.IndexFunc(out.Options, func(h core.DNSOption) bool { return h.Name == o.Name }); i >= 0 {
			out.Options[i] = o
		} else {
			out.Options = append(out.Options, o)
		}
	}
	return out
}

// writeGroupFiles writes hosts, resolv.conf, hostname and the volumes. It
// is idempotent and keeps EmptyDir contents (a re-adopted group keeps its
// data).
func writeGroupFiles(dir string, g *core.Group, hostResolv string) error {
	resolv, err := resolvContent(g, hostResolv)
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		hostsFile:    hostsContent(g),
		resolvFile:   resolv,
		hostnameFile: []byte(hostname(g) + "\n"),
	} {
		// Rewritten at every setup: a crash of the machine loses nothing.
		if err := writeFileUnsynced(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, logsDir), 0o700); err != nil {
		return err
	}
	for _, v := range g.Volumes {
		if err := writeVolume(filepath.Join(dir, volumesDir, v.Name), v); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
	}
	return nil
}

func writeVolume(path string, v core.Volume) error {
	if v.Name == "" || strings.ContainsAny(v.Name, "/\x00") || v.Name == "." || v.Name == ".." {
		return fmt.Errorf("bad volume name %q", v.Name)
	}
	switch v.Type {
	case core.VolumeEmptyDir:
		// World-writable as Kubernetes' emptyDir: containers may run as any user.
		if err := os.MkdirAll(path, 0o777); err != nil {
			return err
		}
		return os.Chmod(path, 0o777)
	case core.VolumeConfigFile:
		return writeConfigFiles(path, v)
	case core.VolumeEBS:
		return nil // mounted by setup: it needs the runtime's disks
	case core.VolumeHostPath:
		return nil // bind-mounted from the host path itself (spec.go)
	case core.VolumeNFS:
		return nil // mounted by setup (nfs.go)
	default:
		return fmt.Errorf("unknown volume type %q", v.Type)
	}
}

// writeConfigFiles brings a ConfigFile volume's directory to its files in
// place: running containers bind-mount the directory (a re-adopted group's
// among them), so it is never removed or replaced. Each file is replaced
// atomically (temp file and rename in its directory) unless it already
// has its content and mode; entries no longer listed are removed.
func writeConfigFiles(path string, v core.Volume) error {
	if fi, err := os.Lstat(path); err == nil && !fi.IsDir() {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	type file struct {
		rel     string
		content []byte
		perm    os.FileMode
	}
	var list []file
	files := map[string]bool{} // relative paths of the files
	dirs := map[string]bool{}  // and of their directories
	for _, f := range v.ConfigFiles {
		rel := filepath.Clean("/" + f.Path)[1:]
		if rel == "" {
			return fmt.Errorf("bad config file path %q", f.Path)
		}
		mode := f.Mode
		if mode == 0 {
			mode = v.DefaultMode
		}
		if mode == 0 {
			mode = 0o644
		}
		list = append(list, file{rel, f.Content, os.FileMode(mode & 0o777)})
		files[rel] = true
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for rel := range files {
		if dirs[rel] {
			return fmt.Errorf("config file path %q is also a directory", rel)
		}
	}
	for _, f := range list {
		p := filepath.Join(path, f.rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if fi, err := os.Lstat(p); err == nil {
			if fi.Mode().IsRegular() && fi.Mode().Perm() == f.perm {
				if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, f.content) {
					continue
				}
			}
			if fi.IsDir() {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
			}
		}
		// Compared and rewritten at every setup: no sync needed.
		if err := writeFileUnsynced(p, f.content, f.perm); err != nil {
			return err
		}
	}
	// Entries no longer listed (and temp files of an interrupted write).
	var stale []string
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == path {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		switch {
		case d.IsDir() && dirs[rel]:
			return nil
		case !d.IsDir() && files[rel]:
			return nil
		}
		stale = append(stale, p)
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}
