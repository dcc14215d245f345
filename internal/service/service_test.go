package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/internal/store"
)

func newTestService(t *testing.T, rt *fake.Runtime) (*Service, *store.Store) {
	t.Helper()
	return newServiceWith(t, rt, nil)
}

// newServiceWith is newTestService with options changed by set.
func newServiceWith(t *testing.T, rt *fake.Runtime, set func(*Options)) (*Service, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	nets := NewNetworks()
	nets.AddVPC(core.VPC{ID: "vpc", AccountID: "acc", Region: "r", CIDR: "10.0.0.0/16"})
	nets.AddSubnet(core.Subnet{ID: "sub", VpcID: "vpc", CIDR: "10.0.1.0/29", Zone: "z", Gateway: "10.0.1.1"})
	nets.AddSecurityGroup(core.SecurityGroup{ID: "sg", VpcID: "vpc"})
	o := Options{Store: st, Runtime: rt, Networks: nets, CPU: 4, Memory: 8, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if set != nil {
		set(&o)
	}
	s := New(o)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, st
}

func req(name string) CreateRequest {
	return CreateRequest{AccountID: "acc", Region: "r", SubnetID: "sub", SecurityGroupIDs: []string{"sg"},
		Group: core.Group{Name: name, CPU: 1, Memory: 1, Containers: []core.Container{{Name: "c", Image: "i"}}}}
}

// TestCreateRollsBackWhenRuntimeRefuses: whatever the runtime's refusal,
// the create leaves nothing behind and its class reaches the caller (a
// refusal is not turned into "unavailable", which clients retry).
func TestCreateRollsBackWhenRuntimeRefuses(t *testing.T) {
	for _, startErr := range []error{
		fmt.Errorf("containerd is down: %w", errdefs.ErrUnavailable),
		errdefs.Wrap(errdefs.ErrInvalidArgument, errors.New(`pods "x" is forbidden: violates PodSecurity`), "the cluster refused the container group"),
		errdefs.New(errdefs.ErrInsufficientCapacity, "the cluster's quota refused the container group"),
		errdefs.New(errdefs.ErrConflict, "disk d-1 is in use"),
		errors.New("something unforeseen"),
	} {
		t.Run(errdefs.Class(startErr).Error(), func(t *testing.T) {
			rt := fake.New()
			s, st := newTestService(t, rt)
			rt.SetStartErr(startErr)
			_, err := s.CreateGroup(context.Background(), req("a"))
			if errdefs.Class(err) != errdefs.Class(startErr) || !errors.Is(err, startErr) {
				t.Fatalf("err = %v, want class %v", err, errdefs.Class(startErr))
			}
			gs, _ := st.Groups(bg)
			cpu, _, _ := st.Usage(bg)
			if n, _, _ := st.HeldIPs(bg, "sub", ""); len(gs) != 0 || cpu != 0 || n != 0 {
				t.Fatalf("failed create left state: %d stored, cpu %v, %d ips", len(gs), cpu, n)
			}
			rt.SetStartErr(nil)
			g, err := s.CreateGroup(context.Background(), req("a"))
			if err != nil || g.Network.PrivateIP != "10.0.1.2" {
				t.Fatalf("create after rollback: %v %+v", err, g)
			}
		})
	}
}

func TestDeleteRetriesUntilRuntimeReleases(t *testing.T) {
	rt := fake.New()
	s, st := newTestService(t, rt)
	g, err := s.CreateGroup(context.Background(), req("a"))
	if err != nil {
		t.Fatal(err)
	}
	rt.SetRemoveErr(errors.New("busy"))
	if err := s.DeleteGroup(context.Background(), "acc", g.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.lookup(bg, "acc", g.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("deleted group still visible: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if gs, _ := st.Groups(bg); len(gs) != 1 || gs[0].DeletedAt == nil {
		t.Fatalf("record purged before the runtime released the group: %+v", gs)
	}
	rt.SetRemoveErr(nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		gs, _ := st.Groups(bg)
		if len(gs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deletion never finished")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCapacityAndIPsAreReleased(t *testing.T) {
	rt := fake.New()
	s, _ := newTestService(t, rt)
	ctx := context.Background()
	var last *core.Group
	for i := 0; i < 4; i++ {
		g, err := s.CreateGroup(ctx, req("a"))
		if err != nil {
			t.Fatal(err)
		}
		last = g
	}
	if _, err := s.CreateGroup(ctx, req("b")); !errors.Is(err, errdefs.ErrInsufficientCapacity) {
		t.Fatalf("5th group: %v", err)
	}
	if err := s.DeleteGroup(ctx, "acc", last.ID, false); err != nil {
		t.Fatal(err)
	}
	// Capacity is free at once; the IP once teardown is done.
	if _, err := s.CreateGroup(ctx, req("b")); err != nil {
		t.Fatalf("capacity not released by delete: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, held, _ := s.ips.HeldIPs(bg, "sub", last.Network.PrivateIP); !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IP %s still held", last.Network.PrivateIP)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeletionResumesAfterRestart(t *testing.T) {
	rt := fake.New()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := &core.Group{ID: "g1", AccountID: "acc", Network: core.Network{SubnetID: "sub", PrivateIP: "10.0.1.2"}}
	if err := st.CreateGroup(bg, g); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkDeleting(bg, "g1", time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(Options{Store: st, Runtime: rt, Networks: NewNetworks(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(rt.Removed()) == 0 || func() bool { gs, _ := st.Groups(bg); return len(gs) > 0 }() {
		if time.Now().After(deadline) {
			t.Fatalf("interrupted deletion not resumed: removed %v", rt.Removed())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeleteDuringStart: a delete accepted while the runtime is still
// starting the group waits for the start, then removes it; the group is
// never left running without a record.
func TestDeleteDuringStart(t *testing.T) {
	rt := fake.New()
	s, st := newTestService(t, rt)
	release := rt.HoldStarts()
	created := make(chan *core.Group, 1)
	go func() {
		g, err := s.CreateGroup(context.Background(), req("a"))
		if err != nil {
			t.Error(err)
		}
		created <- g
	}()
	var id string
	for deadline := time.Now().Add(5 * time.Second); id == ""; time.Sleep(5 * time.Millisecond) {
		if gs, _ := st.LiveGroups(bg, "acc"); len(gs) == 1 {
			id = gs[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("group never stored")
		}
	}
	if err := s.DeleteGroup(context.Background(), "acc", id, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if len(rt.Removed()) != 0 {
		t.Fatal("Remove ran before Start finished")
	}
	release()
	<-created
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		gs, _ := st.Groups(bg)
		if len(gs) == 0 && !rt.Running(id) && len(rt.Removed()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group left behind: stored %d, running %v", len(gs), rt.Running(id))
		}
	}
}

// TestClientTokenWindow: a token stands for its group for ClientTokenTTL,
// for its own account only, and only while the group lives.
func TestClientTokenWindow(t *testing.T) {
	rt := fake.New()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	nets := NewNetworks()
	for _, acc := range []string{"acc", "other"} {
		nets.AddVPC(core.VPC{ID: "vpc-" + acc, AccountID: acc, Region: "r", CIDR: "10.0.0.0/16"})
		nets.AddSubnet(core.Subnet{ID: "sub-" + acc, VpcID: "vpc-" + acc, CIDR: "10.0.1.0/28", Zone: "z", Gateway: "10.0.1.1"})
		nets.AddSecurityGroup(core.SecurityGroup{ID: "sg-" + acc, VpcID: "vpc-" + acc})
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := New(Options{Store: st, Runtime: rt, Networks: nets, CPU: 16, Memory: 16, Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	create := func(acc, token, hash string) *core.Group {
		t.Helper()
		r := CreateRequest{AccountID: acc, Region: "r", SubnetID: "sub-" + acc, SecurityGroupIDs: []string{"sg-" + acc},
			Group: core.Group{Name: "g", CPU: 1, Memory: 1, Containers: []core.Container{{Name: "c", Image: "i"}}, ClientToken: token, RequestHash: hash}}
		g, err := s.CreateGroup(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	first := create("acc", "t", "h")
	clk.Advance(ClientTokenTTL - time.Second)
	if g := create("acc", "t", "h"); g.ID != first.ID {
		t.Fatal("a token within its window made a second group")
	}
	if g := create("other", "t", "h"); g.ID == first.ID {
		t.Fatal("another account's token returned this account's group")
	}
	clk.Advance(time.Second)
	second := create("acc", "t", "h")
	if second.ID == first.ID {
		t.Fatal("an expired token returned its old group")
	}
	if err := s.DeleteGroup(context.Background(), "acc", second.ID, false); err != nil {
		t.Fatal(err)
	}
	if g := create("acc", "t", "h"); g.ID == second.ID {
		t.Fatal("a deleted group was returned for its token")
	}
}

var bg = context.Background()

// TestPolicy: privileged containers and HostPID are refused, naming the
// field, unless the policy lists the account or "*"; a refusal stores and
// starts nothing.
func TestPolicy(t *testing.T) {
	privileged := req("p")
	privileged.Group.Containers[0].Privileged = true
	hostPID := req("h")
	hostPID.Group.HostPID = true
	for _, tc := range []struct {
		name   string
		policy Policy
		req    CreateRequest
		param  string // refused naming it; "" = created
	}{
		{"privileged, no policy", Policy{}, privileged, "Container.N.SecurityContext.Privileged"},
		{"privileged, other account", Policy{PrivilegedAccounts: []string{"other"}}, privileged, "Container.N.SecurityContext.Privileged"},
		{"privileged, HostPID allowed only", Policy{HostPIDAccounts: []string{"acc"}}, privileged, "Container.N.SecurityContext.Privileged"},
		{"privileged, allowed", Policy{PrivilegedAccounts: []string{"other", "acc"}}, privileged, ""},
		{"privileged, everyone", Policy{PrivilegedAccounts: []string{"*"}}, privileged, ""},
		{"host pid, no policy", Policy{}, hostPID, "HostPID"},
		{"host pid, privileged allowed only", Policy{PrivilegedAccounts: []string{"*"}}, hostPID, "HostPID"},
		{"host pid, allowed", Policy{HostPIDAccounts: []string{"acc"}}, hostPID, ""},
		{"neither asked", Policy{}, req("n"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := fake.New()
			s, st := newTestService(t, rt)
			s.policy = tc.policy
			_, err := s.CreateGroup(bg, tc.req)
			gs, _ := st.Groups(bg)
			if tc.param == "" {
				if err != nil || len(gs) != 1 {
					t.Fatalf("err %v, %d groups stored; want created", err, len(gs))
				}
				return
			}
			var pe *errdefs.ParamError
			if !errors.As(err, &pe) || pe.Param != tc.param || !strings.Contains(err.Error(), "policy.") {
				t.Fatalf("err = %v, want a refusal naming %s and the policy", err, tc.param)
			}
			if len(gs) != 0 {
				t.Fatalf("refused create stored %d groups", len(gs))
			}
		})
	}
}

// TestPolicyHostPath: a HostPathVolume is created only under a prefix the
// policy gives the account (or "*"), checked lexically and, with the real
// file system as resolver, after symlinks are resolved; a refusal names
// Volume.N.HostPathVolume.Path and stores nothing.
func TestPolicyHostPath(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "allowed")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{allowed + "/data", allowed + "2", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		allowed + "/escape": outside,           // leads out of the prefix
		allowed + "/inner":  allowed + "/data", // stays in
		allowed + "/rel":    "../outside",      // relative, out
		root + "/via":       allowed + "/data", // outside, leads in
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	hostPath := func(p string) CreateRequest {
		r := req("hp")
		r.Group.Volumes = []core.Volume{{Name: "host", Type: core.VolumeHostPath, HostPath: p}}
		r.Group.Containers[0].VolumeMounts = []core.VolumeMount{{Name: "host", MountPath: "/mnt"}}
		return r
	}
	mine := Policy{HostPathPrefixes: map[string][]string{"acc": {allowed}}}
	for _, tc := range []struct {
		name    string
		policy  Policy
		path    string
		resolve bool
		refused string // a word of the refusal; "" = created
	}{
		{"allowed", mine, allowed + "/data", true, ""},
		{"the prefix itself", mine, allowed, true, ""},
		{"every account", Policy{HostPathPrefixes: map[string][]string{"*": {allowed}}}, allowed + "/data", true, ""},
		{"no policy", Policy{}, allowed + "/data", true, "policy.hostPathPrefixes"},
		{"other account's prefix", Policy{HostPathPrefixes: map[string][]string{"other": {allowed}}}, allowed + "/data", true, "policy.hostPathPrefixes"},
		{"outside", mine, outside, true, "not under"},
		{"sibling sharing the prefix's name", mine, allowed + "2", true, "not under"},
		{"symlink out", mine, allowed + "/escape", true, "symbolic link"},
		{"relative symlink out", mine, allowed + "/rel", true, "symbolic link"},
		{"symlink staying in", mine, allowed + "/inner", true, ""},
		{"symlink outside leading in", mine, root + "/via", true, "not under"},
		{"missing", mine, allowed + "/nothing", true, "cannot be resolved"},
		{"missing, no resolver (Kubernetes)", mine, allowed + "/nothing", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := newTestService(t, fake.New())
			s.policy = tc.policy
			s.resolveHostPath = nil
			if tc.resolve {
				s.resolveHostPath = filepath.EvalSymlinks
			}
			_, err := s.CreateGroup(bg, hostPath(tc.path))
			gs, _ := st.Groups(bg)
			if tc.refused == "" {
				if err != nil || len(gs) != 1 {
					t.Fatalf("err %v, %d groups stored; want created", err, len(gs))
				}
				if gs[0].Volumes[0].HostPath != tc.path {
					t.Fatalf("stored host path %q, want %q", gs[0].Volumes[0].HostPath, tc.path)
				}
				return
			}
			var pe *errdefs.ParamError
			if !errors.As(err, &pe) || pe.Param != "Volume.N.HostPathVolume.Path" || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("err = %v, want a refusal naming Volume.N.HostPathVolume.Path saying %q", err, tc.refused)
			}
			if len(gs) != 0 {
				t.Fatalf("refused create stored %d groups", len(gs))
			}
		})
	}
}
