package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// resolvContent is the group's DnsConfig, or the host's resolv.conf.
func resolvContent(g *core.Group, hostResolv string) ([]byte, error) {
	d := g.DNS
	if d == nil || (len(d.NameServers) == 0 && len(d.Searches) == 0 && len(d.Options) == 0) {
		b, err := os.ReadFile(hostResolv)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	var b strings.Builder
	for _, ns := range d.NameServers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(d.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Searches, " "))
	}
	if len(d.Options) > 0 {
		opts := make([]string, 0, len(d.Options))
		for _, o := range d.Options {
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
