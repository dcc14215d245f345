package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openkci/openkci/internal/app"
	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/internal/service"
)

const (
	testAK     = "AKLTtestkey0001"
	testSK     = "test-secret-key-0001"
	testRegion = "cn-beijing-6"
)

// server is kcid in-process behind a real HTTP listener, with a fake runtime.
type server struct {
	t   *testing.T
	URL string
	rt  *fake.Runtime
	// enforcer is the runtime when it enforces security groups on paper.
	enforcer *fake.Enforcing
	app      *app.App
	dataDir  string
	http     *httptest.Server
	// stopServe stops an app.Serve server (serverOpts.serve).
	stopServe func()
}

type serverOpts struct {
	config   string // YAML written to a file and passed as --config
	insecure bool
	dataDir  string
	noEnvKey bool      // start without KCID_ACCESS_KEY_ID/SECRET
	out      io.Writer // receives one-time messages
	rt       *fake.Runtime
	// unenforced runs a runtime that does not enforce security-group
	// rules (by default the fake enforces them on paper).
	unenforced bool
	log        io.Writer // receives kcid's log (default: discarded)
	// serve runs kcid's own HTTP server (app.Serve: its connection caps
	// and timeouts) instead of an httptest server around the handler.
	serve bool
	// hostRoutes stands for the host's routes kcid does not own.
	hostRoutes func() ([]app.HostRoute, error)
	// runtimeOnly hands kcid the fake as a bare service.Runtime, without
	// its optional abilities (image caches: as the Kubernetes runtime).
	runtimeOnly bool
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	return startServerTB(t, t, o)
}

// startServerTB serves tests and benchmarks; t is the *testing.T clients use.
func startServerTB(tb testing.TB, t *testing.T, o serverOpts) *server {
	tb.Helper()
	dir := o.dataDir
	if dir == "" {
		dir = tb.TempDir()
	}
	cfgPath := ""
	if o.config != "" {
		cfgPath = filepath.Join(tb.TempDir(), "config.yaml")
		if err := os.WriteFile(cfgPath, []byte(o.config), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	rt := o.rt
	var runtime service.Runtime = rt
	var enforcer *fake.Enforcing
	switch {
	case rt != nil:
	case o.unenforced:
		rt = fake.New()
		runtime = rt
	default:
		enforcer = fake.NewEnforcing()
		rt, runtime = enforcer.Runtime, enforcer
	}
	ak, sk := testAK, testSK
	if o.noEnvKey {
		ak, sk = "", ""
	}
	logOut := o.log
	if logOut == nil {
		logOut = io.Discard
	}
	a, err := app.New(context.Background(), app.Options{
		DataDir: dir, ConfigPath: cfgPath, Insecure: o.insecure,
		AccessKeyID: ak, SecretAccessKey: sk, Out: o.out,
		Runtime: runtimeOf(runtime, o.runtimeOnly), Logger: slog.New(slog.NewTextHandler(logOut, nil)), HostRoutes: o.hostRoutes,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if o.serve {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx, l) }()
		s := &server{t: t, URL: "http://" + l.Addr().String(), rt: rt, enforcer: enforcer, app: a, dataDir: dir}
		s.stopServe = func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("serve: %v", err)
			}
			a.Close()
		}
		tb.Cleanup(s.stop)
		return s
	}
	hs := httptest.NewServer(a.Handler())
	s := &server{t: t, URL: hs.URL, rt: rt, enforcer: enforcer, app: a, dataDir: dir, http: hs}
	tb.Cleanup(s.stop)
	return s
}

// runtimeOf is rt, or with bare only its service.Runtime methods.
func runtimeOf(rt service.Runtime, bare bool) service.Runtime {
	if bare {
		return struct{ service.Runtime }{rt}
	}
	return rt
}

func (s *server) stop() {
	if s.stopServe != nil {
		s.stopServe()
		s.stopServe = nil
	}
	if s.http != nil {
		s.http.Close()
		s.app.Close()
		s.http = nil
	}
}

// style is how a request carries its parameters, as the official clients do.
type style int

const (
	styleGET      style = iota // Node: everything in the query
	stylePOSTForm              // Go, Python: everything in a form body
	stylePOSTJava              // Java: Action/Version in the query, the rest in the body
	stylePOSTJSON              // JSON body (params given as flat keys are nested here)
)

func (st style) String() string {
	return [...]string{"GET", "POSTForm", "POSTJava", "POSTJSON"}[st]
}

