package containerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// privateContainerd runs a containerd of the test's own, so that it can be
// killed and restarted without disturbing other tests on the system one.
type privateContainerd struct {
	t    *testing.T
	dir  string
	sock string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
}

func startPrivateContainerd(t *testing.T) *privateContainerd {
	t.Helper()
	dir, err := os.MkdirTemp("", "kcictd-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privateContainerd{t: t, dir: dir, sock: filepath.Join(dir, "c.sock")}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), p.sock, p.sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(p.cleanup)
	return p
}

func (p *privateContainerd) start() {
	p.t.Helper()
	log, err := os.OpenFile(filepath.Join(p.dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	p.cmd = exec.Command("containerd", "--config", filepath.Join(p.dir, "config.toml"))
	p.cmd.Stdout, p.cmd.Stderr = log, log
	// Its own process group: the shims it starts must survive its death.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(p.cmd, p.done)
	for i := 0; i < 300; i++ {
		if _, err := testenv.CtrE(p.sock, "default", "version"); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("private containerd did not start")
}

func (p *privateContainerd) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *privateContainerd) cleanup() {
	testenv.CleanNamespace(p.sock, testNS)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	for _, m := range testenv.MountsUnderDir(p.dir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	_ = os.RemoveAll(p.dir)
}

// TestContainerdRestart: killing containerd (-9) and starting it again
// leaves the group running; the worker watches its tasks again and still
// applies the restart policy.
func TestContainerdRestart(t *testing.T) {
	e := newEnv(t)
	pc := startPrivateContainerd(t)
	e.addr = pc.sock
	e.rt.Close()
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	g := e.group("survivor", ip(110), cidr, gw, sid,
		core.Container{Name: "c", Image: e.image, Command: sleeper("echo up; ")})
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)

	pc.kill()
	time.Sleep(time.Second)
	if err := ping(ip(110)); err != nil {
		t.Errorf("group unreachable while containerd is down: %v", err)
	}
	pc.start()
	time.Sleep(time.Second)
	st := e.waitStatus(g.ID, 10*time.Second, allRunning)
	if st.Containers[0].RestartCount != 0 {
		t.Fatalf("restarted: %s", runtimetest.Dump(st))
	}
	// The worker watches the task again: an exit is seen and restarted.
	testenv.Ctr(t, pc.sock, testNS, "tasks", "kill", "-s", "KILL", ctrID(g.ID, "c"))
	st = e.waitStatus(g.ID, 20*time.Second, func(s core.GroupStatus) bool {
		return allRunning(s) && s.Containers[0].RestartCount == 1
	})
	if out, _ := e.rt.Logs(context.Background(), g.ID, "c", 0); strings.Count(out, "up\n") != 2 {
		t.Errorf("logs: %q", out)
	}
	if err := e.rt.Remove(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	e.assertGone(g.ID)
}
