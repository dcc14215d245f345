package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/internal/store"
)

// onlyStore hides every method of a store but service.Store's, as a store
// without optional capabilities (a cluster) has.
type onlyStore struct{ Store }

// failingStore fails the methods named in fail with err.
type failingStore struct {
	*store.Store
	fail map[string]bool
	err  error
}

func (f *failingStore) Groups(ctx context.Context) ([]*core.Group, error) {
	if f.fail["Groups"] {
		return nil, f.err
	}
	return f.Store.Groups(ctx)
}

func (f *failingStore) Group(ctx context.Context, id string) (*core.Group, error) {
	if f.fail["Group"] {
		return nil, f.err
	}
	return f.Store.Group(ctx, id)
}

func (f *failingStore) LiveGroups(ctx context.Context, accountID string) ([]*core.Group, error) {
	if f.fail["LiveGroups"] {
		return nil, f.err
	}
	return f.Store.LiveGroups(ctx, accountID)
}

func (f *failingStore) CreateGroup(ctx context.Context, g *core.Group) error {
	if f.fail["CreateGroup"] {
		return f.err
	}
	return f.Store.CreateGroup(ctx, g)
}

func (f *failingStore) MarkDeleting(ctx context.Context, id string, at time.Time) (*core.Group, error) {
	if f.fail["MarkDeleting"] {
		return nil, f.err
	}
	return f.Store.MarkDeleting(ctx, id, at)
}

func (f *failingStore) HeldIPs(ctx context.Context, subnetID, ip string) (int, bool, error) {
	if f.fail["HeldIPs"] {
		return 0, false, f.err
	}
	return f.Store.HeldIPs(ctx, subnetID, ip)
}

func (f *failingStore) Usage(ctx context.Context) (float64, float64, error) {
	if f.fail["Usage"] {
		return 0, 0, f.err
	}
	return f.Store.Usage(ctx)
}

