package containerd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/testenv"
)

func TestFirewallScript(t *testing.T) {
	in := instance{ID: "ab12cd34"}
	rules := []core.SecurityGroupRule{
		{ID: "r1", Direction: "in", Protocol: "tcp", CIDR: "10.0.0.0/8", PortFrom: 80, PortTo: 443},
		{ID: "r2", Direction: "in", Protocol: "icmp", CIDR: "0.0.0.0/0", IcmpType: 8, IcmpCode: -1},
		{ID: "r3", Direction: "out", Protocol: "ip", CIDR: "0.0.0.0/0"},
		{ID: "r4", Direction: "in", Protocol: "icmp", CIDR: "10.1.0.0/16", IcmpType: 3, IcmpCode: 4},
		{ID: "r5", Direction: "in", Protocol: "udp", CIDR: "10.2.0.0/16", PortFrom: 53, PortTo: 53},
		{ID: "r6", Direction: "in", Protocol: "icmp", CIDR: "10.3.0.0/16", IcmpType: -1, IcmpCode: -1},
	}
	want := `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KCI-IN-AB12CD34 - [0:0]
:KCI-OUT-AB12CD34 - [0:0]
-A INPUT -j KCI-IN-AB12CD34
-A OUTPUT -j KCI-OUT-AB12CD34
-A KCI-IN-AB12CD34 -i lo -j ACCEPT
-A KCI-IN-AB12CD34 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A KCI-IN-AB12CD34 -s 10.0.0.1/32 -m comment --comment "the host: probes" -j ACCEPT
-A KCI-IN-AB12CD34 -s 10.0.0.0/8 -p tcp -m tcp --dport 80:443 -m comment --comment "entry r1" -j ACCEPT
-A KCI-IN-AB12CD34 -s 0.0.0.0/0 -p icmp -m icmp --icmp-type 8 -m comment --comment "entry r2" -j ACCEPT
-A KCI-IN-AB12CD34 -s 10.1.0.0/16 -p icmp -m icmp --icmp-type 3/4 -m comment --comment "entry r4" -j ACCEPT
-A KCI-IN-AB12CD34 -s 10.2.0.0/16 -p udp -m udp --dport 53:53 -m comment --comment "entry r5" -j ACCEPT
-A KCI-IN-AB12CD34 -s 10.3.0.0/16 -p icmp -m comment --comment "entry r6" -j ACCEPT
-A KCI-IN-AB12CD34 -j DROP
-A KCI-OUT-AB12CD34 -o lo -j ACCEPT
-A KCI-OUT-AB12CD34 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A KCI-OUT-AB12CD34 -d 0.0.0.0/0 -m comment --comment "entry r3" -j ACCEPT
-A KCI-OUT-AB12CD34 -j DROP
COMMIT
`
	if got := firewallScript(in, "10.0.0.1", rules); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// inNetns runs f on a thread inside the network namespace at path; sockets
// f opens stay in that namespace.
func inNetns(t *testing.T, path string, f func() error) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open(path)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return err
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic(fmt.Sprintf("back to the test's netns: %v", err))
		}
	}()
	return f()
}