type client struct {
	t      *testing.T
	url    string
	ak, sk string
	region string
	style  style
	// unsigned sends no signature.
	unsigned bool
}

func (s *server) client() *client {
	return &client{t: s.t, url: s.URL, ak: testAK, sk: testSK, region: testRegion, style: stylePOSTForm}
}

type response struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

// code is the error code of an error response ("" on success).
func (r *response) code() string {
	e, _ := r.Body["Error"].(map[string]any)
	c, _ := e["Code"].(string)
	return c
}

func (r *response) message() string {
	e, _ := r.Body["Error"].(map[string]any)
	m, _ := e["Message"].(string)
	return m
}

// do sends one action with params (flat wire keys) and decodes the JSON.
func (c *client) do(action string, params url.Values) *response {
	c.t.Helper()
	version := "2020-07-02"
	if action == "DescribeVpcs" || action == "DescribeSubnets" || action == "DescribeSecurityGroups" {
		version = "2016-03-04"
	}
	return c.doVersion(action, version, params)
}

func (c *client) doVersion(action, version string, params url.Values) *response {
	c.t.Helper()
	all := url.Values{}
	for k, v := range params {
		all[k] = v
	}
	if action != "" {
		all.Set("Action", action)
	}
	if version != "" {
		all.Set("Version", version)
	}
	var req *http.Request
	var err error
	switch c.style {
	case styleGET:
		req, err = http.NewRequest(http.MethodGet, c.url+"/?"+all.Encode(), nil)
	case stylePOSTForm:
		req, err = http.NewRequest(http.MethodPost, c.url+"/", strings.NewReader(all.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case stylePOSTJava:
		q := url.Values{"Action": all["Action"], "Version": all["Version"]}
		body := url.Values{}
		for k, v := range all {
			if k != "Action" && k != "Version" {
				body[k] = v
			}
		}
		req, err = http.NewRequest(http.MethodPost, c.url+"/?"+q.Encode(), strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case stylePOSTJSON:
		b, jerr := json.Marshal(nest(all))
		if jerr != nil {
			c.t.Fatal(jerr)
		}
		req, err = http.NewRequest(http.MethodPost, c.url+"/", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if version == "2016-03-04" {
		return c.sendService(req, "vpc")
	}
	return c.send(req)
}

// send signs req with aws-sdk-go-v2's signer (an independent SigV4
// implementation) and returns the decoded response.
func (c *client) send(req *http.Request) *response {
	c.t.Helper()
	return c.sendService(req, "kci")
}

func (c *client) sendService(req *http.Request, service string) *response {
	c.t.Helper()
	req.Header.Set("Accept", "application/json")
	if !c.unsigned {
		var body []byte
		if req.Body != nil {
			body, _ = io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.ak, SecretAccessKey: c.sk},
			req, hex.EncodeToString(sum[:]), service, c.region, time.Now())
		if err != nil {
			c.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := &response{Status: resp.StatusCode, Raw: raw}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		c.t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("Content-Type = %q", ct)
	}
	return r
}

// nest turns flat wire keys into the nested JSON a JSON-body client sends:
// "Container.1.Port.1.Port" → {"Container":[{"Port":[{"Port":"80"}]}]}.
func nest(flat url.Values) map[string]any {
	root := map[string]any{}
	for k, vs := range flat {
		insert(root, strings.Split(k, "."), vs[0])
	}
	return toLists(root).(map[string]any)
}

func insert(m map[string]any, parts []string, v string) {
	if len(parts) == 1 {
		m[parts[0]] = v
		return
	}
	sub, _ := m[parts[0]].(map[string]any)
	if sub == nil {
		sub = map[string]any{}
		m[parts[0]] = sub
	}
	insert(sub, parts[1:], v)
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// toLists converts maps whose keys are all indices into ordered lists.
func toLists(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	allIdx := len(m) > 0
	for k := range m {
		if !isIndex(k) {
			allIdx = false
		}
	}
	if !allIdx {
		for k, e := range m {
			m[k] = toLists(e)
		}
		return m
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		n := 0
		for _, r := range k {
			n = n*10 + int(r-'0')
		}
		keys = append(keys, n)
	}
	sortInts(keys)
	out := make([]any, 0, len(keys))
	for _, n := range keys {
		for k, e := range m {
			kn := 0
			for _, r := range k {
				kn = kn*10 + int(r-'0')
			}
			if kn == n {
				out = append(out, toLists(e))
			}
		}
	}
	return out
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// vals builds url.Values from alternating key, value arguments.
func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
