// Package runtimetest is the scenario suite every service.Runtime passes
// against its real engine: run, logs, restart back-off, delete, config
// files, DNS, host aliases, exec, init containers, probes, the start timeline and disks made on demand. A runtime's tests call Run with an Env that
// knows how to make groups for it (IDs, network, registry credentials).
//
// The scenarios assert only what the API promises, not how an engine
// words it: phases, container states and reasons, restart counts, the
// spec-shaped events, log contents, file contents and modes.
package runtimetest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
)

// Env is what the suite needs from a runtime's test harness.
type Env struct {
	Runtime service.Runtime
	// Image is a busybox image (sh, echo, cat, sleep, stat, seq).
	Image string
	// NewGroup returns a group named name, ready for Start: unique ID,
	// account, network (a free IP when the runtime needs one) and, when
	// the image needs them, registry credentials. Containers, volumes,
	// DNS and aliases are set by the scenario.
	NewGroup func(t *testing.T, name string) *core.Group
	// Timeout bounds each wait (default 60s).
	Timeout time.Duration
	// NoExec, when set, says why the runtime has no exec yet; the Exec
	// scenario then is skipped with that reason (and fails in CI).
	NoExec string
	// LivenessKillNoBackOff, when set, says why this runtime restarts a
	// container its liveness probe killed at once, without the restart
	// back-off (and its BackOff event).
	LivenessKillNoBackOff string
	// NodeDir returns a new directory of the node's file system that the
	// test can read and write as well (the test runs on the node), for
	// the HostPath scenario; nil skips it.
	NodeDir func(t *testing.T) string
	// NewDiskStorage, if set, provides the storage one disk made on
	// demand of sizeGB binds to, before the scenario starts its group
	// (Kubernetes without a dynamic provisioner: a PersistentVolume of
	// the runtime's storage class); nil when the runtime makes its disks
	// itself (containerd).
	NewDiskStorage func(t *testing.T, sizeGB int)
}

// scenario is one named test of the suite.
type scenario struct {
	name string
	fn   func(*testing.T, Env)
}

// Run runs every scenario as a subtest.
func Run(t *testing.T, e Env) {
	runScenarios(t, e, []scenario{
		{"Run", testRun},
		{"Logs", testLogs},
		{"RestartBackOff", testRestartBackOff},
		{"Delete", testDelete},
		{"ConfigFile", testConfigFile},
		{"DNS", testDNS},
		{"DNSSearchOnly", testDNSSearchOnly},
		{"HostAliases", testHostAliases},
		{"EnvFromFields", testEnvFromFields},
		{"Exec", testExec},
		{"SecurityContext", testSecurityContext},
		{"HostPath", testHostPath},
		{"InitA", testInitContainers},
		{"InitB", testInitFailsNever},
		{"InitC", testInitRetried},
		{"ProbeLiveness", testProbeLiveness},
		{"ProbeReadiness", testProbeReadiness},
		{"ProbeTCP", testProbeTCP},
		{"ProbeStartup", testProbeStartup},
		{"StartTimeline", testStartTimeline},
	})
}

// runScenarios runs each scenario as a parallel subtest.
func runScenarios(t *testing.T, e Env, scs []scenario) {
	if e.Timeout == 0 {
		e.Timeout = 60 * time.Second
	}
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.fn(t, e)
		})
	}
}

// start starts g and removes it when the test ends.
func (e Env) start(t *testing.T, g *core.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	if err := e.Runtime.Start(ctx, g); err != nil {
		t.Fatalf("Start %s: %v", g.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := e.Runtime.Remove(ctx, g); err != nil {
			t.Errorf("Remove %s: %v", g.Name, err)
		}
	})
}