// TestFirewallInNetns applies rules in a real netns and checks them with
// real TCP connections from a second netns over a veth pair: a port is
// reached only when a rule allows it, replies pass by conntrack with no
// egress rule, replacing the rules closes the port for new connections,
// and egress without a rule is dropped.
func TestFirewallInNetns(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	runtime.LockOSThread()
	own, err := os.Readlink("/proc/thread-self/ns/net") // the test's netns
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("kcifwtest-%d", os.Getpid())
	srv, cli := name+"-s", name+"-c"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", srv)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", srv).Run() })
	run("netns", "add", cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cli).Run() })
	run("-n", srv, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", cli)
	run("-n", srv, "addr", "add", "10.254.77.1/24", "dev", "v0")
	run("-n", cli, "addr", "add", "10.254.77.2/24", "dev", "v1")
	for _, ns := range []string{srv, cli} {
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", srv, "link", "set", "v0", "up")
	run("-n", cli, "link", "set", "v1", "up")
	srvPath, cliPath := "/run/netns/"+srv, "/run/netns/"+cli

	var l net.Listener
	if err := inNetns(t, srvPath, func() (err error) { l, err = net.Listen("tcp", "10.254.77.1:8080"); return }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	// reach dials from the client's netns and reads the greeting: a reply
	// came back. A dropped SYN is seen as no answer within the timeout.
	reach := func(from, addr string) bool {
		t.Helper()
		ok := false
		err := inNetns(t, from, func() error {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return nil
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 2)
			_, err = c.Read(b)
			ok = err == nil && string(b) == "hi"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	in := instance{ID: "0fe1c2d3"}
	if !reach(cliPath, "10.254.77.1:8080") {
		t.Fatal("without rules applied the port is not reached: the test network is broken")
	}
	steps := []struct {
		name  string
		rules []core.SecurityGroupRule
		want  bool
	}{
		{"no rules: dropped", nil, false},
		{"another port allowed", []core.SecurityGroupRule{{ID: "a", Direction: "in", Protocol: "tcp", CIDR: "10.254.77.0/24", PortFrom: 22, PortTo: 22}}, false},
		{"another CIDR allowed", []core.SecurityGroupRule{{ID: "b", Direction: "in", Protocol: "tcp", CIDR: "10.254.78.0/24", PortFrom: 8080, PortTo: 8080}}, false},
		{"udp allowed, not tcp", []core.SecurityGroupRule{{ID: "c", Direction: "in", Protocol: "udp", CIDR: "0.0.0.0/0", PortFrom: 8080, PortTo: 8080}}, false},
		{"port range allowed, replies by conntrack", []core.SecurityGroupRule{{ID: "d", Direction: "in", Protocol: "tcp", CIDR: "10.254.77.2/32", PortFrom: 8000, PortTo: 9000}}, true},
		{"all protocols allowed", []core.SecurityGroupRule{{ID: "e", Direction: "in", Protocol: "ip", CIDR: "10.254.77.0/24"}}, true},
		{"revoked", nil, false},
	}
	for _, st := range steps {
		if err := applyFirewall(ctx, in, srvPath, "", st.rules, true); err != nil {
			t.Fatal(err)
		}
		if got := reach(cliPath, "10.254.77.1:8080"); got != st.want {
			t.Errorf("%s: reached %v, want %v", st.name, got, st.want)
		}
	}
	// Egress: the server's netns dials out only with an out rule.
	var back net.Listener
	if err := inNetns(t, cliPath, func() (err error) { back, err = net.Listen("tcp", "10.254.77.2:9090"); return }); err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	go func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	if reach(srvPath, "10.254.77.2:9090") {
		t.Error("egress without an out rule was not dropped")
	}
	if err := applyFirewall(ctx, in, srvPath, "", []core.SecurityGroupRule{{ID: "o", Direction: "out", Protocol: "tcp", CIDR: "10.254.77.0/24", PortFrom: 9090, PortTo: 9090}}, false); err != nil {
		t.Fatal(err)
	}
	if !reach(srvPath, "10.254.77.2:9090") {
		t.Error("egress with an out rule was dropped")
	}
	out, err := exec.Command("ip", "netns", "exec", srv, "iptables", "-S").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "-A KCI-OUT-0FE1C2D3 -d 10.254.77.0/24 -p tcp -m tcp --dport 9090 -m comment --comment \"entry o\" -j ACCEPT") {
		t.Errorf("the netns's rules:\n%s", out)
	}
	// Every apply entered the netns on a thread of its own that ended
	// with its goroutine: no thread of this process is left there (a
	// thread given back to the scheduler would run other goroutines in a
	// group's netns; the main thread, which Go parks rather than ends,
	// would keep it alive). A thread ends just after its goroutine, so
	// wait.
	strays := func() (in []string) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && ns != own {
				in = append(in, task.Name()+" in "+ns)
			}
		}
		return in
	}
	for deadline := time.Now().Add(10 * time.Second); len(strays()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("threads left in another netns after the applies: %v", strays())
		}
	}
}

// BenchmarkSecurityGroupChange: one security group's change re-applied to
// 50 running groups (SecurityGroupsChanged, 20 rules each), each group a
// real network namespace, as a change to a busy security group is applied
// before the API answers. Containers do not matter to the apply, so the
// groups have none.
func BenchmarkSecurityGroupChange(b *testing.B) {
	testenv.RequireRoot(b)
	const n = 50
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Runtime{groups: map[string]*group{}, in: instance{ID: "bench" + fmt.Sprintf("%03x", os.Getpid()%4096)}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var rules []core.SecurityGroupRule
	for i := range 20 {
		rules = append(rules, core.SecurityGroupRule{ID: fmt.Sprint("r", i), Direction: "in", Protocol: "tcp", CIDR: fmt.Sprintf("10.%d.0.0/16", i), PortFrom: 1000 + i, PortTo: 2000 + i})
	}
	r.EnforceSecurityGroups(func(string) ([]core.SecurityGroupRule, bool) { return rules, true })
	for i := range n {
		name := fmt.Sprintf("kcifwbench-%d-%d", os.Getpid(), i)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			b.Fatalf("ip netns add: %v: %s", err, out)
		}
		b.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		id := fmt.Sprint("g", i)
		r.groups[id] = &group{r: r, ctx: ctx, netns: "/run/netns/" + name, spec: &core.Group{ID: id, Network: core.Network{SecurityGroupIDs: []string{"sg"}}}}
	}
	b.ResetTimer()
	for range b.N {
		if err := r.SecurityGroupsChanged(ctx, []string{"sg"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/change")
}
