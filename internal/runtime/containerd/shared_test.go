package containerd

import (
	"sync/atomic"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/service"
)

// The service resolves host paths' symlinks before checking the policy's
// prefixes only when the runtime offers it (service.HostPathResolver).
var (
	_ service.HostPathResolver = (*Runtime)(nil)
	_ service.DiskMaker        = (*Runtime)(nil)
)

// TestSharedScenarios runs the scenario suite every runtime passes (the
// Kubernetes runtime runs the same one against a real cluster).
func TestSharedScenarios(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	var host atomic.Int32
	env := runtimetest.Env{
		Runtime: e.rt,
		Image:   e.image,
		NewGroup: func(t *testing.T, name string) *core.Group {
			return e.group(name, ip(int(10+host.Add(1))), cidr, gw, sid)
		},
		// The node is this machine.
		NodeDir: func(t *testing.T) string { return t.TempDir() },
	}
	runtimetest.Run(t, env)
	runtimetest.RunDisks(t, env)
}
