package containerd

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
)

// TestGPUDevices: a container given GPUs sees exactly its devices and the
// extra (driver) devices, at the host's paths, and can open them, with a
// cgroup rule allowing each; a container of the same group that asked for
// none, and a group holding the other GPU, see none of them. The GPUs are
// fake: character devices made with mknod in a temp dir (1:3, /dev/null's
// numbers, so writing to them is harmless).
func TestGPUDevices(t *testing.T) {
	dir := t.TempDir()
	dev := func(name string) string {
		p := filepath.Join(dir, name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatalf("mknod %s: %v", p, err)
		}
		return p
	}
	gpu0, gpu1, ctl := dev("gpu0"), dev("gpu1"), dev("gpuctl")

	e := newEnv(t)
	e.rt.Close()
	e.gpuExtra = []string{ctl}
	e.rt = e.newRuntime()
	cidr, gw, ip, sid := subnet()
	// Each container lists which of the three paths exist and writes to
	// each that does.
	probe := sleeper("for d in " + gpu0 + " " + gpu1 + " " + ctl + "; do if [ -e $d ]; then echo x > $d && echo OPENED $d; else echo ABSENT $d; fi; done; echo PROBED; ")
	a := e.group("gpu-a", ip(90), cidr, gw, sid,
		core.Container{Name: "gpu", Image: e.image, GPU: 1, GPUDevices: []string{gpu0}, Command: probe},
		core.Container{Name: "plain", Image: e.image, Command: probe})
	a.GPU = 1
	b := e.group("gpu-b", ip(91), cidr, gw, sid,
		core.Container{Name: "gpu", Image: e.image, GPU: 1, GPUDevices: []string{gpu1}, Command: probe})
	b.GPU = 1
	for _, g := range []*core.Group{a, b} {
		e.start(g)
		e.waitStatus(g.ID, 30*time.Second, allRunning)
	}
	for _, tc := range []struct {
		g      *core.Group
		ctr    string
		opened []string
	}{
		{a, "gpu", []string{gpu0, ctl}},
		{a, "plain", nil},
		{b, "gpu", []string{gpu1, ctl}},
	} {
		out := e.waitLogs(tc.g.ID, tc.ctr, "PROBED", 10*time.Second)
		for _, d := range []string{gpu0, gpu1, ctl} {
			want := "ABSENT " + d
			if slices.Contains(tc.opened, d) {
				want = "OPENED " + d
			}
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s/%s: want %q in:\n%s", tc.g.Name, tc.ctr, want, out)
			}
		}

		ctx := e.rt.nsCtx(context.Background())
		cont, err := e.rt.client.LoadContainer(ctx, ctrID(tc.g.ID, tc.ctr))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := cont.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, d := range spec.Linux.Devices {
			paths = append(paths, d.Path)
		}
		if !slices.Equal(paths, tc.opened) {
			t.Errorf("%s/%s: linux.devices %v, want %v", tc.g.Name, tc.ctr, paths, tc.opened)
		}
		rules := 0
		for _, r := range spec.Linux.Resources.Devices {
			if r.Allow && r.Type == "c" && r.Major != nil && *r.Major == 1 && r.Minor != nil && *r.Minor == 3 && r.Access == "rwm" {
				rules++
			}
		}
		if rules != len(tc.opened) {
			t.Errorf("%s/%s: %d cgroup rules allow rwm on 1:3 for the GPUs, want %d: %+v", tc.g.Name, tc.ctr, rules, len(tc.opened), spec.Linux.Resources.Devices)
		}
	}
}