func serviceOver(t *testing.T, st Store, rt Runtime) *Service {
	t.Helper()
	nets := NewNetworks()
	nets.AddVPC(core.VPC{ID: "vpc", AccountID: "acc", Region: "r", CIDR: "10.0.0.0/16"})
	nets.AddSubnet(core.Subnet{ID: "sub", VpcID: "vpc", CIDR: "10.0.1.0/29", Zone: "z", Gateway: "10.0.1.1"})
	nets.AddSecurityGroup(core.SecurityGroup{ID: "sg", VpcID: "vpc"})
	s := New(Options{Store: st, Runtime: rt, Networks: nets, CPU: 1, Memory: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(s.Close)
	return s
}

// small is a request that fits the node twice.
func small(name string) CreateRequest {
	r := req(name)
	r.Group.CPU, r.Group.Memory = 0.5, 0.5
	return r
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStoreFailuresReachTheCaller: each use case returns the store's
// error (with its class), creates nothing and starts nothing.
func TestStoreFailuresReachTheCaller(t *testing.T) {
	down := errdefs.New(errdefs.ErrUnavailable, "the store is down")
	ctx := context.Background()
	for _, tc := range []struct {
		fail, use string
		call      func(s *Service, existing string) error
	}{
		{"Groups", "Start", func(s *Service, _ string) error { return s.Start(ctx) }},
		{"CreateGroup", "Create", func(s *Service, _ string) error { _, err := s.CreateGroup(ctx, small("b")); return err }},
		{"HeldIPs", "Create", func(s *Service, _ string) error { _, err := s.CreateGroup(ctx, small("b")); return err }},
		{"Usage", "Create", func(s *Service, _ string) error { _, err := s.CreateGroup(ctx, small("b")); return err }},
		{"LiveGroups", "Describe", func(s *Service, _ string) error {
			_, _, err := s.DescribeGroups(ctx, DescribeQuery{AccountID: "acc", Limit: 10})
			return err
		}},
		{"Group", "Describe by ID", func(s *Service, id string) error {
			_, _, err := s.DescribeGroups(ctx, DescribeQuery{AccountID: "acc", IDs: []string{id}, Limit: 10})
			return err
		}},
		{"Group", "Delete", func(s *Service, id string) error { return s.DeleteGroup(ctx, "acc", id, false) }},
		{"MarkDeleting", "Delete", func(s *Service, id string) error { return s.DeleteGroup(ctx, "acc", id, false) }},
		{"Group", "Logs", func(s *Service, id string) error { _, err := s.Logs(ctx, "acc", id, "c", 10); return err }},
	} {
		t.Run(tc.fail+" in "+tc.use, func(t *testing.T) {
			fs := &failingStore{Store: openStore(t), fail: map[string]bool{}, err: down}
			rt := fake.New()
			s := serviceOver(t, fs, rt)
			// One group of 0.5 cores exists before the store fails.
			g, err := s.CreateGroup(ctx, small("a"))
			if err != nil {
				t.Fatal(err)
			}
			fs.fail[tc.fail] = true
			err = tc.call(s, g.ID)
			if !errors.Is(err, down) || errdefs.Class(err) != errdefs.ErrUnavailable {
				t.Fatalf("err = %v, want the store's error", err)
			}
			fs.fail[tc.fail] = false
			gs, _ := fs.Store.Groups(ctx)
			if len(gs) != 1 || gs[0].ID != g.ID || gs[0].DeletedAt != nil {
				t.Fatalf("groups after the failure: %+v", gs)
			}
		})
	}
}

// TestCapabilities: the service allocates addresses only with an
// IPAllocator and checks node capacity only with a CapacityTracker.
func TestCapabilities(t *testing.T) {
	ctx := context.Background()
	big := req("big")
	big.Group.CPU, big.Group.Memory = 8, 8 // more than the node's 1 and 1
	t.Run("bbolt store", func(t *testing.T) {
		s := serviceOver(t, openStore(t), fake.New())
		if _, err := s.CreateGroup(ctx, big); !errors.Is(err, errdefs.ErrInsufficientCapacity) {
			t.Fatalf("oversized group: %v", err)
		}
		g, err := s.CreateGroup(ctx, small("a"))
		if err != nil || g.Network.PrivateIP != "10.0.1.2" {
			t.Fatalf("group: %+v %v", g, err)
		}
		if n, _ := s.FreeIPs(ctx, core.Subnet{ID: "sub", CIDR: "10.0.1.0/29"}); n != 4 {
			t.Fatalf("free IPs = %d, want 4", n)
		}
	})
	t.Run("store without capabilities", func(t *testing.T) {
		s := serviceOver(t, onlyStore{openStore(t)}, fake.New())
		g, err := s.CreateGroup(ctx, big)
		if err != nil {
			t.Fatalf("capacity checked without a CapacityTracker: %v", err)
		}
		if g.Network.PrivateIP != "" {
			t.Fatalf("address %s allocated without an IPAllocator", g.Network.PrivateIP)
		}
		if n, _ := s.FreeIPs(ctx, core.Subnet{ID: "sub", CIDR: "10.0.1.0/29"}); n != 5 {
			t.Fatalf("free IPs = %d, want all 5", n)
		}
	})
}

// TestLabelQueries: the label filter and counts give the same answers from
// the store's label index (bbolt) and from a scan (a store without one).
func TestLabelQueries(t *testing.T) {
	ctx := context.Background()
	for name, st := range map[string]func() Store{
		"label index": func() Store { return openStore(t) },
		"scan":        func() Store { return onlyStore{openStore(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			s := serviceOver(t, st(), fake.New())
			for i, ls := range [][]core.Label{
				{{Key: "cluster-id", Value: "c1"}, {Key: "ns", Value: "a"}},
				{{Key: "cluster-id", Value: "c1"}, {Key: "ns", Value: "b"}},
				{{Key: "cluster-id", Value: "c2"}, {Key: "ns", Value: "a"}},
				nil,
			} {
				r := req(fmt.Sprintf("g%d", i))
				r.Group.CPU, r.Group.Memory = 0.1, 0.1
				r.Group.Labels = ls
				if _, err := s.CreateGroup(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				labels map[string][]string
				want   string
			}{
				{map[string][]string{"cluster-id": {"c1"}}, "g0 g1"},
				{map[string][]string{"cluster-id": {"c1", "c2"}, "ns": {"a"}}, "g0 g2"},
				{map[string][]string{"ns": {"b"}, "cluster-id": {"c2"}}, ""},
				{map[string][]string{"nope": {"x"}}, ""},
			} {
				views, total, err := s.DescribeGroups(ctx, DescribeQuery{AccountID: "acc", Labels: tc.labels, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, v := range views {
					names = append(names, v.Group.Name)
				}
				if got := strings.Join(names, " "); got != tc.want || total != len(names) {
					t.Errorf("%v: %q (total %d), want %q", tc.labels, got, total, tc.want)
				}
			}
			for _, tc := range []struct {
				key    string
				values []string
				want   string
			}{
				{"cluster-id", nil, "map[c1:2 c2:1]"},
				{"cluster-id", []string{"c2", "c9"}, "map[c2:1 c9:0]"},
				{"ns", nil, "map[a:2 b:1]"},
				{"nope", nil, "map[]"},
			} {
				got, err := s.CountByLabel(ctx, "acc", tc.key, tc.values)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != tc.want {
					t.Errorf("count %s %v: %v, want %s", tc.key, tc.values, got, tc.want)
				}
			}
			if got, _ := s.CountByLabel(ctx, "other", "cluster-id", nil); len(got) != 0 {
				t.Errorf("another account's count: %v", got)
			}
		})
	}
}
