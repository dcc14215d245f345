package containerd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// Environment of the crash helper: the test binary re-executed as a
// stand-in kcid that is killed with SIGKILL at some point.
const (
	helperEnv     = "KCIRT_CRASH_HELPER" // group JSON file
	helperDataEnv = "KCIRT_CRASH_DATA"
	helperAddrEnv = "KCIRT_CRASH_ADDR"
	helperNSEnv   = "KCIRT_CRASH_NS"
	helperRemove  = "KCIRT_CRASH_REMOVE"  // "1": Remove once running
	helperStopAt  = "KCIRT_CRASH_STOP_AT" // a teardown step to stop at
	helperRunc    = "KCIRT_CRASH_RUNC"    // testRuncBinary
)

// crashHelper starts a group and reports progress on stdout, then waits to
// be killed.
func crashHelper() {
	b, err := os.ReadFile(os.Getenv(helperEnv))
	if err != nil {
		panic(err)
	}
	var g core.Group
	if err := json.Unmarshal(b, &g); err != nil {
		panic(err)
	}
	testRuncBinary = os.Getenv(helperRunc)
	rt, err := New(Config{
		Address: os.Getenv(helperAddrEnv), Namespace: os.Getenv(helperNSEnv),
		DataDir: os.Getenv(helperDataEnv), StopGrace: 5 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	if step := os.Getenv(helperStopAt); step != "" {
		// Stop at the step, say so, and wait for the SIGKILL.
		testHookStep = func(_, s string) error {
			if s == step {
				fmt.Println("AT " + step)
				select {}
			}
			return nil
		}
	}
	ctx := context.Background()
	if err := rt.Start(ctx, &g); err != nil {
		panic(err)
	}
	fmt.Println("STARTED")
	if os.Getenv(helperRemove) == "1" {
		for {
			st, err := rt.Status(ctx, g.ID)
			if err == nil && allRunning(st) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("REMOVING")
		_ = rt.Remove(ctx, &g)
		fmt.Println("REMOVED")
	}
	select {}
}

// TestCrashLeavesNoOrphan kills a stand-in kcid (SIGKILL) at several points
// of creating and of removing a group; a new runtime's Sync without the
// group then leaves nothing of it behind.
func TestCrashLeavesNoOrphan(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	type crash struct {
		remove bool
		after  time.Duration // after STARTED, or after REMOVING
	}
	// The stand-ins use e's data dir and namespace: e's runtime must let go
	// of the host first (two runtimes cannot share a namespace).
	e.rt.Close()
	crashes := []crash{{false, 0}, {false, 20 * time.Millisecond}, {false, 60 * time.Millisecond},
		{false, 150 * time.Millisecond}, {true, 0}, {true, 50 * time.Millisecond}, {true, 2500 * time.Millisecond}}
	var ids []string
	for i, c := range crashes {
		g := e.group(fmt.Sprintf("crash%d", i), ip(130+i), cidr, gw, sid,
			core.Container{Name: "c", Image: e.image, Command: []string{"sleep", "3600"}})
		ids = append(ids, g.ID)
		env := []string{}
		if c.remove {
			env = append(env, helperRemove+"=1")
		}
		cmd, out := e.startStandIn(g, env...)
		want := "STARTED"
		if c.remove {
			want = "REMOVING"
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), want) {
		}
		time.Sleep(c.after)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	// The stand-in's data dir is e's: the new runtime finds its leftovers.
	e.rt = e.newRuntime()
	start := time.Now()
	if err := e.rt.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("Sync removed %d crashed groups in %v", len(ids), time.Since(start))
	for _, id := range ids {
		e.assertGone(id)
	}
}

// TestLogsFlowWhileKcidKilled: a container's output keeps being written to
// its log while kcid is dead (SIGKILL of a stand-in kcid), and none of it
// is lost: the next runtime's Logs shows every line, in order.
func TestLogsFlowWhileKcidKilled(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	e.rt.Close() // the stand-in takes the host
	g := e.group("ticker", ip(138), cidr, gw, sid, core.Container{Name: "c", Image: e.image,
		Command: []string{"sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.02; done"}})
	b, _ := json.Marshal(g)
	f := filepath.Join(t.TempDir(), "group.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+f, helperDataEnv+"="+e.dataDir, helperAddrEnv+"="+e.addr, helperNSEnv+"="+testNS)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for sc := bufio.NewScanner(out); sc.Scan() && !strings.Contains(sc.Text(), "STARTED"); {
	}
	logFile := filepath.Join(e.rt.groupDir(g.ID), logsDir, "c.log")
	size := func() int64 {
		fi, err := os.Stat(logFile)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	for deadline := time.Now().Add(60 * time.Second); size() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container never logged")
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	atKill := size()
	time.Sleep(time.Second)
	if grown := size() - atKill; grown < 100 {
		t.Errorf("the log grew by %d bytes in the second after kcid was killed", grown)
	}

	e.rt = e.newRuntime()
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
	if err := e.rt.Sync(context.Background(), []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(g.ID, 10*time.Second, allRunning)
	logs, err := e.rt.Logs(context.Background(), g.ID, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(logs)
	for i, l := range lines {
		if l != fmt.Sprintf("tick-%d", i+1) {
			t.Fatalf("line %d of %d is %q: output lost or reordered around the kill", i+1, len(lines), l)
		}
	}
	t.Logf("%d lines, %d of them written while kcid was dead or restarting", len(lines), len(lines)-strings.Count(string(mustRead(t, logFile)[:atKill]), "\n"))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startStandIn starts the crash helper, a stand-in kcid on e's data dir
// and namespace, with group g and the extra environment; it returns the
// process and its stdout.
func (e *env) startStandIn(g *core.Group, extraEnv ...string) (*exec.Cmd, io.Reader) {
	e.t.Helper()
	b, _ := json.Marshal(g)
	f := filepath.Join(e.t.TempDir(), "group.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+f, helperDataEnv+"="+e.dataDir,
		helperAddrEnv+"="+e.addr, helperNSEnv+"="+testNS)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, out
}