// WaitStatus polls Status until cond holds, failing with the last status
// after the Env's timeout.
func (e Env) WaitStatus(t *testing.T, id string, cond func(core.GroupStatus) bool) core.GroupStatus {
	t.Helper()
	deadline := time.Now().Add(e.Timeout)
	var st core.GroupStatus
	var err error
	for time.Now().Before(deadline) {
		st, err = e.Runtime.Status(context.Background(), id)
		if err == nil && cond(st) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s: condition not met within %s; last status (err %v):\n%s", id, e.Timeout, err, Dump(st))
	return st
}

// WaitLogs polls Logs until they contain want.
func (e Env) WaitLogs(t *testing.T, id, container, want string, tail int) string {
	t.Helper()
	deadline := time.Now().Add(e.Timeout)
	var out string
	var err error
	for time.Now().Before(deadline) {
		out, err = e.Runtime.Logs(context.Background(), id, container, tail)
		if err == nil && strings.Contains(out, want) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("logs of %s/%s never contained %q; last (err %v):\n%s", id, container, want, err, out)
	return out
}

// InitContainer returns the named init container's status.
func InitContainer(st core.GroupStatus, name string) core.ContainerStatus {
	for _, c := range st.InitContainers {
		if c.Name == name {
			return c
		}
	}
	return core.ContainerStatus{}
}

// Container returns the named container's status.
func Container(st core.GroupStatus, name string) core.ContainerStatus {
	for _, c := range st.Containers {
		if c.Name == name {
			return c
		}
	}
	return core.ContainerStatus{}
}

// HasEvent reports whether an event with the reason and a message
// containing msg was recorded.
func HasEvent(st core.GroupStatus, reason, msg string) bool {
	for _, e := range st.Events {
		if e.Reason == reason && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// Dump renders a status for failure messages.
func Dump(st core.GroupStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s\n", st.Phase)
	for _, c := range st.InitContainers {
		fmt.Fprintf(&b, "  init %s restarts=%d current=%s previous=%s\n", c.Name, c.RestartCount, State(c.Current), State(c.Previous))
	}
	for _, c := range st.Containers {
		fmt.Fprintf(&b, "  %s restarts=%d current=%s previous=%s\n", c.Name, c.RestartCount, State(c.Current), State(c.Previous))
	}
	for _, e := range st.Events {
		fmt.Fprintf(&b, "  event %s %s x%d: %s\n", e.Type, e.Reason, e.Count, e.Message)
	}
	return b.String()
}

// State renders a container state.
func State(s *core.ContainerState) string {
	if s == nil {
		return "<nil>"
	}
	out := s.State
	if s.Reason != "" {
		out += "/" + s.Reason
	}
	if s.ExitCode != nil {
		out += fmt.Sprintf("(exit %d)", *s.ExitCode)
	}
	return out
}

func (e Env) ctr(name string, cmd ...string) core.Container {
	return core.Container{Name: name, Image: e.Image, Command: cmd}
}

// testRun: a long-running container is Running with its events; a
// one-shot group with RestartPolicy Never ends Succeeded.
func testRun(t *testing.T, e Env) {
	g := e.NewGroup(t, "run")
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "echo hello-from-group; exec sleep 3600")}
	once := e.NewGroup(t, "once")
	once.RestartPolicy = core.RestartNever
	once.Containers = []core.Container{e.ctr("a", "sh", "-c", "echo done"), e.ctr("b", "true")}
	e.start(t, g)
	e.start(t, once)
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		c := Container(s, "main")
		return s.Phase == core.PhaseRunning && c.Current != nil && c.Current.State == core.StateRunning
	})
	if c := Container(st, "main"); c.Current.StartTime == nil || c.RestartCount != 0 || c.Previous != nil {
		t.Errorf("running container:\n%s", Dump(st))
	}
	st = e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return HasEvent(s, "Started", "Started container main") })
	if !HasEvent(st, "Created", "Created container main") || !HasEvent(st, "Pulled", "`"+e.Image+"`") {
		t.Errorf("events:\n%s", Dump(st))
	}
	e.WaitLogs(t, g.ID, "main", "hello-from-group", 10)

	st = e.WaitStatus(t, once.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseSucceeded })
	if st.SucceededTime == nil {
		t.Errorf("Succeeded without SucceededTime")
	}
	for _, n := range []string{"a", "b"} {
		c := Container(st, n)
		if c.Current == nil || c.Current.State != core.StateTerminated || c.Current.Reason != "Completed" || c.Current.ExitCode == nil || *c.Current.ExitCode != 0 {
			t.Errorf("%s: %s", n, State(c.Current))
		}
	}
	e.WaitLogs(t, once.ID, "a", "done", 10)
}

