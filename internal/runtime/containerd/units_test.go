package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

func TestPullPolicy(t *testing.T) {
	for _, c := range []struct{ policy, ref, want string }{
		{"", "nginx", pullAlways},
		{"", "nginx:latest", pullAlways},
		{"", "nginx:1.25", pullIfNotPresent},
		{"", "nginx@sha256:" + strings.Repeat("a", 64), pullIfNotPresent},
		{"Never", "nginx", pullNever},
		{"IfNotPresent", "nginx", pullIfNotPresent},
		{"Always", "nginx:1", pullAlways},
	} {
		if got := pullPolicy(c.policy, c.ref); got != c.want {
			t.Errorf("pullPolicy(%q, %q) = %s, want %s", c.policy, c.ref, got, c.want)
		}
	}
}

func TestRegistryMatching(t *testing.T) {
	for _, c := range []struct {
		server, host string
		want         bool
	}{
		{"https://index.docker.io/v1/", "registry-1.docker.io", true},
		{"docker.io", "registry-1.docker.io", true},
		{"127.0.0.1:5000", "127.0.0.1:5000", true},
		{"http://127.0.0.1:5000/", "127.0.0.1:5000", true},
		{"127.0.0.1:5001", "127.0.0.1:5000", false},
		{"hub.kce.ksyun.com", "hub.kce.ksyun.com", true},
	} {
		if got := sameRegistry(c.server, c.host); got != c.want {
			t.Errorf("sameRegistry(%q, %q) = %v", c.server, c.host, got)
		}
	}
	im := &images{insecure: map[string]bool{"reg.lan:5000": true, "plain.lan": true}}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "localhost": false, "localhost:443": false, "[::1]:5000": true,
		"reg.lan:5000": true, "plain.lan:443": true, "reg.lan:5001": false, "docker.io": false,
	} {
		if got, _ := im.plainHTTP(host); got != want {
			t.Errorf("plainHTTP(%q) = %v", host, got)
		}
	}
}

func TestNetConfList(t *testing.T) {
	g := &core.Group{ID: "g1", Network: core.Network{VpcID: "vpc", SubnetID: "subnet-1", SubnetCIDR: "10.1.2.0/24",
		Gateway: "10.1.2.1", PrivateIP: "10.1.2.7", MAC: "02:42:0a:01:02:07"}, EgressBandwidth: 10}
	in := instance{ID: "1a2b3c4d", Namespace: "openkci"}
	b, err := netConfList(in, g)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Plugins) != 2 || l.Plugins[0]["type"] != "bridge" ||
		l.Plugins[1]["egressRate"] != float64(10_000_000) || l.Plugins[1]["ingressRate"] != nil {
		t.Errorf("conf: %s", b)
	}
	if !strings.Contains(string(b), `"args":{"cni":{"mac":"02:42:0a:01:02:07"}}`) {
		t.Errorf("MAC not in the bridge plugin's args: %s", b)
	}
	if !strings.Contains(string(b), `"address":"10.1.2.7/24"`) || !strings.Contains(string(b), `"gateway":"10.1.2.1"`) {
		t.Errorf("ipam: %s", b)
	}
	if br := confBridge(b); br != in.bridgeName("subnet-1") || len(br) > 15 {
		t.Errorf("bridge %q", br)
	}
	if l.Name != "kci-1a2b3c4d-subnet-1" {
		t.Errorf("network name %q", l.Name)
	}
	g.Network.PrivateIP = "10.9.9.9"
	if _, err := netConfList(in, g); err == nil {
		t.Errorf("IP outside the subnet accepted")
	}
}

