package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/pkg/kci"
)

const (
	accessKeyID     = "AKLTconsoletest0001"
	secretAccessKey = "console-test-secret-0001"
	region          = "cn-beijing-6"
	subnetID        = "subnet-console"
	sgID            = "sg-console"
	// consoleCIDR is this package's own range: test/e2e sweeps bridges of
	// 10.77.0.0/16 that dead kcids left.
	consoleCIDR = "10.81.0.0/16"
)

// kcidBin is the kcid binary TestMain built; buildErr says why there is none.
var (
	kcidBin  string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "openkci-console-bin-")
	if err != nil {
		buildErr = err
	} else {
		kcidBin, buildErr = testenv.BuildKcid(dir)
	}
	code := m.Run()
	testenv.Cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a kcid binary of one test on real containerd.
type server struct {
	url     string
	client  *kci.Client
	logPath string
	dataDir string
}

// startKcid starts kcid in a fresh directory and containerd namespace with
// one subnet; when the test ends it is stopped and everything it made on
// the host is removed (testenv.CleanKcid).
func startKcid(t *testing.T) *server {
	t.Helper()
	testenv.RequireGroupHost(t)
	if buildErr != nil {
		t.Fatalf("kcid binary: %v", buildErr)
	}
	ctrd := testenv.Containerd(t)
	dir, err := os.MkdirTemp("", "openkci-console-")
	if err != nil {
		t.Fatal(err)
	}
	ns := "kcicons-" + fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	dataDir := filepath.Join(dir, "data")
	s := &server{logPath: filepath.Join(dir, "kcid.log"), dataDir: dataDir}
	config := fmt.Sprintf(`vpcs:
  - {id: vpc-console, name: console, cidr: %s}
subnets:
  - {id: %s, name: console, vpc: vpc-console, cidr: 10.81.1.0/24, zone: cn-beijing-6a}
securityGroups:
  - {id: %s, name: console, vpc: vpc-console}
stopGracePeriod: 2s
node: {cpu: 64, memory: 64}
metrics: {usageResolution: 1s}
`, consoleCIDR, subnetID, sgID)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := testenv.StartProcess(s.logPath, []string{kcidBin, "serve",
		"--listen", addr, "--data-dir", dataDir, "--config", filepath.Join(dir, "config.yaml"),
		"--containerd-address", ctrd, "--containerd-namespace", ns, "--log-level", "debug"},
		append(os.Environ(), "KCID_ACCESS_KEY_ID="+accessKeyID, "KCID_SECRET_ACCESS_KEY="+secretAccessKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("kcid log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
		p.Stop(20 * time.Second)
		leaked, notes := testenv.CleanKcid(ctrd, ns, dataDir)
		for _, l := range leaked {
			t.Errorf("left on the host by kcid (namespace %s) after every group was deleted: %s", ns, l)
		}
		for _, n := range notes {
			t.Log(n)
		}
		for _, m := range testenv.MountsUnderDir(dir) {
			t.Errorf("mount left under kcid's directory: %s", m)
		}
		os.RemoveAll(dir)
	})
	s.url = "http://" + addr
	if err := testenv.WaitHealthy(p, s.url+"/healthz", 90*time.Second); err != nil {
		t.Fatalf("kcid did not come up: %v", err)
	}
	s.client, err = kci.New(kci.Config{Endpoint: s.url, Region: region, AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// groups lists the account's groups through the API.
func (s *server) groups(t *testing.T) []kci.ContainerGroup {
	t.Helper()
	r, err := s.client.DescribeContainerGroup(context.Background(), &kci.DescribeContainerGroupRequest{MaxResults: 100})
	if err != nil {
		t.Fatalf("DescribeContainerGroup: %v", err)
	}
	return r.ContainerGroups
}

// waitRemoved waits until the runtime has torn a deleted group down (its
// state directory goes last, docs/host.md): the API forgets a group at
// once, the teardown follows in the background.
func (s *server) waitRemoved(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	dir := filepath.Join(s.dataDir, "runtime", "groups", id)
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not torn down %v after its delete (%s remains)", id, timeout, dir)
		}
	}
}

// page is a browser tab and what it wrote to its console.
type page struct {
	t        testing.TB
	ctx      context.Context
	mu       sync.Mutex
	problems []string // script errors, CSP violations
}

// newPage starts headless chromium (Debian's package) with one tab.
func newPage(t testing.TB) *page {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.SkipOrFatal(t, "chromium not found (Debian package chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p := &page{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// A refused call (the wrong key) is a network error entry:
			// expected. Anything else at error level is a fault of the page.
			if (m.Type == chromedp.ConsoleError && m.Source != "network") || m.IsException() {
				p.mu.Lock()
				p.problems = append(p.problems, m.String()+" at "+m.URL)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// do runs actions with a deadline.
func (p *page) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\npage:\n%s", what, err, p.mainText())
	}
}

// eval runs a JavaScript expression (promises awaited) and decodes its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is truthy.
func (p *page) waitFor(what, predicate string, timeout time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		p.t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, predicate, err, p.mainText())
	}
}

func (p *page) mainText() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText : document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// set gives a form control a value as typing would (an input event).
func (p *page) set(selector, value string) {
	p.t.Helper()
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	p.waitFor(selector, fmt.Sprintf(`document.querySelector(%s)`, sel), 10*time.Second)
	eval[chromedp.Void](p, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = %s; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, val))
}

func (p *page) click(selector string) {
	p.t.Helper()
	p.do("click "+selector, 20*time.Second, chromedp.Click(chromedp.CSS(selector)))
}

// goTo opens a console route (a hash) and waits for its heading.
func (p *page) goTo(hash, heading string) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`location.hash = %q`, hash))
	p.waitFor("the page "+hash, fmt.Sprintf(`document.querySelector("h1") && document.querySelector("h1").textContent === %q`, heading), 15*time.Second)
}

// screenshot writes the viewport as DIR/name.png when
// KCI_CONSOLE_SCREENSHOTS=DIR.
func (p *page) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("KCI_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// checkClean fails the test on script errors or CSP violations so far.
func (p *page) checkClean() {
	p.t.Helper()
	time.Sleep(200 * time.Millisecond) // let the console events arrive
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.problems {
		p.t.Errorf("browser console: %s", m)
	}
	p.problems = nil
}