// testLogs: Logs returns the last tail lines of stdout and stderr; an
// unknown container is ErrNotFound.
func testLogs(t *testing.T, e Env) {
	g := e.NewGroup(t, "logs")
	// stdout and stderr reach the runtime through two pipes, so lines of
	// the two written at nearly the same time may swap (as with Docker and
	// Kubernetes); the pause keeps this check about the tail, not that race.
	g.Containers = []core.Container{e.ctr("talk", "sh", "-c", "for i in 1 2 3 4 5; do echo line-$i; done; sleep 0.5; echo err-6 >&2; exec sleep 3600")}
	e.start(t, g)
	e.WaitLogs(t, g.ID, "talk", "err-6", 100)
	out, err := e.Runtime.Logs(context.Background(), g.ID, "talk", 2)
	if err != nil {
		t.Fatal(err)
	}
	if out != "line-5\nerr-6\n" {
		t.Errorf("tail 2 = %q, want %q", out, "line-5\nerr-6\n")
	}
	all, _ := e.Runtime.Logs(context.Background(), g.ID, "talk", 100)
	if !strings.HasPrefix(all, "line-1\nline-2\n") {
		t.Errorf("tail 100 = %q", all)
	}
	if _, err := e.Runtime.Logs(context.Background(), g.ID, "nope", 10); !errdefs.IsNotFound(err) {
		t.Errorf("unknown container: %v", err)
	}
}

// testRestartBackOff: Always restarts a crashing container with back-off:
// CrashLoopBackOff, RestartCount, the terminated PreviousState, the
// BackOff event, and the log of the attempts.
func testRestartBackOff(t *testing.T, e Env) {
	g := e.NewGroup(t, "crash")
	g.Containers = []core.Container{e.ctr("c", "sh", "-c", "echo crash; exit 2")}
	e.start(t, g)
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		c := Container(s, "c")
		return c.RestartCount >= 1 && c.Current != nil && c.Current.Reason == "CrashLoopBackOff" &&
			HasEvent(s, "BackOff", "Back-off restarting failed container c")
	})
	c := Container(st, "c")
	if c.Previous == nil || c.Previous.State != core.StateTerminated || c.Previous.ExitCode == nil || *c.Previous.ExitCode != 2 || c.Previous.Reason != "Error" {
		t.Errorf("previous: %s\n%s", State(c.Previous), Dump(st))
	}
	if st.Phase != core.PhaseRunning {
		t.Errorf("phase %s, want Running", st.Phase)
	}
	e.WaitLogs(t, g.ID, "c", "crash", 10)
}

// testDelete: Remove stops a running group (also one whose PID 1 ignores
// SIGTERM, after the grace period) and forgets it; Remove is idempotent.
func testDelete(t *testing.T, e Env) {
	g := e.NewGroup(t, "delete")
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "trap '' TERM; echo up; while true; do sleep 1; done")}
	ctx := context.Background()
	if err := e.Runtime.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	e.WaitLogs(t, g.ID, "main", "up", 10)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := e.Runtime.Remove(rctx, g); err != nil {
		t.Fatal(err)
	}
	t.Logf("Remove took %s", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(e.Timeout)
	for {
		_, err := e.Runtime.Status(ctx, g.ID)
		if errdefs.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status after Remove: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.Runtime.Remove(rctx, g); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// testConfigFile: a ConfigFileVolume's files appear with their content,
// in subdirectories, with their modes.
func testConfigFile(t *testing.T, e Env) {
	g := e.NewGroup(t, "config")
	g.Volumes = []core.Volume{{Name: "conf", Type: core.VolumeConfigFile, DefaultMode: 0o640, ConfigFiles: []core.ConfigFile{
		{Path: "app.conf", Content: []byte("port=8080\n")},
		{Path: "scripts/run.sh", Content: []byte("#!/bin/sh\necho script-ran\n"), Mode: 0o755},
	}}}
	c := e.ctr("main", "sh", "-c", "cat /etc/app/app.conf; /etc/app/scripts/run.sh; "+
		"echo mode-conf=$(stat -L -c %a /etc/app/app.conf); echo mode-run=$(stat -L -c %a /etc/app/scripts/run.sh); exec sleep 3600")
	c.VolumeMounts = []core.VolumeMount{{Name: "conf", MountPath: "/etc/app", ReadOnly: true}}
	g.Containers = []core.Container{c}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "mode-run=", 20)
	for _, want := range []string{"port=8080\n", "script-ran\n", "mode-conf=640\n", "mode-run=755\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

// testDNS: DnsConfig becomes the containers' resolv.conf.
func testDNS(t *testing.T, e Env) {
	g := e.NewGroup(t, "dns")
	g.DNS = &core.DNSConfig{
		NameServers: []string{"10.20.30.40", "10.20.30.41"},
		Searches:    []string{"kci.example.com", "example.com"},
		Options:     []core.DNSOption{{Name: "ndots", Value: "3"}, {Name: "rotate"}},
	}
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "cat /etc/resolv.conf; echo END; exec sleep 3600")}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "END", 50)
	for _, want := range []string{"nameserver 10.20.30.40\n", "nameserver 10.20.30.41\n", "search kci.example.com example.com\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "ndots:3") || !strings.Contains(out, "rotate") {
		t.Errorf("resolv.conf lacks the options:\n%s", out)
	}
}

