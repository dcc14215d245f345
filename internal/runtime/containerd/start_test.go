package containerd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
)

// TestStartLogsRemove runs a two-container group from the private registry
// and checks command/args/env/workdir, resolv.conf, /etc/hosts, the MAC,
// Status, Logs with tail, host reachability and that Remove leaves nothing.
func TestStartLogsRemove(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("web-1", ip(10), cidr, gw, sid,
		core.Container{
			Name:            "main",
			Image:           e.image,
			ImagePullPolicy: "Always",
			Command:         []string{"sh", "-c"},
			Args:            []string{`echo out-$FOO; echo err-line >&2; pwd; cat /sys/class/net/eth0/address; cat /etc/resolv.conf; cat /etc/hosts; hostname; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; stat -c 'masked=%t:%T' /proc/keys; for i in $(seq 1 50); do echo line-$i; done; exec sleep 3600`},
			Env:             []core.EnvVar{{Key: "FOO", Value: "bar"}},
			WorkingDir:      "/tmp",
		},
		core.Container{
			Name:  "side",
			Image: e.image,
			Args:  []string{"sh", "-c", "echo side-up; trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done"},
		},
	)
	g.DNS = &core.DNSConfig{NameServers: []string{"10.0.0.53"}, Searches: []string{"svc.local"}, Options: []core.DNSOption{{Name: "ndots", Value: "2"}}}
	g.HostAliases = []core.HostAlias{{IP: "10.9.9.9", Hostnames: []string{"alias-a", "alias-b"}}}

	start := time.Now()
	e.start(g)
	st := e.waitStatus(g.ID, 60*time.Second, allRunning)
	t.Logf("Start to Running (pull included): %v", time.Since(start))
	for _, want := range []string{"Pulling image `" + e.image + "`", "Successfully pulled image `" + e.image + "`"} {
		if !hasEvent(st, "Pulling", want) && !hasEvent(st, "Pulled", want) {
			t.Errorf("missing event %q:\n%s", want, runtimetest.Dump(st))
		}
	}
	if !hasEvent(st, "Started", "main") || !hasEvent(st, "Created", "side") {
		t.Errorf("missing Created/Started events:\n%s", runtimetest.Dump(st))
	}

	out := e.waitLogs(g.ID, "main", "line-50", 10*time.Second)
	for _, want := range []string{
		"out-bar\n", "err-line\n", "/tmp\n", strings.ToLower(g.Network.MAC) + "\n",
		"nameserver 10.0.0.53\n", "search svc.local\n", "options ndots:2\n",
		ip(10) + "\tweb-1\n", "10.9.9.9\talias-a\talias-b\n", "\nweb-1\n",
		// Unprivileged: containerd's default capabilities, seccomp filter,
		// no-new-privileges, masked paths.
		"NoNewPrivs:\t1\n", "Seccomp:\t2\n", "CapEff:\t00000000a80425fb\n", "masked=1:3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("main's log lacks %q:\n%s", want, out)
		}
	}
	tail, err := e.rt.Logs(context.Background(), g.ID, "main", 3)
	if err != nil {
		t.Fatal(err)
	}
	// stdout and stderr reach the log through two pipes: each stream keeps
	// its order, their interleaving is as the shim read them.
	if strings.Replace(tail, "err-line\n", "", 1) != "line-48\nline-49\nline-50\n" && tail != "line-48\nline-49\nline-50\n" {
		t.Errorf("tail 3 = %q", tail)
	}
	e.waitLogs(g.ID, "side", "side-up", 10*time.Second)
	if _, err := e.rt.Logs(context.Background(), g.ID, "nope", 3); err == nil {
		t.Errorf("Logs of an unknown container succeeded")
	}

	if err := ping(ip(10)); err != nil {
		t.Errorf("host cannot reach the group: %v", err)
	}

	// A second group on the cached image starts fast.
	g2 := e.group("web-2", ip(11), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	start = time.Now()
	e.start(g2)
	e.waitStatus(g2.ID, 30*time.Second, allRunning)
	t.Logf("Start to Running, cached image: %v", time.Since(start))

	// Remove: side exits on SIGTERM; main (sleep as pid 1 ignores TERM) is
	// killed after the grace period.
	start = time.Now()
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("Remove took %v", took)
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("Remove took %v, want about the 2s grace period", took)
	}
	if _, err := e.rt.Status(context.Background(), g.ID); err == nil {
		t.Errorf("Status after Remove succeeded")
	}
	e.assertGone(g.ID)
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if err := e.rt.Remove(context.Background(), g2); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g2.ID)
}

// TestLogRotation: a chatty container's log stays capped and its tail is
// still the last lines.
func TestLogRotation(t *testing.T) {
	e := newEnv(t)
	e.rt.Close()
	e.logMax = 32 << 10
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	g := e.group("chatty", ip(140), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command: sleeper("i=0; while [ $i -lt 10000 ]; do i=$((i+1)); echo \"line $i of the chatty container\"; done; echo DONE; ")})
	e.start(g)
	e.waitLogs(g.ID, "c", "DONE", 120*time.Second) // a shell loop on a loaded 2-core machine
	time.Sleep(3 * logCheckInterval)
	var total int64
	for _, f := range []string{"", ".1"} {
		if fi, err := os.Stat(e.rt.groupDir(g.ID) + "/logs/c.log" + f); err == nil {
			total += fi.Size()
		}
	}
	if total > 4*e.logMax {
		t.Errorf("logs take %d bytes, cap %d", total, e.logMax)
	}
	tail, _ := e.rt.Logs(context.Background(), g.ID, "c", 2)
	if tail != "line 10000 of the chatty container\nDONE\n" {
		t.Errorf("tail = %q", tail)
	}
}
