package containerd

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// TestGroupsInSubnetReachEachOther: two groups on one subnet bridge ping
// each other by IP, reach the gateway, and the host reaches both.
func TestGroupsInSubnetReachEachOther(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	a := e.group("a", ip(20), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command: sleeper("ip -o -4 addr show eth0; ip route; ")})
	b := e.group("b", ip(21), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command: sleeper("until ping -c 1 -W 1 " + ip(20) + "; do sleep 0.2; done; echo PEER_OK; ping -c 1 -W 1 " + gw + " && echo GW_OK; ")})
	e.start(a)
	e.start(b)
	e.waitStatus(a.ID, 30*time.Second, allRunning)
	e.waitStatus(b.ID, 30*time.Second, allRunning)
	out := e.waitLogs(b.ID, "c", "GW_OK", 20*time.Second)
	if !strings.Contains(out, "PEER_OK") {
		t.Errorf("b did not reach a:\n%s", out)
	}
	outA := e.waitLogs(a.ID, "c", "default via "+gw, 5*time.Second)
	if !strings.Contains(outA, "inet "+ip(20)+"/24") {
		t.Errorf("a's address:\n%s", outA)
	}
	for _, addr := range []string{ip(20), ip(21)} {
		if err := ping(addr); err != nil {
			t.Error(err)
		}
	}
	// NAT egress: the group's address is masqueraded when leaving the subnet.
	nat, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if !strings.Contains(string(nat), "-s "+ip(20)+"/32") || !strings.Contains(string(nat), "MASQUERADE") {
		t.Errorf("no masquerade for %s:\n%s", ip(20), nat)
	}
}

// TestVPCIsolation: a group of another VPC cannot reach a group, one of the
// same VPC in another subnet can; the host reaches both.
func TestVPCIsolation(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	a := e.group("a", ip(100), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(a)
	e.waitStatus(a.ID, 30*time.Second, allRunning)

	probe := sleeper("for i in 1 2 3; do ping -c 1 -W 1 " + ip(100) + " && echo REACHED && break; done; echo PROBED; ")
	cidr2, gw2, ip2, sid2 := subnet()
	same := e.group("same-vpc", ip2(10), cidr2, gw2, sid2, core.Container{Name: "c", Image: e.image, Command: probe})
	cidr3, gw3, ip3, sid3 := subnet()
	other := e.group("other-vpc", ip3(10), cidr3, gw3, sid3, core.Container{Name: "c", Image: e.image, Command: probe})
	other.Network.VpcID = "vpc-2"
	e.start(same)
	e.start(other)
	if out := e.waitLogs(same.ID, "c", "PROBED", 20*time.Second); !strings.Contains(out, "REACHED") {
		t.Errorf("same VPC, other subnet, did not reach:\n%s", out)
	}
	if out := e.waitLogs(other.ID, "c", "PROBED", 20*time.Second); strings.Contains(out, "REACHED") {
		t.Errorf("other VPC reached the group:\n%s", out)
	}
	for _, addr := range []string{ip2(10), ip3(10)} {
		if err := ping(addr); err != nil {
			t.Error(err)
		}
	}
}

// TestConcurrentGroups starts and removes groups of one subnet all at once:
// CNI calls are serialised, the bridge goes with the last group.
func TestConcurrentGroups(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	const n = 8
	var gs []*core.Group
	for i := 0; i < n; i++ {
		g := e.group("many", ip(170+i), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
		gs = append(gs, g)
	}
	var wg sync.WaitGroup
	for _, g := range gs {
		t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.rt.Start(context.Background(), g); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, g := range gs {
		e.waitStatus(g.ID, 60*time.Second, allRunning)
	}
	for i := range gs {
		if err := ping(ip(170 + i)); err != nil {
			t.Error(err)
		}
	}
	errs := make(chan error, n)
	for _, g := range gs {
		go func() { errs <- e.rt.Remove(context.Background(), g) }()
	}
	for range gs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, g := range gs {
		e.assertGone(g.ID)
	}
	if br := e.rt.in.bridgeName(sid); bridgeExists(br) {
		t.Errorf("bridge %s left", br)
	}
}