// testDNSSearchOnly: a DnsConfig without name servers keeps the node's
// name servers and adds its searches and options to the node's.
func testDNSSearchOnly(t *testing.T, e Env) {
	g := e.NewGroup(t, "dnssearch")
	g.DNS = &core.DNSConfig{Searches: []string{"kci.example.com"}, Options: []core.DNSOption{{Name: "ndots", Value: "4"}}}
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "cat /etc/resolv.conf; echo END; exec sleep 3600")}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "END", 50)
	var nameservers int
	var search, options string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "nameserver":
			nameservers++
		case len(f) > 1 && f[0] == "search":
			search = line
		case len(f) > 1 && f[0] == "options":
			options = line
		}
	}
	if nameservers == 0 || !strings.Contains(search, "kci.example.com") || !strings.Contains(options, "ndots:4") {
		t.Errorf("resolv.conf: want the node's name servers, search with kci.example.com, ndots:4:\n%s", out)
	}
}

// testHostAliases: host aliases are lines of /etc/hosts.
func testHostAliases(t *testing.T, e Env) {
	g := e.NewGroup(t, "aliases")
	g.HostAliases = []core.HostAlias{{IP: "10.9.8.7", Hostnames: []string{"db.internal", "db"}}, {IP: "10.9.8.6", Hostnames: []string{"cache"}}}
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "cat /etc/hosts; echo END; exec sleep 3600")}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "END", 50)
	for _, a := range g.HostAliases {
		found := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && f[0] == a.IP && strings.Join(f[1:], " ") == strings.Join(a.Hostnames, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("/etc/hosts lacks %s %v:\n%s", a.IP, a.Hostnames, out)
		}
	}
}

