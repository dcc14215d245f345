package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// pluginExec runs CNI plugins like libcni's default, but a plugin dies with
// kcid: a plugin left running by a SIGKILLed kcid would otherwise finish an
// ADD (bridge, iptables NAT rules) after the next kcid had already torn the
// group down, and leak what it added.
type pluginExec struct {
	version.PluginDecoder
}

var _ invoke.Exec = &pluginExec{}

func (*pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, pluginPath)
	c.Env = environ
	c.Stdin = bytes.NewReader(stdin)
	c.Stdout, c.Stderr = &stdout, &stderr
	// The death signal follows the thread that forked the plugin, so that
	// thread stays with this call until the plugin has exited.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err := c.Run()
	runtime.UnlockOSThread()
	if err == nil {
		return stdout.Bytes(), nil
	}
	// Plugins report failures as a CNI error on stdout.
	var e types.Error
	switch {
	case stdout.Len() > 0 && json.Unmarshal(stdout.Bytes(), &e) == nil && e.Msg != "":
		return nil, &e
	case stderr.Len() > 0:
		return nil, &types.Error{Msg: fmt.Sprintf("netplugin failed: %q: %v", stderr.String(), err)}
	}
	return nil, &types.Error{Msg: fmt.Sprintf("netplugin failed with no error message: %v", err)}
}

func (*pluginExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}
