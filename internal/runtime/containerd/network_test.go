package containerd

import (
	"strings"
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
}
