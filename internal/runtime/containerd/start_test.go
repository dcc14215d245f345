package containerd

import (
	"context"
	"os"
	"strings"
	"syscall"
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
	// The grace period is honoured (main ignores SIGTERM, so Remove cannot
	// finish before it); how much longer teardown takes on a loaded machine
	// is for the benchmarks, not a test.
	if took < 2*time.Second {
		t.Errorf("Remove took %v, less than the 2s grace period", took)
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
	e := newEnvLogMax(t, 32<<10)
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
	if total > 2*e.logMax {
		t.Errorf("logs take %d bytes, cap %d", total, e.logMax)
	}
	tail, _ := e.rt.Logs(context.Background(), g.ID, "c", 2)
	if tail != "line 10000 of the chatty container\nDONE\n" {
		t.Errorf("tail = %q", tail)
	}
}

// TestLogCapHard: a container writing as fast as it can (`yes`, one CPU)
// never takes more than twice LogMaxBytes on disk (the current file and
// one rotated file, each capped), while it keeps writing, and its tail is
// still readable.
func TestLogCapHard(t *testing.T) {
	e := newEnvLogMax(t, 1<<20)
	cidr, gw, ip, sid := subnet()
	g := e.group("yes", ip(141), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: []string{"yes"}})
	g.CPU, g.Memory = 1, 0.5
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	dir := e.rt.groupDir(g.ID) + "/logs"
	var peak, peakBlocks int64
	var rotations int
	var lastIno uint64
	start := time.Now()
	for time.Since(start) < 8*time.Second {
		var size, blocks int64
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			fi, err := ent.Info()
			if err != nil {
				continue
			}
			size += fi.Size()
			st := fi.Sys().(*syscall.Stat_t)
			blocks += st.Blocks * 512
			if ent.Name() == "c.log.1" && st.Ino != lastIno {
				rotations++
				lastIno = st.Ino
			}
		}
		peak, peakBlocks = max(peak, size), max(peakBlocks, blocks)
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("peak %d bytes (%d allocated) in %s with cap %d; %d rotations seen in %v (at least %.0f MB/s)",
		peak, peakBlocks, dir, e.logMax, rotations, time.Since(start), float64(rotations)*float64(e.logMax)/time.Since(start).Seconds()/1e6)
	if peak > 2*e.logMax || peakBlocks > 2*e.logMax+2*4096 {
		t.Errorf("logs took %d bytes (%d allocated), cap 2×%d", peak, peakBlocks, e.logMax)
	}
	if rotations < 2 {
		t.Errorf("only %d rotations seen: the container did not write fast", rotations)
	}
	if st := e.waitStatus(g.ID, time.Second, allRunning); st.Containers[0].RestartCount != 0 {
		t.Errorf("the writer restarted: %s", runtimetest.Dump(st))
	}
	if rss := loggerRSS(dir + "/c.log"); rss == "" {
		t.Errorf("no logging process writes %s/c.log", dir)
	} else {
		t.Logf("the logging process: %s", rss)
	}
	if tail, _ := e.rt.Logs(context.Background(), g.ID, "c", 3); tail != "y\ny\ny\n" {
		t.Errorf("tail = %q", tail)
	}
}

// loggerRSS finds the logging process writing path and returns its
// resident memory ("" if there is none).
func loggerRSS(path string) string {
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		cmd, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), "\x00"+path+"\x00") {
			continue
		}
		status, _ := os.ReadFile("/proc/" + ent.Name() + "/status")
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
	}
	return ""
}
