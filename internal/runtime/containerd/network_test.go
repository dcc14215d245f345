package containerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
	// NAT egress: the subnet is masqueraded when leaving it (one rule set
	// per bridge; TestEgressMasqueraded sees it work).
	nat := strings.Join(masqueradeOf(t, e.rt.in.bridgeName(sid)), "\n")
	if !strings.Contains(nat, "-s "+cidr+" ") || !strings.Contains(nat, "-j MASQUERADE") {
		t.Errorf("no masquerade for %s:\n%s", cidr, nat)
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

// TestEgressMasqueraded: a group reaches an address outside its VPC — a
// network namespace behind a veth pair on the host, with no route back to
// the group's subnet — only because what it sends leaves masqueraded as
// the host; the subnet bridge's MASQUERADE rule counts it.
func TestEgressMasqueraded(t *testing.T) {
	e := newEnv(t)
	outside, hostIf, outIf := "kcitest-out-"+randHex(3), "kcio"+randHex(3), "kcip"+randHex(3)
	k := 4 * (os.Getpid() % 60)
	hostAddr, outAddr := fmt.Sprintf("198.51.100.%d", k+1), fmt.Sprintf("198.51.100.%d", k+2)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "delete", outside).Run()
		_ = exec.Command("ip", "link", "delete", hostIf).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", outside},
		{"link", "add", hostIf, "type", "veth", "peer", "name", outIf},
		{"link", "set", outIf, "netns", outside},
		{"addr", "add", hostAddr + "/30", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", outside, "addr", "add", outAddr + "/30", "dev", outIf},
		{"-n", outside, "link", "set", outIf, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	cidr, gw, ip, sid := subnet()
	g := e.group("egress", ip(30), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command: sleeper("until ping -c 1 -W 1 " + outAddr + "; do sleep 0.2; done; echo OUT_OK; ")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	e.waitLogs(g.ID, "c", "OUT_OK", 20*time.Second)
	if n := masqueradedPackets(t, e.rt.in.bridgeName(sid)); n == 0 {
		t.Errorf("the outside was reached, but %s's MASQUERADE rule counted nothing", sid)
	}
}

// masqueradedPackets is the packet count of bridge br's MASQUERADE rule.
func masqueradedPackets(t *testing.T, br string) int {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "5", "-t", "nat", "-L", masqChain(br), "-v", "-x", "-n").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "MASQUERADE" {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	t.Fatalf("no MASQUERADE rule in %s:\n%s", masqChain(br), out)
	return 0
}

// TestConcurrentGroups starts and removes groups of one subnet all at once:
// their CNI calls run in parallel (the first ADD on the new bridge alone),
// the bridge and its masquerade go with the last group.
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
	if br := e.rt.in.bridgeName(sid); bridgeExists(br) || len(masqueradeOf(t, br)) > 0 {
		t.Errorf("bridge %s or its masquerade left: %q", br, masqueradeOf(t, br))
	}
}
