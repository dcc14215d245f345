package containerd

import (
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/testenv"
)

// TestCommandArgsEnv: Command and Args override the image's entrypoint and
// cmd as in Kubernetes; Env is merged over the image's; the image's
// working directory applies unless WorkingDir is set.
func TestCommandArgsEnv(t *testing.T) {
	e := newEnv(t)
	img := testenv.BusyboxImageWith(t, testenv.ImageConfig{
		Repo:       "openkci/cmdtest",
		Entrypoint: []string{"sh", "-c", `echo "ep [$0] $GREETING $KEEP $(pwd)"; trap 'exit 0' TERM; sleep 3600 & wait`},
		Cmd:        []string{"image-cmd"},
		Env:        []string{"GREETING=hi", "KEEP=kept"},
		WorkingDir: "/etc",
	})
	cidr, gw, ip, sid := subnet()
	g := e.group("cmds", ip(160), cidr, gw, sid,
		core.Container{Name: "default", Image: img},
		core.Container{Name: "args", Image: img, Args: []string{"my-arg"}, Env: []core.EnvVar{{Key: "GREETING", Value: "override"}}},
		core.Container{Name: "command", Image: img, Command: []string{"sh", "-c", `echo "cmd [$0] $KEEP $(pwd)"; trap 'exit 0' TERM; sleep 3600 & wait`}, WorkingDir: "/tmp"},
		core.Container{Name: "both", Image: img, Command: []string{"sh", "-c", `echo "both [$0]"; trap 'exit 0' TERM; sleep 3600 & wait`}, Args: []string{"x"}},
	)
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)
	for ctr, want := range map[string]string{
		"default": "ep [image-cmd] hi kept /etc\n",
		"args":    "ep [my-arg] override kept /etc\n",
		"command": "cmd [sh] kept /tmp\n",
		"both":    "both [x]\n",
	} {
		if out := e.waitLogs(g.ID, ctr, "[", 10*time.Second); !strings.Contains(out, want) {
			t.Errorf("%s printed %q, want %q", ctr, out, want)
		}
	}
}
