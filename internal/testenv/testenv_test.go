package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// ns is this package's own namespace: other packages' tests may run at the
// same time in TestNamespace.
const ns = "openkci-testenv"

func get(t *testing.T, reg LocalRegistry, path string, auth bool, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", reg.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	var resp *http.Response
	if auth {
		resp, err = reg.Do(req)
	} else {
		resp, err = http.DefaultClient.Do(req)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestRegistryAuth(t *testing.T) {
	reg := Registry(t)
	t.Logf("registry %s started in %v", reg.Host, registryStartTime)
	if !strings.HasPrefix(reg.Host, "127.0.0.1:") || reg.Username == "" || reg.Password == "" {
		t.Fatalf("bad registry %+v", reg)
	}

	resp, _ := get(t, reg, "/v2/", false, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /v2/: %s, want 401", resp.Status)
	}
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic ") {
		t.Errorf("challenge %q, want Basic", ch)
	}

	resp, _ = get(t, reg, "/v2/", true, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authenticated GET /v2/: %s, want 200\n%s", resp.Status, reg.Log())
	}

	bad := reg
	bad.Password = "wrong"
	req, _ := http.NewRequest("GET", reg.URL()+"/v2/", nil)
	resp, err := bad.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v2/ with a wrong password: %s, want 401", resp.Status)
	}
}

