package containerd

import (
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// TestBandwidth: EgressBandwidth shapes what a group sends (measured), and
// IngressBandwidth puts a token bucket on the host side of its veth.
func TestBandwidth(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	// The bridge (with the gateway address) exists once a group is up.
	first := e.group("bw0", ip(90), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(first)
	e.waitStatus(first.ID, 30*time.Second, allRunning)
	ln, err := net.Listen("tcp", gw+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	const mbit = 8
	g := e.group("bw", ip(91), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command: sleeper("sleep 0.2; dd if=/dev/zero bs=1024 count=2048 2>/dev/null | nc " + gw + " " + itoa(port) + "; echo SENT; ")})
	g.EgressBandwidth, g.IngressBandwidth = mbit, mbit
	e.start(g)
	// A hang guard: the group connects within seconds.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Minute))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, _ := io.Copy(io.Discard, conn)
	took := time.Since(start)
	conn.Close()
	rate := float64(n*8) / took.Seconds() / 1e6
	t.Logf("received %d bytes in %v: %.1f Mbit/s (limit %d)", n, took, rate, mbit)
	if n != 2048*1024 {
		t.Errorf("received %d bytes", n)
	}
	if rate > mbit*1.5 {
		t.Errorf("egress not limited: %.1f Mbit/s", rate)
	}
	out, _ := exec.Command("tc", "qdisc", "show").CombinedOutput()
	if !strings.Contains(string(out), "tbf") {
		t.Errorf("no tbf qdisc on the host:\n%s", out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
