package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

func group(id, subnet, ip string) *core.Group {
	return &core.Group{ID: id, Name: "g-" + id, AccountID: "a", CPU: 1, Memory: 2,
		Network:    core.Network{SubnetID: subnet, PrivateIP: ip},
		Containers: []core.Container{{Name: "c", Image: "busybox"}}, CreatedAt: time.Unix(1700000000, 5).UTC()}
}

func TestGroupLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(bg, group("1", "sub", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		g    *core.Group
	}{
		{"same id", group("1", "sub", "10.0.0.3")},
		{"same ip", group("2", "sub", "10.0.0.2")},
	}
	for _, tc := range cases {
		if err := s.CreateGroup(bg, tc.g); !errors.Is(err, errdefs.ErrConflict) {
			t.Errorf("%s: err = %v, want conflict", tc.name, err)
		}
	}
	// The same IP in another subnet is fine.
	if err := s.CreateGroup(bg, group("3", "other", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000100, 0).UTC()
	if g, err := s.MarkDeleting(bg, "1", at); err != nil || g.DeletedAt == nil {
		t.Fatal(err)
	}
	if _, err := s.MarkDeleting(bg, "1", at); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("second mark: %v", err)
	}
	if mustGroup(t, s, "1").DeletedAt == nil || len(mustLive(t, s, "a")) != 1 {
		t.Fatalf("index not updated by MarkDeleting")
	}
	if _, err := s.MarkDeleting(bg, "nope", at); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("mark missing: %v", err)
	}
	// A deleting group still holds its IP.
	if err := s.CreateGroup(bg, group("4", "sub", "10.0.0.2")); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("IP of a deleting group reused: %v", err)
	}
	s.Close()

	// Everything survives reopening.
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gs, err := s.Groups(bg)
	if err != nil || len(gs) != 2 {
		t.Fatalf("groups after reopen: %v %v", gs, err)
	}
	for _, g := range gs {
		if g.ID == "1" && (g.DeletedAt == nil || !g.DeletedAt.Equal(at)) {
			t.Fatalf("DeletedAt lost: %+v", g)
		}
		if !g.CreatedAt.Equal(time.Unix(1700000000, 5)) || g.Containers[0].Image != "busybox" {
			t.Fatalf("group changed: %+v", g)
		}
	}
	for i := 0; i < 2; i++ { // purge is idempotent
		if err := s.PurgeGroup(bg, "1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateGroup(bg, group("4", "sub", "10.0.0.2")); err != nil {
		t.Fatalf("IP not released by purge: %v", err)
	}
	if n, held, _ := s.HeldIPs(bg, "sub", "10.0.0.2"); n != 1 || !held {
		t.Fatalf("HeldIPs = %d %v", n, held)
	}
	if cpu, mem, _ := s.Usage(bg); cpu != 2 || mem != 4 {
		t.Fatalf("usage %v %v", cpu, mem)
	}
}

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := s.GeneratedKey(); found || err != nil {
		t.Fatalf("missing generated key: %v %v", found, err)
	}
	if _, found, err := s.DefaultNetwork("a"); found || err != nil {
		t.Fatalf("missing default network: %v %v", found, err)
	}
	if err := s.PutGeneratedKey("AKLTx", "the-secret"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	dn := DefaultNetwork{
		VPC:           core.VPC{ID: "v", Name: "default", AccountID: "a", Region: "r", CIDR: "10.88.0.0/16", IsDefault: true, CreatedAt: at},
		Subnet:        core.Subnet{ID: "s", Name: "default", VpcID: "v", CIDR: "10.88.0.0/20", Zone: "z", Gateway: "10.88.0.1", CreatedAt: at},
		SecurityGroup: core.SecurityGroup{ID: "sg", Name: "default", VpcID: "v", CreatedAt: at},
	}
	if err := s.PutDefaultNetwork("a", dn); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, secret, found, err := s.GeneratedKey(); !found || err != nil || id != "AKLTx" || secret != "the-secret" {
		t.Fatalf("generated key: %q %q %v %v", id, secret, found, err)
	}
	if got, found, err := s.DefaultNetwork("a"); !found || err != nil || !reflect.DeepEqual(got, dn) {
		t.Fatalf("default network: %+v %v %v, want %+v", got, found, err, dn)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir)
	if err == nil || !strings.Contains(err.Error(), "another kcid") {
		t.Fatalf("second open: %v", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "state.db")) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

func TestConcurrentCreatesClaimDistinctIPs(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.CreateGroup(bg, group(string(rune('a'+i)), "sub", "10.0.0.9")); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d groups claimed one IP", won)
	}
}

var bg = context.Background()

func mustGroup(t *testing.T, s *Store, id string) *core.Group {
	t.Helper()
	g, err := s.Group(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustLive(t *testing.T, s *Store, accountID string) []*core.Group {
	t.Helper()
	gs, err := s.LiveGroups(bg, accountID)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// TestSecurityGroups: security groups and their rules survive a reopen;
// delete forgets one and is idempotent.
func TestSecurityGroups(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	made := core.SecurityGroup{ID: "sg-api", Name: "web", Description: "front", VpcID: "v", CreatedAt: at,
		Rules: []core.SecurityGroupRule{
			{ID: "r1", Direction: "in", Protocol: "tcp", CIDR: "10.0.0.0/8", PortFrom: 80, PortTo: 443, Policy: "Accept", Priority: 3, CreatedAt: at},
			{ID: "r2", Direction: "out", Protocol: "icmp", CIDR: "0.0.0.0/0", IcmpType: 8, IcmpCode: -1, Policy: "Accept", CreatedAt: at},
		}}
	configured := core.SecurityGroup{ID: "sg-conf", VpcID: "v", Configured: true, CreatedAt: at,
		Rules: []core.SecurityGroupRule{{ID: "r3", Direction: "in", Protocol: "ip", CIDR: "10.1.0.0/16", CreatedAt: at}}}
	gone := core.SecurityGroup{ID: "sg-gone", VpcID: "v", CreatedAt: at}
	for _, g := range []core.SecurityGroup{made, configured, gone} {
		if err := s.PutSecurityGroup("acc", g); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.DeleteSecurityGroup(gone.ID); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs, err := s.SecurityGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d security groups, want 2: %+v", len(docs), docs)
	}
	for i, want := range []core.SecurityGroup{made, configured} {
		if docs[i].AccountID != "acc" || !reflect.DeepEqual(docs[i].ToCore(), want) {
			t.Errorf("security group %d: got %+v of %s, want %+v", i, docs[i].ToCore(), docs[i].AccountID, want)
		}
	}
}
