package containerd

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
)

// changeRules sets a security group's rules and tells the runtime, as the
// service does after recording a change.
func changeRules(t *testing.T, sgs *runtimetest.SecurityGroups, rt *Runtime, id string, rules ...core.SecurityGroupRule) {
	t.Helper()
	sgs.Set(id, rules)
	start := time.Now()
	if err := rt.SecurityGroupsChanged(context.Background(), []string{id}); err != nil {
		t.Fatalf("apply the rules of %s: %v", id, err)
	}
	t.Logf("rules of %s applied in %v", id, time.Since(start))
}

func ruleIn(proto, cidr string, from, to int) core.SecurityGroupRule {
	r := core.SecurityGroupRule{ID: fmt.Sprintf("in-%s-%s-%d", proto, cidr, from), Direction: "in", Protocol: proto, CIDR: cidr}
	if proto == "icmp" {
		r.IcmpType, r.IcmpCode = from, to
	} else {
		r.PortFrom, r.PortTo = from, to
	}
	return r
}

func ruleOut(proto, cidr string, from, to int) core.SecurityGroupRule {
	r := ruleIn(proto, cidr, from, to)
	r.Direction, r.ID = "out", "out"+r.ID[2:]
	return r
}

// tcpReply dials addr from the netns at from (the test's own if "") and
// reads what the server answers a request line; "" when no connection is
// made.
func tcpReply(t *testing.T, from, addr string, timeout time.Duration) string {
	t.Helper()
	var got string
	enter := func(f func() error) error { return inNetns(t, from, f) }
	if from == "" {
		enter = func(f func() error) error { return f() }
	}
	err := enter(func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(io.LimitReader(c, 4096))
		got = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// udpEcho sends a datagram from the netns at from to addr and reports
// whether the echo came back.
func udpEcho(t *testing.T, from, addr string, timeout time.Duration) bool {
	t.Helper()
	ok := false
	err := inNetns(t, from, func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("ping")); err != nil {
			return nil
		}
		b := make([]byte, 16)
		n, err := c.Read(b)
		ok = err == nil && string(b[:n]) == "ping"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// pingFrom pings addr once from the netns at from (busybox ping).
func pingFrom(from, addr string) bool {
	return exec.Command("nsenter", "--net="+from, "busybox", "ping", "-c", "1", "-W", "1", addr).Run() == nil
}

// serveIn runs f's listener in the netns at path until the test ends.
func serveIn(t *testing.T, path string, listen func() (io.Closer, error)) {
	t.Helper()
	var l io.Closer
	if err := inNetns(t, path, func() (err error) { l, err = listen(); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

// TestSecurityGroupRules enforces rules on real groups over a real subnet
// bridge: a group reaches another's TCP port (busybox httpd in the
// container) only when a rule of one of its security groups allows it;
// UDP and ICMP rules, with ICMP types; a revoke closes the port for new
// connections while an established one goes on (stateful); egress rules
// of the client; two security groups of one group combine; another VPC
// stays cut off whatever the rules; IPv6 link-local is closed; rules
// changed while kcid was down are applied when it adopts the groups
// again; a rule naming a subnet tells it from another subnet of the VPC
// (no masquerading inside a VPC); nothing is left after the groups are
// removed.
func TestSecurityGroupRules(t *testing.T) {
	e := newEnv(t)
	sgs := runtimetest.NewSecurityGroups(map[string][]core.SecurityGroupRule{
		"sg-web": nil, "sg-extra": nil,
		"sg-cli":   {ruleOut("ip", "0.0.0.0/0", 0, 0)},
		"sg-other": {ruleOut("ip", "0.0.0.0/0", 0, 0)},
	})
	e.rt.EnforceSecurityGroups(sgs.Lookup)

	cidr, gw, ip, sid := subnet()
	web := e.group("web", ip(10), cidr, gw, sid, core.Container{Name: "httpd", Image: e.image,
		Command: sleeper("mkdir -p /www && echo hello-from-web > /www/index.html && httpd -p 8080 -h /www && echo LISTENING; ")})
	web.Network.SecurityGroupIDs = []string{"sg-web", "sg-extra"}
	cli := e.group("cli", ip(11), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	cli.Network.SecurityGroupIDs = []string{"sg-cli"}
	cidr2, gw2, ip2, sid2 := subnet()
	other := e.group("other", ip2(10), cidr2, gw2, sid2, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	other.Network.VpcID = "vpc-2"
	other.Network.SecurityGroupIDs = []string{"sg-other"}
	// far: the same VPC as web and cli, another subnet.
	cidr3, gw3, ip3, sid3 := subnet()
	far := e.group("far", ip3(10), cidr3, gw3, sid3, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	far.Network.SecurityGroupIDs = []string{"sg-cli"}
	for _, g := range []*core.Group{web, cli, far} {
		g.Network.VpcCIDR = "10.213.0.0/16" // every subnet() is in it
	}
	all := []*core.Group{web, cli, other, far}
	for _, g := range all {
		e.start(g)
	}
	for _, g := range all {
		e.waitStatus(g.ID, 30*time.Second, allRunning)
	}
	e.waitLogs(web.ID, "httpd", "LISTENING", 10*time.Second)
	webNS, cliNS, otherNS, farNS := e.rt.netnsPath(web.ID), e.rt.netnsPath(cli.ID), e.rt.netnsPath(other.ID), e.rt.netnsPath(far.ID)
	webHTTP, webUDP, webLong := ip(10)+":8080", ip(10)+":9090", ip(10)+":8001"

	// A UDP echo and a long-lived TCP echo in web's netns (its container
	// shares it: the same filter applies).
	serveIn(t, webNS, func() (io.Closer, error) {
		pc, err := net.ListenPacket("udp", webUDP)
		if err != nil {
			return nil, err
		}
		go func() {
			b := make([]byte, 64)
			for {
				n, from, err := pc.ReadFrom(b)
				if err != nil {
					return
				}
				pc.WriteTo(b[:n], from)
			}
		}()
		return pc, nil
	})
	serveIn(t, webNS, func() (io.Closer, error) {
		l, err := net.Listen("tcp", webLong)
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); io.Copy(c, c) }()
			}
		}()
		return l, nil
	})

	const (
		no  = time.Second     // a dropped packet: no answer within this
		yes = 5 * time.Second // a loaded machine still answers within this
	)
	reaches := func(from, addr string) bool {
		t.Helper()
		return strings.Contains(tcpReply(t, from, addr, yes), "hello-from-web")
	}
	blocked := func(from, addr string) bool {
		t.Helper()
		return tcpReply(t, from, addr, no) == ""
	}

	// No ingress rule: nothing gets in.
	if !blocked(cliNS, webHTTP) || udpEcho(t, cliNS, webUDP, no) || pingFrom(cliNS, ip(10)) {
		t.Fatal("web has no ingress rule, yet something got in")
	}
	// A TCP port range from cli's address only.
	changeRules(t, sgs, e.rt, "sg-web", ruleIn("tcp", ip(11)+"/32", 8000, 8080))
	if !reaches(cliNS, webHTTP) {
		t.Fatal("the TCP rule does not let cli in")
	}
	// The host (the gateway: kcid's probes) is always let in.
	if !reaches("", webHTTP) {
		t.Error("the host (the subnet's gateway) does not reach web")
	}
	if udpEcho(t, cliNS, webUDP, no) || pingFrom(cliNS, ip(10)) {
		t.Error("a TCP rule let UDP or ICMP in")
	}
	rules, err := exec.Command("nsenter", "--net="+webNS, "iptables", "-S").CombinedOutput()
	if err != nil || !strings.Contains(string(rules), "-A KCI-IN-"+strings.ToUpper(e.rt.in.ID)+" -s "+ip(11)+"/32 -p tcp -m tcp --dport 8000:8080") {
		t.Errorf("web's netns rules (%v):\n%s", err, rules)
	}

	// A second security group of web adds UDP: the union applies.
	changeRules(t, sgs, e.rt, "sg-extra", ruleIn("udp", cidr, 9090, 9090))
	if !udpEcho(t, cliNS, webUDP, yes) || !reaches(cliNS, webHTTP) {
		t.Fatal("web's two security groups do not combine (UDP from sg-extra, TCP from sg-web)")
	}

	// ICMP by type: timestamp requests do not let echo requests in.
	tcpFromCli := ruleIn("tcp", ip(11)+"/32", 8000, 8080)
	changeRules(t, sgs, e.rt, "sg-web", tcpFromCli, ruleIn("icmp", cidr, 13, -1))
	if pingFrom(cliNS, ip(10)) {
		t.Error("an ICMP type 13 rule let an echo request (type 8) in")
	}
	changeRules(t, sgs, e.rt, "sg-web", tcpFromCli, ruleIn("icmp", cidr, 8, 0))
	if !pingFrom(cliNS, ip(10)) {
		t.Error("an ICMP type 8 code 0 rule does not let ping in")
	}

	// Stateful: a connection made while allowed outlives the revoke; new
	// ones are dropped.
	var long net.Conn
	if err := inNetns(t, cliNS, func() (err error) { long, err = net.DialTimeout("tcp", webLong, yes); return }); err != nil {
		t.Fatalf("the long-lived connection: %v", err)
	}
	defer long.Close()
	echo := func(msg string) bool {
		long.SetDeadline(time.Now().Add(yes))
		if _, err := long.Write([]byte(msg)); err != nil {
			return false
		}
		b := make([]byte, len(msg))
		_, err := io.ReadFull(long, b)
		return err == nil && string(b) == msg
	}
	if !echo("before") {
		t.Fatal("no echo on the long-lived connection")
	}
	changeRules(t, sgs, e.rt, "sg-web", []core.SecurityGroupRule{}...)
	if !blocked(cliNS, webHTTP) || !blocked(cliNS, webLong) {
		t.Error("revoking the TCP rule did not close the ports for new connections")
	}
	if !echo("after") {
		t.Error("the connection established before the revoke was cut (rules are stateful)")
	}
	if !udpEcho(t, cliNS, webUDP, yes) {
		t.Error("revoking sg-web's rules closed sg-extra's UDP port")
	}

	// Egress: cli's own rules decide what leaves it.
	changeRules(t, sgs, e.rt, "sg-web", ruleIn("tcp", "0.0.0.0/0", 8080, 8080))
	changeRules(t, sgs, e.rt, "sg-cli", []core.SecurityGroupRule{}...)
	if !blocked(cliNS, webHTTP) || udpEcho(t, cliNS, webUDP, no) {
		t.Error("cli has no egress rule, yet it reached web")
	}
	changeRules(t, sgs, e.rt, "sg-cli", ruleOut("tcp", ip(10)+"/32", 8080, 8080))
	if !reaches(cliNS, webHTTP) {
		t.Error("an egress rule to web's port does not let cli out")
	}
	if udpEcho(t, cliNS, webUDP, no) {
		t.Error("a TCP egress rule let UDP out")
	}

	// Everything allowed in: another VPC still cannot reach web; the host can.
	changeRules(t, sgs, e.rt, "sg-web", ruleIn("ip", "0.0.0.0/0", 0, 0))
	if !blocked(otherNS, webHTTP) || pingFrom(otherNS, ip(10)) {
		t.Error("a group of another VPC reached web")
	}
	if !reaches("", webHTTP) {
		t.Error("the host does not reach web although every source is allowed")
	}
	// IPv6 is not offered: link-local addresses on the bridge stay closed.
	if ll := linkLocal(t, webNS); ll != "" {
		if tcpReply(t, cliNS, "["+ll+"%eth0]:8080", no) != "" {
			t.Errorf("cli reached web over IPv6 link-local %s", ll)
		}
	}

	// Subnets of one VPC keep their source addresses between them: a rule
	// naming cli's subnet does not admit far (which the host would
	// otherwise masquerade as web's gateway, inside that subnet), one
	// naming far's subnet does.
	changeRules(t, sgs, e.rt, "sg-web", ruleIn("tcp", cidr, 8080, 8080))
	if !reaches(cliNS, webHTTP) {
		t.Error("a rule for cli's subnet does not let cli in")
	}
	if !blocked(farNS, webHTTP) {
		t.Error("a group of another subnet of the VPC got in through a rule for cli's subnet")
	}
	changeRules(t, sgs, e.rt, "sg-web", ruleIn("tcp", cidr3, 8080, 8080))
	if !reaches(farNS, webHTTP) || !blocked(cliNS, webHTTP) {
		t.Error("a rule for far's subnet does not let exactly far in")
	}

	// Rules changed while kcid was down are applied when it is back: the
	// new runtime adopts the groups and applies the recorded rules before
	// anything else.
	e.rt.Close()
	sgs.Set("sg-web", []core.SecurityGroupRule{ruleIn("tcp", "192.0.2.0/24", 8080, 8080)})
	e.rt = e.newRuntime()
	e.rt.EnforceSecurityGroups(sgs.Lookup)
	if err := e.rt.Sync(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	for _, g := range all {
		e.waitStatus(g.ID, 30*time.Second, allRunning)
	}
	// The adopted worker re-applies them in its setup, right after Sync.
	for deadline := time.Now().Add(30 * time.Second); !blocked(cliNS, webHTTP); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("after kcid came back, web still has the rules from before it went down")
		}
	}
	changeRules(t, sgs, e.rt, "sg-web", ruleIn("tcp", cidr, 8080, 8080))
	if !reaches(cliNS, webHTTP) {
		t.Error("the adopted group does not follow a change")
	}

	// Removed: the netns and its chains go; the host never had any.
	for _, g := range all {
		if err := e.rt.Remove(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		e.assertGone(g.ID)
	}
	host, _ := exec.Command("iptables-save").CombinedOutput()
	if strings.Contains(string(host), "KCI-IN-") || strings.Contains(string(host), "KCI-OUT-") {
		t.Errorf("security-group chains on the host:\n%s", host)
	}
	// The bridges went with their last groups, and their source rules with them.
	nat, _ := exec.Command("iptables", "-t", "nat", "-S", e.rt.in.noMasqChain()).CombinedOutput()
	if strings.Contains(string(nat), "-A ") {
		t.Errorf("source rules left after the bridges went:\n%s", nat)
	}
}

// linkLocal returns the IPv6 link-local address of eth0 in the netns at
// path, "" if it has none (IPv6 off on this host).
func linkLocal(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+path, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link").CombinedOutput()
	if err != nil {
		t.Logf("no IPv6 in the group's netns: %v: %s", err, out)
		return ""
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "inet6" && i+1 < len(f) {
			return strings.Split(f[i+1], "/")[0]
		}
	}
	t.Logf("no IPv6 link-local address on eth0: %s", out)
	return ""
}
