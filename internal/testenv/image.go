package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Media types of the images built here (Docker image manifest v2 schema 2,
// which every registry and containerd understand).
const (
	MediaTypeManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeConfig   = "application/vnd.docker.container.image.v1+json"
	MediaTypeLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// DefaultPath is the PATH of the images' config.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BusyboxRepo and BusyboxTag name the default image: Host/openkci/busybox:test.
const (
	BusyboxRepo = "openkci/busybox"
	BusyboxTag  = "test"
)

// File is a file added to an image in a layer of its own on top of the
// busybox layer.
type File struct {
	Path    string // absolute path in the image
	Content []byte
	Mode    int64 // permission bits; 0644 if 0
}

// ImageConfig describes a busybox image variant. The busybox layer is
// shared by all variants.
type ImageConfig struct {
	Repo       string // repository in the registry, e.g. "openkci/hello"; required
	Tag        string // "test" if empty
	Entrypoint []string
	Cmd        []string // nil means ["sh"]
	Env        []string // added after PATH (an entry "PATH=..." replaces it)
	WorkingDir string
	User       string
	Labels     map[string]string
	// ExposedPorts like "80/tcp"; Volumes like "/data".
	ExposedPorts []string
	Volumes      []string
	// Files go in a second layer.
	Files []File
}

// Image is an image that was pushed to the registry.
type Image struct {
	Ref            string // Host/repo:tag
	ManifestDigest string // sha256:...
	ConfigDigest   string
	Size           int64 // manifest + config + layers, compressed
	Manifest       []byte
	Config         []byte
}

type blob struct {
	mediaType string
	digest    string
	data      []byte
	diffID    string // layers: digest of the uncompressed tar
}

var (
	baseLayerOnce sync.Once
	baseLayer     *blob
	baseLayerErr  error

	imagesMu sync.Mutex
	images   = map[string]*Image{} // by Ref

	busyboxOnce sync.Once
	busyboxRef  string
	busyboxErr  error

	// busyboxBuildTime is how long building and pushing the default image
	// took.
	busyboxBuildTime time.Duration
)

// BusyboxImage returns the reference Host/openkci/busybox:test of an image
// built, once per test process, from Debian's busybox-static and pushed to
// Registry(t) with its credentials. The image has /bin/busybox with a
// symlink in /bin for each applet (sh, ls, cat, echo, sleep, wget, nc,
// ping, ip, mount, ...), /etc/passwd, /etc/group, /etc/hosts, /tmp and
// /root; its config has Env [PATH=...], no Entrypoint and Cmd ["sh"].
func BusyboxImage(t testing.TB) string {
	t.Helper()
	reg := Registry(t)
	busyboxOnce.Do(func() {
		start := time.Now()
		var img *Image
		img, busyboxErr = buildAndPush(reg, ImageConfig{Repo: BusyboxRepo, Tag: BusyboxTag})
		if busyboxErr == nil {
			busyboxRef = img.Ref
		}
		busyboxBuildTime = time.Since(start)
	})
	if busyboxErr != nil {
		t.Fatalf("testenv: busybox image: %v", busyboxErr)
	}
	return busyboxRef
}

// BusyboxImageWith builds a variant of the busybox image (same layer,
// another config, optional extra files), pushes it to Registry(t) and
// returns its reference Host/Repo:Tag. Pushing the same variant again is
// cheap (blobs already there are not uploaded again).
func BusyboxImageWith(t testing.TB, cfg ImageConfig) string {
	t.Helper()
	return BusyboxImageInfo(t, cfg).Ref
}

// BusyboxImageInfo is BusyboxImageWith returning the digests and contents.
func BusyboxImageInfo(t testing.TB, cfg ImageConfig) *Image {
	t.Helper()
	reg := Registry(t)
	if cfg.Repo == "" {
		t.Fatalf("testenv: ImageConfig.Repo is required")
	}
	img, err := buildAndPush(reg, cfg)
	if err != nil {
		t.Fatalf("testenv: image %s: %v", cfg.Repo, err)
	}
	return img
}

// ImageInfo returns what is known of an image pushed by this package in
// this process, by reference; nil if none.
func ImageInfo(ref string) *Image {
	imagesMu.Lock()
	defer imagesMu.Unlock()
	return images[ref]
}

func buildAndPush(reg LocalRegistry, cfg ImageConfig) (*Image, error) {
	if cfg.Tag == "" {
		cfg.Tag = "test"
	}
	baseLayerOnce.Do(func() { baseLayer, baseLayerErr = busyboxLayer() })
	if baseLayerErr != nil {
		return nil, baseLayerErr
	}
	layers := []*blob{baseLayer}
	if len(cfg.Files) > 0 {
		l, err := filesLayer(cfg.Files)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	config, err := imageConfigBlob(cfg, layers)
	if err != nil {
		return nil, err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeManifest,
		"config":        descriptor(config),
	}
	var lds []map[string]any
	size := int64(len(config.data))
	for _, l := range layers {
		lds = append(lds, descriptor(l))
		size += int64(len(l.data))
	}
	manifest["layers"] = lds
	mb, err := json.MarshalIndent(manifest, "", "   ")
	if err != nil {
		return nil, err
	}
	size += int64(len(mb))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newPusher(reg)
	for _, b := range append(layers, config) {
		if err := p.pushBlob(ctx, cfg.Repo, b); err != nil {
			return nil, err
		}
	}
	mdigest, err := p.pushManifest(ctx, cfg.Repo, cfg.Tag, MediaTypeManifest, mb)
	if err != nil {
		return nil, err
	}
	img := &Image{
		Ref:            reg.Ref(cfg.Repo, cfg.Tag),
		ManifestDigest: mdigest,
		ConfigDigest:   config.digest,
		Size:           size,
		Manifest:       mb,
		Config:         config.data,
	}
	imagesMu.Lock()
	images[img.Ref] = img
	imagesMu.Unlock()
	return img, nil
}

func descriptor(b *blob) map[string]any {
	return map[string]any{"mediaType": b.mediaType, "digest": b.digest, "size": len(b.data)}
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// epoch is the fixed time of every file and of the image, so that the same
// busybox gives the same digests.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type tarBuilder struct {
	buf  bytes.Buffer
	tw   *tar.Writer
	dirs map[string]bool
}

func newTarBuilder() *tarBuilder {
	tb := &tarBuilder{dirs: map[string]bool{}}
	tb.tw = tar.NewWriter(&tb.buf)
	return tb
}

func (tb *tarBuilder) hdr(h *tar.Header) error {
	h.ModTime = epoch
	h.Format = tar.FormatPAX
	h.Uname, h.Gname = "root", "root"
	return tb.tw.WriteHeader(h)
}

// dir adds the directory and its missing parents (name relative, no
// leading slash).
func (tb *tarBuilder) dir(name string, mode int64) error {
	name = strings.Trim(name, "/")
	if name == "" || name == "." || tb.dirs[name] {
		return nil
	}
	if err := tb.dir(path.Dir(name), 0o755); err != nil {
		return err
	}
	tb.dirs[name] = true
	return tb.hdr(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
}

func (tb *tarBuilder) file(name string, mode int64, data []byte) error {
	name = strings.TrimLeft(name, "/")
	if err := tb.dir(path.Dir(name), 0o755); err != nil {
		return err
	}
	if err := tb.hdr(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := tb.tw.Write(data)
	return err
}

func (tb *tarBuilder) symlink(name, target string) error {
	name = strings.TrimLeft(name, "/")
	if err := tb.dir(path.Dir(name), 0o755); err != nil {
		return err
	}
	return tb.hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

// finish closes the tar and returns it as a gzip layer blob.
func (tb *tarBuilder) finish() (*blob, error) {
	if err := tb.tw.Close(); err != nil {
		return nil, err
	}
	raw := tb.buf.Bytes()
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	zw.ModTime = epoch
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &blob{mediaType: MediaTypeLayer, digest: digestOf(gz.Bytes()), data: gz.Bytes(), diffID: digestOf(raw)}, nil
}

// busyboxApplets are the applets linked in /bin if `busybox --list` fails.
var busyboxApplets = []string{
	"sh", "ash", "ls", "cat", "echo", "sleep", "wget", "nc", "ping", "dd",
	"head", "tail", "env", "id", "ip", "hostname", "mount", "umount", "ps",
	"kill", "touch", "mkdir", "rm", "cp", "mv", "ln", "true", "false", "grep",
	"sed", "awk", "df", "du", "wc", "test", "[", "printf", "date", "uname",
	"whoami", "nslookup", "stat", "chmod", "chown", "sync", "top", "free",
	"httpd", "seq", "tr", "cut", "sort", "uniq", "xargs", "find", "vi",
	"readlink", "realpath", "basename", "dirname", "pwd", "tee", "yes",
	"netstat", "ifconfig", "route", "nproc", "timeout", "watch", "sha256sum",
	"md5sum", "base64", "od", "hexdump", "less", "more", "tar", "gzip",
	"gunzip", "usleep", "mkfifo", "flock", "pidof", "pkill", "killall",
}

func busyboxLayer() (*blob, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read %s (install busybox-static): %w", BusyboxPath, err)
	}
	applets := busyboxApplets
	if out, err := run(context.Background(), 10*time.Second, BusyboxPath, "--list"); err == nil && len(lines(out)) > 10 {
		applets = lines(out)
	}
	sort.Strings(applets)

	tb := newTarBuilder()
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "dev", "proc", "sys", "var", "run", "home"} {
		if err := tb.dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := tb.dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	if err := tb.dir("var/tmp", 0o1777); err != nil {
		return nil, err
	}
	if err := tb.dir("root", 0o700); err != nil {
		return nil, err
	}
	if err := tb.file("bin/busybox", 0o755, bb); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := tb.symlink("bin/"+a, "busybox"); err != nil {
			return nil, err
		}
	}
	etc := []struct{ name, content string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"},
		{"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
		{"etc/hostname", "busybox\n"},
		{"etc/resolv.conf", ""},
	}
	for _, f := range etc {
		if err := tb.file(f.name, 0o644, []byte(f.content)); err != nil {
			return nil, err
		}
	}
	return tb.finish()
}

func filesLayer(files []File) (*blob, error) {
	tb := newTarBuilder()
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("file path %q is not absolute", f.Path)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tb.file(path.Clean(f.Path), mode, f.Content); err != nil {
			return nil, err
		}
	}
	return tb.finish()
}

func imageConfigBlob(cfg ImageConfig, layers []*blob) (*blob, error) {
	env := []string{DefaultPath}
	for _, e := range cfg.Env {
		if strings.HasPrefix(e, "PATH=") {
			env[0] = e
			continue
		}
		env = append(env, e)
	}
	cmd := cfg.Cmd
	if cmd == nil && cfg.Entrypoint == nil {
		cmd = []string{"sh"}
	}
	c := map[string]any{
		"Env": env,
	}
	if cmd != nil {
		c["Cmd"] = cmd
	}
	if cfg.Entrypoint != nil {
		c["Entrypoint"] = cfg.Entrypoint
	}
	if cfg.WorkingDir != "" {
		c["WorkingDir"] = cfg.WorkingDir
	}
	if cfg.User != "" {
		c["User"] = cfg.User
	}
	if len(cfg.Labels) > 0 {
		c["Labels"] = cfg.Labels
	}
	if len(cfg.ExposedPorts) > 0 {
		m := map[string]struct{}{}
		for _, p := range cfg.ExposedPorts {
			m[p] = struct{}{}
		}
		c["ExposedPorts"] = m
	}
	if len(cfg.Volumes) > 0 {
		m := map[string]struct{}{}
		for _, v := range cfg.Volumes {
			m[v] = struct{}{}
		}
		c["Volumes"] = m
	}
	var diffIDs []string
	var history []map[string]any
	for i, l := range layers {
		diffIDs = append(diffIDs, l.diffID)
		by := "openkci testenv: busybox-static"
		if i > 0 {
			by = "openkci testenv: files"
		}
		history = append(history, map[string]any{"created": epoch.Format(time.RFC3339), "created_by": by})
	}
	img := map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       c,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history":      history,
	}
	b, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}
	return &blob{mediaType: MediaTypeConfig, digest: digestOf(b), data: b}, nil
}