func TestBusyboxImagePushed(t *testing.T) {
	ref := BusyboxImage(t)
	reg := Registry(t)
	t.Logf("busybox image %s built and pushed in %v", ref, busyboxBuildTime)
	if want := reg.Host + "/openkci/busybox:test"; ref != want {
		t.Fatalf("ref %q, want %q", ref, want)
	}
	img := ImageInfo(ref)
	if img == nil {
		t.Fatal("no ImageInfo")
	}

	// Anonymous pulls are refused.
	resp, _ := get(t, reg, "/v2/openkci/busybox/manifests/test", false, MediaTypeManifest)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous manifest GET: %s, want 401", resp.Status)
	}

	// With credentials the manifest is the one pushed.
	resp, body := get(t, reg, "/v2/openkci/busybox/manifests/test", true, MediaTypeManifest)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("manifest GET: %s: %s", resp.Status, body)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != img.ManifestDigest {
		t.Errorf("manifest digest %s, want %s", got, img.ManifestDigest)
	}
	if string(body) != string(img.Manifest) {
		t.Errorf("manifest differs:\n%s\nwant\n%s", body, img.Manifest)
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct {
			Digest string
			Size   int
		}
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(m.Layers))
	}
	t.Logf("busybox layer %s: %d bytes", m.Layers[0].Digest, m.Layers[0].Size)

	resp, cfg := get(t, reg, "/v2/openkci/busybox/blobs/"+m.Config.Digest, true, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("config GET: %s", resp.Status)
	}
	var c struct {
		Architecture, OS string
		Config           struct {
			Env        []string
			Cmd        []string
			Entrypoint []string
		}
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Config.Cmd, []string{"sh"}) || c.Config.Entrypoint != nil || len(c.Config.Env) != 1 || !strings.HasPrefix(c.Config.Env[0], "PATH=") {
		t.Errorf("config %s", cfg)
	}
	resp, layer := get(t, reg, "/v2/openkci/busybox/blobs/"+m.Layers[0].Digest, true, "")
	if resp.StatusCode != http.StatusOK || digestOf(layer) != m.Layers[0].Digest {
		t.Fatalf("layer GET: %s, digest %s", resp.Status, digestOf(layer))
	}

	// The tag list has it.
	resp, body = get(t, reg, "/v2/openkci/busybox/tags/list", true, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"test"`) {
		t.Errorf("tags/list: %s %s", resp.Status, body)
	}
}

func TestBusyboxImageVariant(t *testing.T) {
	base := ImageInfo(BusyboxImage(t))
	start := time.Now()
	v := BusyboxImageInfo(t, ImageConfig{
		Repo:   "openkci/hello",
		Cmd:    []string{"sh", "-c", "echo variant says $GREETING; cat /etc/greeting"},
		Env:    []string{"GREETING=hi"},
		Labels: map[string]string{"a": "b"},
		Files:  []File{{Path: "/etc/greeting", Content: []byte("from a file\n")}},
	})
	t.Logf("variant %s pushed in %v", v.Ref, time.Since(start))
	var bm, vm struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(base.Manifest, &bm); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(v.Manifest, &vm); err != nil {
		t.Fatal(err)
	}
	if len(vm.Layers) != 2 || vm.Layers[0].Digest != bm.Layers[0].Digest {
		t.Fatalf("variant layers %v, base %v", vm.Layers, bm.Layers)
	}
	if !strings.HasSuffix(v.Ref, "/openkci/hello:test") {
		t.Errorf("ref %s", v.Ref)
	}
}

func pullAndRun(t *testing.T, addr, ref string, args ...string) string {
	t.Helper()
	reg := Registry(t)
	Ctr(t, addr, ns, "images", "pull", "--plain-http", "--user", reg.Username+":"+reg.Password, ref)
	id := "testenv-" + randomHex(4)
	t.Cleanup(func() { RemoveContainer(addr, ns, id) })
	return Ctr(t, addr, ns, append([]string{"run", "--rm", ref, id}, args...)...)
}

func TestContainerdPullAndRun(t *testing.T) {
	RequireRoot(t)
	addr := Containerd(t)
	t.Logf("containerd at %s", addr)
	ref := BusyboxImage(t)

	// Anonymous pulls fail.
	if _, err := CtrE(addr, ns, "images", "pull", "--plain-http", ref); err == nil {
		t.Errorf("anonymous pull of %s succeeded", ref)
	}

	start := time.Now()
	out := pullAndRun(t, addr, ref, "echo", "hello")
	t.Logf("pull + run in %v", time.Since(start))
	if strings.TrimSpace(out) != "hello" {
		t.Fatalf("ctr run echo hello printed %q", out)
	}

	out = pullAndRun(t, addr, ref, "sh", "-c", "id -u; ls /bin/wget /bin/nc /bin/ping /bin/ip; echo $PATH")
	for _, want := range []string{"0\n", "/bin/wget", "/bin/ip", "/usr/bin:/sbin:/bin"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	v := BusyboxImageWith(t, ImageConfig{
		Repo:  "openkci/hello",
		Cmd:   []string{"sh", "-c", "echo variant says $GREETING; cat /etc/greeting"},
		Env:   []string{"GREETING=hi"},
		Files: []File{{Path: "/etc/greeting", Content: []byte("from a file\n")}},
	})
	out = pullAndRun(t, addr, v)
	if out != "variant says hi\nfrom a file\n" {
		t.Errorf("variant printed %q", out)
	}

	if ids := ContainerdContainers(t, addr, ns); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	if ids := ContainerdTasks(t, addr, ns); len(ids) != 0 {
		t.Errorf("tasks left: %v", ids)
	}
	if imgs := ContainerdImages(t, addr, ns); !slices.Contains(imgs, ref) {
		t.Errorf("images %v lack %s", imgs, ref)
	}
	t.Logf("snapshots: %d", len(ContainerdSnapshots(t, addr, ns, "")))
	Ctr(t, addr, ns, "images", "rm", ref, v)
}

func TestHelpers(t *testing.T) {
	if ms := MountsUnder(t, "/proc"); !slices.Contains(ms, "/proc") {
		t.Errorf("MountsUnder(/proc) = %v", ms)
	}
	if len(Mounts(t)) == 0 {
		t.Error("no mounts")
	}
	dir := t.TempDir()
	if ms := MountsUnder(t, dir); len(ms) != 0 {
		t.Errorf("mounts under a new temp dir: %v", ms)
	}
	t.Logf("netns: %v", NetNSList(t))
	if _, err := os.Stat("/dev/loop-control"); err == nil {
		t.Logf("loop devices: %v", LoopDevices(t))
		if ds := LoopDevicesBackedUnder(t, dir); len(ds) != 0 {
			t.Errorf("loop devices under a new temp dir: %v", ds)
		}
	}
	t.Logf("CNI plugins in %q", CNIBinDir())
}

func TestParseChallenge(t *testing.T) {
	s, p := parseChallenge(`Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"`)
	if s != "Bearer" || p["realm"] != "https://auth.example/token" || p["service"] != "registry" || p["scope"] != "repository:a/b:pull,push" {
		t.Errorf("got %q %v", s, p)
	}
	s, p = parseChallenge(`Basic realm="openkci-test"`)
	if s != "Basic" || p["realm"] != "openkci-test" {
		t.Errorf("got %q %v", s, p)
	}
}

func TestUnescape(t *testing.T) {
	if got := unescapeMountinfo(`/a\040b\134c`); got != `/a b\c` {
		t.Errorf("unescapeMountinfo = %q", got)
	}
	if got := unescapeRaw(`/a\x20b`); got != "/a b" {
		t.Errorf("unescapeRaw = %q", got)
	}
}
