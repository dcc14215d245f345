package kcictl_test

import (
	"context"
	"flag"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/kcictl"
	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/internal/testutil"
	"github.com/openkci/openkci/pkg/kci"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// harness runs kcictl in-process against an in-process kcid whose clock,
// kcictl's clock and the signatures all share.
type harness struct {
	t     *testing.T
	srv   *kcidtest.Server
	clock *clock.Fake
	home  string
	env   map[string]string
	// ids maps group IDs to stable placeholders in golden output.
	mu  sync.Mutex
	ids map[string]string
	// tty makes kcictl believe stderr is a terminal.
	tty bool
	// subst replaces strings (temporary paths) in golden output.
	subst map[string]string
	// kcidCredentials is Env.KcidCredentialsFile.
	kcidCredentials string
}

func newHarness(t *testing.T, opts ...func(*kcidtest.Options)) *harness {
	t.Helper()
	clock := clock.NewFake(kcidtest.Epoch)
	o := kcidtest.Options{Clock: clock}
	for _, f := range opts {
		f(&o)
	}
	srv := kcidtest.Start(t, o)
	return &harness{
		t: t, srv: srv, clock: clock, home: t.TempDir(),
		env: map[string]string{
			"KCI_ENDPOINT":          srv.URL,
			"KCI_ACCESS_KEY_ID":     kcidtest.AccessKeyID,
			"KCI_SECRET_ACCESS_KEY": kcidtest.SecretAccessKey,
		},
		ids: map[string]string{}, subst: map[string]string{},
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (h *harness) envFor(stdin string, stdout, stderr *testutil.SyncBuffer) kcictl.Env {
	return kcictl.Env{
		Stdin: strings.NewReader(stdin), Stdout: stdout, Stderr: stderr,
		Getenv:           func(k string) string { return h.env[k] },
		HomeDir:          h.home,
		Now:              h.clock.Now,
		PollInterval:     10 * time.Millisecond,
		StderrIsTerminal: h.tty,

		KcidCredentialsFile: h.kcidCredentials,
	}
}

// run runs one command line to its end.
func (h *harness) run(args ...string) result {
	h.t.Helper()
	return h.runIn("", args...)
}

func (h *harness) runIn(stdin string, args ...string) result {
	h.t.Helper()
	var out, errb testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := kcictl.Main(ctx, args, h.envFor(stdin, &out, &errb))
	return result{out.String(), errb.String(), code}
}

// running is a command line running in the background.
type running struct {
	stdout, stderr *testutil.SyncBuffer
	cancel         context.CancelFunc
	done           chan int
	code           int
}

func (h *harness) start(args ...string) *running {
	r := &running{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	r.cancel = cancel
	env := h.envFor("", r.stdout, r.stderr)
	go func() { r.done <- kcictl.Main(ctx, args, env) }()
	h.t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// waitFor waits until s appears in the output (stdout or stderr).
func (r *running) waitFor(t *testing.T, which *testutil.SyncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(which.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 10s; stdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wait waits for the command to end and returns its result.
func (r *running) wait(t *testing.T) result {
	t.Helper()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return result{r.stdout.String(), r.stderr.String(), code}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running after 15s; stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		return result{}
	}
}

// client is a pkg/kci client on the harness's kcid.
func (h *harness) client() *kci.Client {
	c, err := kci.New(kci.Config{Endpoint: h.srv.URL, Region: kcidtest.Region,
		AccessKeyID: kcidtest.AccessKeyID, SecretAccessKey: kcidtest.SecretAccessKey, Clock: h.clock.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// create makes a group through kcictl run and names its ID for goldens.
func (h *harness) create(name string, args ...string) string {
	h.t.Helper()
	r := h.run(append([]string{"run", name}, args...)...)
	if r.code != 0 {
		h.t.Fatalf("run %s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	h.name(id, "<"+name+"-id>")
	// Groups are listed by creation time, then ID: distinct times keep
	// the order stable.
	h.clock.Advance(time.Second)
	return id
}

func (h *harness) name(id, placeholder string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids[id] = placeholder
}

var (
	uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	macRe  = regexp.MustCompile(`fa:16:3e(:[0-9a-f]{2}){3}`)
)

// normalize replaces what changes between runs: the server's URL, group
// IDs (by their placeholders), other UUIDs (request and interface IDs) and
// MAC addresses.
func (h *harness) normalize(s string) string {
	s = strings.ReplaceAll(s, h.srv.URL, "http://KCID")
	h.mu.Lock()
	defer h.mu.Unlock()
	for old, new := range h.subst {
		s = strings.ReplaceAll(s, old, new)
	}
	s = uuidRe.ReplaceAllStringFunc(s, func(id string) string {
		p, ok := h.ids[id]
		if !ok {
			p = "<uuid>"
		}
		// As long as the ID, so that tables stay aligned.
		return p + strings.Repeat(".", max(0, len(id)-len(p)))
	})
	return macRe.ReplaceAllString(s, "fa:16:3e:00:00:00")
}

// golden compares got (normalized) with testdata/NAME, or rewrites it with
// -update.
func (h *harness) golden(name, got string) {
	h.t.Helper()
	testutil.Golden(h.t, filepath.Join("testdata", name), []byte(h.normalize(got)), *update)
}

// transcript renders a result for a golden file.
func transcript(r result) string {
	return "exit: " + strconv.Itoa(r.code) + "\n--- stdout ---\n" + r.stdout + "--- stderr ---\n" + r.stderr
}
