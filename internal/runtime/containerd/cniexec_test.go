package containerd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPluginDiesWithKcid: a CNI plugin running when kcid is SIGKILLed dies
// too, instead of finishing its ADD behind the next kcid's back.
func TestPluginDiesWithKcid(t *testing.T) {
	if dir := os.Getenv("KCI_TEST_PLUGIN_PARENT"); dir != "" {
		// The stand-in kcid: run a "plugin" that records its pid and hangs.
		_, _ = (&pluginExec{}).ExecPlugin(context.Background(), filepath.Join(dir, "plugin"), nil, nil)
		os.Exit(0)
	}
	dir := t.TempDir()
	plugin := "#!/bin/sh\necho $$ > " + filepath.Join(dir, "pid") + "\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(dir, "plugin"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestPluginDiesWithKcid$")
	parent.Env = append(os.Environ(), "KCI_TEST_PLUGIN_PARENT="+dir)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("plugin never started")
		}
	}
	_ = parent.Process.Kill()
	_ = parent.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// Gone, or a zombie waiting for init to reap it.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d outlived its kcid", pid)
		}
	}
}