func TestHostsAndResolv(t *testing.T) {
	g := &core.Group{ID: "kci-1", Name: "Web_1", Network: core.Network{PrivateIP: "10.0.0.5"},
		HostAliases: []core.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"a", "b"}}}}
	h := string(hostsContent(g))
	if !strings.Contains(h, "10.0.0.5\tkci-1 Web_1\n") || !strings.Contains(h, "1.2.3.4\ta\tb\n") {
		t.Errorf("hosts:\n%s", h)
	}
	host := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(host, []byte("nameserver 9.9.9.9\n"), 0o644)
	if b, _ := resolvContent(g, host); string(b) != "nameserver 9.9.9.9\n" {
		t.Errorf("host default: %q", b)
	}
	g.DNS = &core.DNSConfig{NameServers: []string{"1.1.1.1", "8.8.8.8"}, Options: []core.DNSOption{{Name: "rotate"}, {Name: "ndots", Value: "3"}}}
	if b, _ := resolvContent(g, host); string(b) != "nameserver 1.1.1.1\nnameserver 8.8.8.8\noptions rotate ndots:3\n" {
		t.Errorf("dns config: %q", b)
	}
	// No name servers: the host's, with the group's searches and options
	// merged in (Kubernetes' dnsPolicy Default with a dnsConfig).
	os.WriteFile(host, []byte("# host\nnameserver 9.9.9.9\nnameserver 9.9.9.8\nsearch corp.example\noptions ndots:2 rotate\n"), 0o644)
	for _, c := range []struct {
		dns  core.DNSConfig
		want string
	}{
		{core.DNSConfig{Searches: []string{"kci.example.com", "corp.example"}},
			"nameserver 9.9.9.9\nnameserver 9.9.9.8\nsearch corp.example kci.example.com\noptions ndots:2 rotate\n"},
		{core.DNSConfig{Options: []core.DNSOption{{Name: "ndots", Value: "5"}, {Name: "edns0"}}},
			"nameserver 9.9.9.9\nnameserver 9.9.9.8\nsearch corp.example\noptions ndots:5 rotate edns0\n"},
	} {
		g.DNS = &c.dns
		if b, _ := resolvContent(g, host); string(b) != c.want {
			t.Errorf("dns config %+v on the host's:\n%s\nwant\n%s", c.dns, b, c.want)
		}
	}
}

func TestTailAndRotate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	var b strings.Builder
	for i := 1; i <= 5000; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", i%50))
	}
	os.WriteFile(p, []byte(b.String()), 0o600)
	got, err := tailLog(p, 2)
	if err != nil || got != "line 4999 "+strings.Repeat("x", 4999%50)+"\nline 5000 \n" {
		t.Errorf("tail 2 = %q, %v", got, err)
	}
	if _, err := rotateLog(p, 1000); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Size() != 0 {
		t.Errorf("not truncated: %d", fi.Size())
	}
	os.WriteFile(p, []byte("new 1\nnew 2"), 0o600) // last line unterminated
	if b, _ := os.ReadFile(p + ".1"); len(b) > 1000 || !strings.HasPrefix(string(b), "line ") {
		t.Errorf("rotated file: %d bytes, starts %.20q", len(b), b)
	}
	got, _ = tailLog(p, 3)
	if got != "line 5000 \nnew 1\nnew 2" {
		t.Errorf("tail across rotation = %q", got)
	}
	if got, _ := tailLog(p, 0); !strings.HasSuffix(got, "line 5000 \nnew 1\nnew 2") || len(got) > 1100 {
		t.Errorf("tail all: %d bytes", len(got))
	}
	if got, err := tailLog(filepath.Join(t.TempDir(), "none.log"), 5); got != "" || err != nil {
		t.Errorf("missing log: %q %v", got, err)
	}
}

func TestStartValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for name, g := range map[string]*core.Group{
		"bad id":         {ID: "../etc"},
		"duplicate name": {ID: "kci-dup", Containers: []core.Container{{Name: "a"}, {Name: "a"}}},
		"slash in name":  {ID: "kci-slash", Containers: []core.Container{{Name: "a/b"}}},
	} {
		if err := e.rt.Start(ctx, g); !errors.Is(err, kcierr.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.rt.Status(ctx, "kci-unknown"); !errors.Is(err, kcierr.ErrNotFound) {
		t.Errorf("Status of unknown: %v", err)
	}
	if _, err := e.rt.Logs(ctx, "kci-unknown", "c", 1); !errors.Is(err, kcierr.ErrNotFound) {
		t.Errorf("Logs of unknown: %v", err)
	}
	if err := e.rt.Remove(ctx, &core.Group{ID: "kci-never-started"}); err != nil {
		t.Errorf("Remove of unknown: %v", err)
	}
}

// TestStateWithoutNetwork: a state saved before CNI was configured reads
// back with no configuration, whether it was written by this version
// (omitted) or an older one (null), so recovery never hands CNI "null".
func TestStateWithoutNetwork(t *testing.T) {
	for name, content := range map[string]string{
		"omitted": `{"group":{"ID":"g"},"netns":""}`,
		"null":    `{"group":{"ID":"g"},"netns":"","cniConf":null}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := readState(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.CNIConf) != 0 {
				t.Fatalf("CNIConf = %q, want none", st.CNIConf)
			}
		})
	}
	b, err := marshalState(&groupState{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "cniConf") {
		t.Fatalf("empty CNIConf written: %s", b)
	}
}

// TestWriteConfigFilesInPlace: rewriting a ConfigFile volume keeps its
// directory (containers bind-mount it), updates changed files, removes
// unlisted ones and leaves unchanged ones alone.
func TestWriteConfigFilesInPlace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	v := core.Volume{Name: "conf", Type: core.VolumeConfigFile, ConfigFiles: []core.ConfigFile{
		{Path: "a", Content: []byte("A")},
		{Path: "sub/b", Content: []byte("B"), Mode: 0o600},
		{Path: "old/c", Content: []byte("C")},
	}}
	if err := writeVolume(dir, v); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(dir)
	a1, _ := os.Stat(filepath.Join(dir, "a"))
	v.ConfigFiles = []core.ConfigFile{
		{Path: "a", Content: []byte("A")},
		{Path: "sub/b", Content: []byte("B2"), Mode: 0o640},
		{Path: "new", Content: []byte("N")},
	}
	if err := writeVolume(dir, v); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(dir)
	if !os.SameFile(before, after) {
		t.Error("volume directory replaced")
	}
	if a2, _ := os.Stat(filepath.Join(dir, "a")); !os.SameFile(a1, a2) {
		t.Error("unchanged file rewritten")
	}
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, _ error) error {
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			fi, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			got = append(got, fmt.Sprintf("%s=%s:%o", rel, b, fi.Mode().Perm()))
		}
		return nil
	})
	if s := strings.Join(got, " "); s != "a=A:644 new=N:644 sub/b=B2:640" {
		t.Errorf("volume holds %s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "old")); !os.IsNotExist(err) {
		t.Errorf("unlisted directory kept: %v", err)
	}
	v.ConfigFiles = []core.ConfigFile{{Path: "x", Content: nil}, {Path: "x/y", Content: nil}}
	if err := writeVolume(dir, v); err == nil {
		t.Error("a path both file and directory accepted")
	}
}

// TestImageLocksBounded: a reference's lock entry goes with its last user
// (tenants choose the names), whether it got the lock or gave up waiting.
func TestImageLocksBounded(t *testing.T) {
	im := &images{}
	for i := 0; i < 100; i++ {
		unlock, err := im.lock(context.Background(), fmt.Sprintf("reg.example/img%d:1", i))
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	unlock, _ := im.lock(context.Background(), "reg.example/busy:1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := im.lock(ctx, "reg.example/busy:1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock: %v", err)
	}
	done := make(chan func())
	go func() {
		u, _ := im.lock(context.Background(), "reg.example/busy:1")
		done <- u
	}()
	time.Sleep(10 * time.Millisecond)
	unlock()
	(<-done)()
	im.mu.Lock()
	defer im.mu.Unlock()
	if len(im.locks) != 0 {
		t.Errorf("%d lock entries left", len(im.locks))
	}
}

func TestContainerEnv(t *testing.T) {
	g := &core.Group{ID: "g-1", Name: "web", Network: core.Network{PrivateIP: "10.88.0.7"}}
	for _, tc := range []struct {
		env  []core.EnvVar
		want []string
		err  string
	}{
		{nil, []string{}, ""},
		{[]core.EnvVar{{Key: "A", Value: "1"}, {Key: "E"}}, []string{"A=1", "E="}, ""},
		{[]core.EnvVar{
			{Key: "N", FieldPath: core.FieldName}, {Key: "U", FieldPath: core.FieldUID},
			{Key: "IP", FieldPath: core.FieldPodIP}, {Key: "IPS", FieldPath: core.FieldPodIPs},
			{Key: "NODE", FieldPath: core.FieldNodeName},
		}, []string{"N=web", "U=g-1", "IP=10.88.0.7", "IPS=10.88.0.7", "NODE=node-a"}, ""},
		{[]core.EnvVar{{Key: "X", FieldPath: "status.hostIP"}}, nil, `field path "status.hostIP" is not supported`},
	} {
		got, err := containerEnv(g, &core.Container{Env: tc.env}, "node-a")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v: %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestCPUShares(t *testing.T) {
	for _, tc := range []struct {
		cores float64
		want  uint64
	}{{0.001, 2}, {0.002, 2}, {0.25, 256}, {0.5, 512}, {1, 1024}, {2.5, 2560}, {0.333, 340}} {
		if got := cpuShares(tc.cores); got != tc.want {
			t.Errorf("cpuShares(%v) = %d, want %d", tc.cores, got, tc.want)
		}
	}
}