// testEnvFromFields: environment variables from field references hold the
// group's name, ID, address and labels and the node's name when the
// container starts; a literal value next to them is kept.
func testEnvFromFields(t *testing.T, e Env) {
	g := e.NewGroup(t, "fields")
	g.Labels = []core.Label{{Key: "app", Value: "web"}, {Key: "example.com/tier", Value: "front"}}
	c := e.ctr("main", "sh", "-c", `echo "name=$N"; echo "uid=$U"; echo "ip=$IP"; echo "ips=$IPS"; echo "node=$NODE"; echo "plain=$P"; echo "app=$APP"; echo "tier=$TIER"; echo "absent=${ABSENT-unset}"; echo END; exec sleep 3600`)
	c.Env = []core.EnvVar{
		{Key: "N", FieldPath: core.FieldName}, {Key: "U", FieldPath: core.FieldUID},
		{Key: "IP", FieldPath: core.FieldPodIP}, {Key: "IPS", FieldPath: core.FieldPodIPs},
		{Key: "NODE", FieldPath: core.FieldNodeName}, {Key: "P", Value: "literal"},
		{Key: "APP", FieldPath: core.FieldLabel("app")}, {Key: "TIER", FieldPath: core.FieldLabel("example.com/tier")},
		{Key: "ABSENT", FieldPath: core.FieldLabel("absent")},
	}
	g.Containers = []core.Container{c}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "END", 50)
	vals := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vals[k] = v
		}
	}
	if vals["name"] != g.Name || vals["uid"] != g.ID || vals["plain"] != "literal" {
		t.Errorf("name=%q uid=%q plain=%q, want %q %q literal:\n%s", vals["name"], vals["uid"], vals["plain"], g.Name, g.ID, out)
	}
	// Labels by key; a label the group lacks is set and empty (Kubernetes).
	if vals["app"] != "web" || vals["tier"] != "front" || vals["absent"] != "" {
		t.Errorf("app=%q tier=%q absent=%q, want web, front and empty:\n%s", vals["app"], vals["tier"], vals["absent"], out)
	}
	ip, err := netip.ParseAddr(vals["ip"])
	if err != nil || vals["ips"] != vals["ip"] {
		t.Errorf("ip=%q ips=%q: want the group's address in both:\n%s", vals["ip"], vals["ips"], out)
	}
	// The runtime that allocates the address knows it before the start;
	// a cluster assigns it, so there any address is the pod's own.
	if g.Network.PrivateIP != "" && ip.String() != g.Network.PrivateIP {
		t.Errorf("ip=%s, want the group's %s", ip, g.Network.PrivateIP)
	}
	if vals["node"] == "" {
		t.Errorf("node name empty:\n%s", out)
	}
}

// testSecurityContext: a privileged container has CAP_SYS_ADMIN, a plain
// one next to it has not; with HostPID the containers' processes have host
// PIDs (the shell is not PID 1), without it the shell is PID 1. (Whether an
// account may ask for these is the service's policy, not the runtime's.)
func testSecurityContext(t *testing.T, e Env) {
	// The shell's own PID from /proc/self/stat (read is a builtin): $$ is
	// Kubernetes' escape for "$" in a command and never reaches the shell.
	const script = `read -r pid rest < /proc/self/stat; echo "pid=$pid"; echo "capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"; echo END; exec sleep 3600`
	host := e.NewGroup(t, "hostpid")
	host.HostPID = true
	priv := e.ctr("priv", "sh", "-c", script)
	priv.Privileged = true
	host.Containers = []core.Container{priv, e.ctr("plain", "sh", "-c", script)}
	isolated := e.NewGroup(t, "isolated")
	isolated.Containers = []core.Container{e.ctr("plain", "sh", "-c", script)}
	e.start(t, host)
	e.start(t, isolated)

	const capSysAdmin = 21
	read := func(g *core.Group, ctr string) (pid int, sysAdmin bool) {
		out := e.WaitLogs(t, g.ID, ctr, "END", 10)
		vals := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vals[k] = v
			}
		}
		pid, err := strconv.Atoi(vals["pid"])
		caps, err2 := strconv.ParseUint(vals["capeff"], 16, 64)
		if err != nil || err2 != nil {
			t.Fatalf("%s/%s: unreadable output:\n%s", g.Name, ctr, out)
		}
		return pid, caps&(1<<capSysAdmin) != 0
	}
	for _, tc := range []struct {
		g          *core.Group
		ctr        string
		hostPID    bool
		privileged bool
	}{
		{host, "priv", true, true},
		{host, "plain", true, false},
		{isolated, "plain", false, false},
	} {
		pid, sysAdmin := read(tc.g, tc.ctr)
		if (pid != 1) != tc.hostPID {
			t.Errorf("%s/%s: shell has PID %d; HostPID %v", tc.g.Name, tc.ctr, pid, tc.hostPID)
		}
		if sysAdmin != tc.privileged {
			t.Errorf("%s/%s: CAP_SYS_ADMIN %v; privileged %v", tc.g.Name, tc.ctr, sysAdmin, tc.privileged)
		}
	}
}

