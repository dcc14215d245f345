// Package kcidtest starts kcid in-process behind a real HTTP listener, with
// a fake runtime whose group statuses and logs a test scripts, for the
// tests of pkg/kci and kcictl. Its default network has fixed IDs
// (vpc-test, subnet-test, sg-test) so that outputs are stable.
package kcidtest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/app"
	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/fake"
)

// Credentials and network of the default account.
const (
	AccessKeyID     = "AKLTkcictltest0001"
	SecretAccessKey = "kcictl-test-secret-0001"
	Region          = "cn-beijing-6"
	VpcID           = "vpc-test"
	SubnetID        = "subnet-test"
	SecurityGroupID = "sg-test"
	Zone            = "cn-beijing-6a"
)

// DefaultConfig is kcid's config unless Options.Config replaces it: one
// VPC with one subnet and one security group, and room for many groups.
const DefaultConfig = `
vpcs:
  - {id: vpc-test, name: test, cidr: 10.0.0.0/16}
subnets:
  - {id: subnet-test, name: test, vpc: vpc-test, cidr: 10.0.1.0/24, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-test, name: test, vpc: vpc-test}
node: {cpu: 64, memory: 256, cpuOvercommit: 1, memoryOvercommit: 1}
`

// Epoch is where a test Clock starts: 2025-06-01 08:00:00 UTC.
var Epoch = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// Options configure Start.
type Options struct {
	// Config is kcid's YAML config (default DefaultConfig).
	Config string
	// Clock, when set, is kcid's and the fake runtime's clock; otherwise
	// they use the real time.
	Clock *clock.Fake
}

// Server is a running in-process kcid.
type Server struct {
	URL     string
	Runtime *Runtime
	App     *app.App
	http    *httptest.Server
}

// Start starts kcid; it is stopped when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cfg := o.Config
	if cfg == "" {
		cfg = DefaultConfig
	}
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Runtime: fake.New(), held: map[string]*core.GroupStatus{}}
	var now clock.Clock = clock.Real{}
	if o.Clock != nil {
		now = o.Clock
		rt.Runtime.Now = o.Clock.Now
	}
	a, err := app.New(context.Background(), app.Options{
		DataDir: t.TempDir(), ConfigPath: cfgPath,
		AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey,
		Runtime: rt, Clock: now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.Handler())
	s := &Server{URL: hs.URL, Runtime: rt, App: a, http: hs}
	t.Cleanup(func() {
		hs.Close()
		a.Close()
	})
	return s
}

// Runtime is the fake runtime plus holding: a group whose name is held is
// recorded by Start but not run, so it stays Pending until the test
// scripts its status with SetStatus.
type Runtime struct {
	*fake.Runtime

	mu      sync.Mutex
	held    map[string]*core.GroupStatus
	started []*core.Group
	cond    chan struct{} // closed and replaced on every Start
}

// Hold makes Start leave groups called name to the test: they are
// Pending, or in the initial status if one is given, until SetStatus.
func (r *Runtime) Hold(name string, initial ...core.GroupStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &core.GroupStatus{}
	if len(initial) > 0 {
		st = &initial[0]
	}
	r.held[name] = st
}

// Start records g and, unless it is held, runs it in the fake (Running at
// once, with Pulling/Pulled/Created/Started events).
func (r *Runtime) Start(ctx context.Context, g *core.Group) error {
	r.mu.Lock()
	held := r.held[g.Name]
	r.started = append(r.started, g)
	if r.cond != nil {
		close(r.cond)
		r.cond = nil
	}
	r.mu.Unlock()
	if held != nil {
		if held.Phase != "" {
			r.SetStatus(g.ID, *held)
		}
		return nil
	}
	return r.Runtime.Start(ctx, g)
}

// Started waits up to 10 s for a group called name to be started and
// returns the latest one.
func (r *Runtime) Started(t testing.TB, name string) *core.Group {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for i := len(r.started) - 1; i >= 0; i-- {
			if r.started[i].Name == name {
				g := r.started[i]
				r.mu.Unlock()
				return g
			}
		}
		if r.cond == nil {
			r.cond = make(chan struct{})
		}
		ch := r.cond
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("group %q was not started within 10s", name)
			return nil
		}
	}
}
