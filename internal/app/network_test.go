package app

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/core"
)

func TestFreeVPCRange(t *testing.T) {
	route := func(cidr, dev string) HostRoute { return HostRoute{Prefix: netip.MustParsePrefix(cidr), Device: dev} }
	for _, c := range []struct {
		name    string
		first   string
		taken   []string
		routes  []HostRoute
		want    string
		skipped int
	}{
		{"empty host", "", nil, nil, "10.88.0.0/16", 0},
		{"taken by another VPC", "", []string{"10.88.0.0/16"}, nil, "10.89.0.0/16", 0},
		{"stale bridge on 10.88.0.1/20", "", nil, []HostRoute{route("10.88.0.0/20", "kci0123456789")}, "10.89.0.0/16", 1},
		{"route and VPC", "", []string{"10.89.0.0/16"}, []HostRoute{route("10.88.0.0/20", "br0")}, "10.90.0.0/16", 1},
		{"whole 10/8 routed", "", nil, []HostRoute{route("10.0.0.0/8", "vpn0")}, "172.16.0.0/16", 256},
		{"wraps to 10.0", "10.255.0.0/16", []string{"10.255.0.0/16"}, nil, "10.0.0.0/16", 0},
		{"other first block", "10.177.0.0/16", nil, []HostRoute{route("10.177.0.0/20", "kcistale")}, "10.178.0.0/16", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var taken []netip.Prefix
			for _, p := range c.taken {
				taken = append(taken, netip.MustParsePrefix(p))
			}
			var first netip.Prefix
			if c.first != "" {
				first = netip.MustParsePrefix(c.first)
			}
			got, skipped, err := freeVPCRange(first, taken, c.routes)
			if err != nil || got.String() != c.want {
				t.Fatalf("got %v, %v; want %s", got, err, c.want)
			}
			if want := min(c.skipped, 5); len(skipped) != want {
				t.Errorf("skipped %v, want %d", skipped, want)
			}
			for _, s := range skipped {
				if !strings.Contains(s.reason, "dev ") {
					t.Errorf("reason %q names no device", s.reason)
				}
			}
		})
	}
	all := []HostRoute{route("10.0.0.0/8", "a"), route("172.16.0.0/12", "b"), route("192.168.0.0/16", "c")}
	if _, _, err := freeVPCRange(netip.Prefix{}, nil, all); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("no block left: %v", err)
	}
}

// fakeRuntime runs nothing: these tests stop at network set-up.
type fakeRuntime struct{}

func (fakeRuntime) Start(context.Context, *core.Group) error                  { return nil }
func (fakeRuntime) Remove(context.Context, *core.Group) error                 { return nil }
func (fakeRuntime) Sync(context.Context, []*core.Group) error                 { return nil }
func (fakeRuntime) Logs(context.Context, string, string, int) (string, error) { return "", nil }
func (fakeRuntime) Status(context.Context, string) (core.GroupStatus, error) {
	return core.GroupStatus{}, nil
}

// TestNetworksAvoidHostRoutes: a configured subnet on a route kcid does
// not own refuses the start; a default network goes around such routes
// and says so.
func TestNetworksAvoidHostRoutes(t *testing.T) {
	stale := []HostRoute{{Prefix: netip.MustParsePrefix("10.88.0.0/20"), Device: "kcistale0"}}
	routes := func() ([]HostRoute, error) { return stale, nil }

	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte(`
vpcs: [{id: vpc-1, cidr: 10.88.0.0/16}]
subnets: [{id: subnet-1, vpc: vpc-1, cidr: 10.88.1.0/24, zone: cn-beijing-6a}]
`), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), Options{DataDir: t.TempDir(), Config: cfg, Insecure: true, Runtime: fakeRuntime{}, HostRoutes: routes})
	if err == nil {
		t.Fatal("a subnet on a foreign route was accepted")
	}
	for _, want := range []string{"subnet-1", "10.88.1.0/24", "10.88.0.0/20 dev kcistale0", "ip link"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}

	var out bytes.Buffer
	defaults, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), Options{DataDir: t.TempDir(), Config: defaults, Insecure: true, Runtime: fakeRuntime{}, HostRoutes: routes, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, want := range []string{"(10.89.0.0/16)", "10.89.0.0/20", "10.89.0.0/16 overlaps no route of this host; 10.88.0.0/16 skipped: overlaps route 10.88.0.0/20 dev kcistale0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