// testHostPath: a HostPathVolume is the node's directory itself: a file the
// node put there is read in the container, a file the container writes
// through a read-write mount appears on the node, and a read-only mount of
// the same volume refuses writes.
func testHostPath(t *testing.T, e Env) {
	if e.NodeDir == nil {
		t.Fatal("the runtime's harness gives no directory of the node (Env.NodeDir): every runtime must, or HostPath is untested")
	}
	dir := e.NodeDir(t)
	if err := os.WriteFile(filepath.Join(dir, "from-node"), []byte("node-wrote-this\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := e.NewGroup(t, "hostpath")
	g.Volumes = []core.Volume{{Name: "host", Type: core.VolumeHostPath, HostPath: dir}}
	c := e.ctr("main", "sh", "-c", "cat /host/from-node; echo container-wrote-this > /host/from-container && echo rw-ok; "+
		"if echo x > /ro/denied 2>/dev/null; then echo ro-written; else echo ro-refused; fi; exec sleep 3600")
	c.VolumeMounts = []core.VolumeMount{{Name: "host", MountPath: "/host"}, {Name: "host", MountPath: "/ro", ReadOnly: true}}
	g.Containers = []core.Container{c}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "ro-", 20)
	for _, want := range []string{"node-wrote-this\n", "rw-ok\n", "ro-refused\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "from-container")); err != nil || string(b) != "container-wrote-this\n" {
		t.Errorf("the node's directory has %q (%v), want the container's file", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "denied")); err == nil {
		t.Error("a write through the read-only mount reached the node")
	}
}

// groupIP prints the group's IPv4 address (of its interface other than lo).
const groupIP = "ip -4 -o addr | grep -v ' lo ' | awk '{print $4}' | cut -d/ -f1"

// withWork mounts the EmptyDir volume work at /work.
func withWork(c core.Container) core.Container {
	c.VolumeMounts = []core.VolumeMount{{Name: "work", MountPath: "/work"}}
	return c
}

// terminated reports whether s is terminated with reason and exit code.
func terminated(s *core.ContainerState, reason string, code int) bool {
	return s != nil && s.State == core.StateTerminated && s.Reason == reason && s.ExitCode != nil && *s.ExitCode == code
}

// testInitContainers: two init containers run one after the other, to
// completion, before the container starts; they share the group's
// EmptyDir volume and network with it, and show terminated Completed.
func testInitContainers(t *testing.T, e Env) {
	g := e.NewGroup(t, "init")
	g.Volumes = []core.Volume{{Name: "work", Type: core.VolumeEmptyDir}}
	g.InitContainers = []core.Container{
		withWork(e.ctr("first", "sh", "-c", "sleep 1; echo first >> /work/order; "+groupIP+" > /work/ip")),
		withWork(e.ctr("second", "sh", "-c", "echo second >> /work/order")),
	}
	g.Containers = []core.Container{withWork(e.ctr("main", "sh", "-c",
		"echo order=$(cat /work/order | tr '\\n' ,); echo init-ip=$(cat /work/ip) my-ip=$("+groupIP+"); exec sleep 3600"))}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "my-ip=", 10)
	if !strings.Contains(out, "order=first,second,\n") {
		t.Errorf("the init containers did not run in order before main; main's log:\n%s", out)
	}
	var initIP, myIP string
	if _, err := fmt.Sscanf(strings.TrimSpace(out[strings.Index(out, "init-ip="):]), "init-ip=%s my-ip=%s", &initIP, &myIP); err != nil || initIP == "" || initIP != myIP {
		t.Errorf("init and main containers do not share the network (%v); main's log:\n%s", err, out)
	}
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		c := Container(s, "main")
		return s.Phase == core.PhaseRunning && c.Current != nil && c.Current.State == core.StateRunning
	})
	if len(st.InitContainers) != 2 || st.InitContainers[0].Name != "first" || st.InitContainers[1].Name != "second" {
		t.Fatalf("init containers in the status:\n%s", Dump(st))
	}
	for _, c := range st.InitContainers {
		if !terminated(c.Current, "Completed", 0) || c.RestartCount != 0 || c.Current.StartTime == nil || c.Current.FinishTime == nil {
			t.Errorf("init container %s: %s restarts=%d", c.Name, State(c.Current), c.RestartCount)
		}
	}
	if f, s := InitContainer(st, "first").Current, InitContainer(st, "second").Current; f.FinishTime != nil && s.StartTime != nil && s.StartTime.Before(f.FinishTime.Truncate(time.Second)) {
		t.Errorf("second started (%s) before first finished (%s)", s.StartTime, f.FinishTime)
	}
	for _, n := range []string{"first", "second", "main"} {
		if !HasEvent(st, "Started", "Started container "+n) {
			t.Errorf("no Started event of %s:\n%s", n, Dump(st))
		}
	}
}

