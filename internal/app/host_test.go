package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/core"
	ctrdruntime "github.com/openkci/openkci/internal/runtime/containerd"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/internal/testenv"
)

// TestFreshDataDirAvoidsStaleBridge: a bridge left on the host by an
// earlier kcid (not this one's) holds the first default block's gateway
// address; a kcid with a fresh data dir picks the next block, and its
// groups are reachable from the host. Real containerd, CNI and iptables.
// The first block is not 10.88.0.0/16 here, so as not to disturb other
// kcid on a shared test host; the choice is the same code.
func TestFreshDataDirAvoidsStaleBridge(t *testing.T) {
	testenv.RequireRoot(t)
	addr := testenv.Containerd(t)
	reg := testenv.Registry(t)
	image := testenv.BusyboxImage(t)
	defer testenv.Cleanup()

	r := make([]byte, 3)
	_, _ = rand.Read(r)
	first := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 170 + r[0]%20, 0, 0}), 16)
	stale := "kcistale" + hex.EncodeToString(r[1:])
	gwAddr := netip.PrefixFrom(first.Addr().Next(), 20)
	for _, args := range [][]string{{"link", "add", stale, "type", "bridge"}, {"addr", "add", gwAddr.String(), "dev", stale}, {"link", "set", stale, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	defer exec.Command("ip", "link", "delete", stale).Run()

	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ns := "kciapp-" + hex.EncodeToString(r)
	dir := t.TempDir()
	// Everything of the test's kcid goes, namespace and images included;
	// a container or netns pin left is a leak.
	defer func() {
		leaked, notes := testenv.CleanKcid(addr, ns, dir)
		for _, l := range leaked {
			t.Errorf("left on the host after every group was deleted: %s", l)
		}
		for _, n := range notes {
			t.Errorf("left on the host: %s", n)
		}
	}()
	rt, err := ctrdruntime.New(ctrdruntime.Config{Address: addr, Namespace: ns, DataDir: dir + "/runtime",
		CNIBinDirs: []string{testenv.CNIBinDir()}, StopGrace: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	a, err := New(context.Background(), Options{DataDir: dir, Config: cfg, Insecure: true, Runtime: rt, Logger: log, Out: &out,
		DefaultVPCFirst: first,
		HostRoutes: func() ([]HostRoute, error) {
			routes, err := rt.ForeignRoutes()
			var hs []HostRoute
			for _, r := range routes {
				hs = append(hs, HostRoute{Prefix: r.Prefix, Device: r.Device})
			}
			return hs, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	t.Logf("first start:\n%s", out.String())
	if !strings.Contains(out.String(), first.String()+" skipped: overlaps route "+gwAddr.Masked().String()+" dev "+stale) {
		t.Errorf("the output does not say why %s was skipped:\n%s", first, out.String())
	}
	svc := a.Service()
	subs := svc.Networks().Subnets(config.DefaultAccountID, cfg.Regions[0].Name, nil, nil)
	if len(subs) != 1 || netip.MustParsePrefix(subs[0].CIDR).Overlaps(first) {
		t.Fatalf("default subnets %+v overlap the stale bridge's block %s", subs, first)
	}
	// The default security group's default rules let the host (the
	// subnet's gateway, in the VPC) in.
	sgs := svc.Networks().SecurityGroups(config.DefaultAccountID, cfg.Regions[0].Name, nil, nil)
	if len(sgs) != 1 {
		t.Fatalf("default security groups: %+v", sgs)
	}
	g, err := svc.CreateGroup(context.Background(), service.CreateRequest{
		AccountID: config.DefaultAccountID, Region: cfg.Regions[0].Name, SubnetID: subs[0].ID, SecurityGroupIDs: []string{sgs[0].ID},
		Group: core.Group{Name: "reach", CPU: 0.5, Memory: 0.25,
			Credentials: []core.RegistryCredential{{Server: reg.Host, Username: reg.Username, Password: reg.Password}},
			Containers:  []core.Container{{Name: "c", Image: image, Command: []string{"sleep", "3600"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	defer func() {
		if !removed {
			_ = rt.Remove(context.Background(), g)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		vs, _, err := svc.DescribeGroups(context.Background(), service.DescribeQuery{AccountID: config.DefaultAccountID, IDs: []string{g.ID}, Limit: 10})
		if err == nil && len(vs) == 1 && vs[0].Status.Phase == core.PhaseRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not running: %+v %v", vs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("busybox", "ping", "-c", "1", "-W", "2", g.Network.PrivateIP).CombinedOutput(); err != nil {
		t.Errorf("group at %s unreachable from the host: %v: %s", g.Network.PrivateIP, err, out)
	}
	if err := svc.DeleteGroup(context.Background(), config.DefaultAccountID, g.ID, false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(dir + "/runtime/groups/" + g.ID); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("group not removed")
		}
	}
	removed = true
}

// removeRuntimeNames removes what a containerd runtime keeps after its
// last group went (docs/host.md): its isolation chain and cgroup levels.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