// testInitFailsNever: under RestartPolicy Never an init container that
// fails ends the group Failed with its exit code; the init container
// after it and the container never run.
func testInitFailsNever(t *testing.T, e Env) {
	g := e.NewGroup(t, "init-fail")
	g.RestartPolicy = core.RestartNever
	g.InitContainers = []core.Container{e.ctr("setup", "sh", "-c", "echo setting-up; exit 3"), e.ctr("after", "true")}
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "echo main-ran; exec sleep 3600")}
	e.start(t, g)
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseFailed })
	if c := InitContainer(st, "setup"); !terminated(c.Current, "Error", 3) || c.RestartCount != 0 {
		t.Errorf("setup: %s restarts=%d\n%s", State(c.Current), c.RestartCount, Dump(st))
	}
	for _, c := range []core.ContainerStatus{InitContainer(st, "after"), Container(st, "main")} {
		if c.Current == nil || c.Current.State != core.StateWaiting {
			t.Errorf("%s ran after a failed init container:\n%s", c.Name, Dump(st))
		}
	}
	if !HasEvent(st, "Started", "Started container setup") || HasEvent(st, "Started", "Started container main") {
		t.Errorf("events:\n%s", Dump(st))
	}
	e.WaitLogs(t, g.ID, "setup", "setting-up", 10)
	time.Sleep(2 * time.Second) // nothing is retried later either
	if st, _ := e.Runtime.Status(context.Background(), g.ID); st.Phase != core.PhaseFailed || InitContainer(st, "setup").RestartCount != 0 {
		t.Errorf("after 2s:\n%s", Dump(st))
	}
}

// testInitRetried: under OnFailure a failing init container is retried
// (with the runtime's back-off: containerd's is lifecycle's, table-tested
// there; the kubelet may retry a first failure at once), the group stays
// Pending until it completed, and then the container runs. The retry
// shows as RestartCount 1 of the init container.
func testInitRetried(t *testing.T, e Env) {
	g := e.NewGroup(t, "init-retry")
	g.RestartPolicy = core.RestartOnFailure
	g.Volumes = []core.Volume{{Name: "work", Type: core.VolumeEmptyDir}}
	g.InitContainers = []core.Container{withWork(e.ctr("flaky", "sh", "-c",
		"if [ -e /work/tried ]; then echo second-try; exit 0; fi; touch /work/tried; echo first-try; exit 1"))}
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "echo main-ran; exec sleep 3600")}
	e.start(t, g)
	var early []string
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		c := InitContainer(s, "flaky")
		if !terminated(c.Current, "Completed", 0) && s.Phase != core.PhasePending && s.Phase != core.PhaseImagePulling {
			early = append(early, Dump(s))
		}
		m := Container(s, "main")
		return s.Phase == core.PhaseRunning && m.Current != nil && m.Current.State == core.StateRunning
	})
	if len(early) > 0 {
		t.Errorf("the group left Pending before its init container completed:\n%s", early[0])
	}
	if c := InitContainer(st, "flaky"); !terminated(c.Current, "Completed", 0) || c.RestartCount != 1 {
		t.Errorf("flaky: %s restarts=%d\n%s", State(c.Current), c.RestartCount, Dump(st))
	}
	if !HasEvent(st, "Started", "Started container flaky") || !HasEvent(st, "Started", "Started container main") {
		t.Errorf("events:\n%s", Dump(st))
	}
	e.WaitLogs(t, g.ID, "main", "main-ran", 10)
	e.WaitLogs(t, g.ID, "flaky", "second-try", 10)
}
