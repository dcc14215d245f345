package containerd

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/pkg/kci"
)

// TestGPUDevices: a container given GPUs sees exactly its devices and the
// extra (driver) devices, at the host's paths, and can open them, with a
// cgroup rule allowing each; a container of the same group that asked for
// none, and a group holding the other GPU, see none of them. The GPUs are
// fake: character devices made with mknod in a temp dir (1:3, /dev/null's
// numbers, so writing to them is harmless).
func TestGPUDevices(t *testing.T) {
	dir := t.TempDir()
	gpu0, gpu1, ctl := testenv.FakeGPU(t, dir, "gpu0"), testenv.FakeGPU(t, dir, "gpu1"), testenv.FakeGPU(t, dir, "gpuctl")

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

// TestGPUsOverHTTP: GPUs through kcid's API on real containerd, with fake
// GPUs (mknod, 1:3): a group's container gets the first free one and sees
// only it; a group asking for more than are free is refused 409 and
// creates nothing; the next group gets the other GPU, and the first one's
// is free again once that group is deleted.
func TestGPUsOverHTTP(t *testing.T) {
	dir := t.TempDir()
	gpus := []string{testenv.FakeGPU(t, dir, "gpu0"), testenv.FakeGPU(t, dir, "gpu1")}
	k := startAPIKcid(t, "-g", "node: {cpu: 16, memory: 32, gpus: {type: fake, devices: ["+gpus[0]+", "+gpus[1]+"]}}\n")
	ctx := context.Background()
	script := "for d in " + gpus[0] + " " + gpus[1] + "; do if [ -e $d ]; then echo x > $d && echo OPENED $d; else echo ABSENT $d; fi; done; echo PROBED; sleep 3600"
	req := func(name string, gpu int) *kci.CreateContainerGroupRequest {
		return &kci.CreateContainerGroupRequest{
			ContainerGroupName: name, SubnetID: k.subnet, SecurityGroupIDs: []string{"sg-exec-a"},
			CPU: 1, Memory: 1, RestartPolicy: kci.RestartNever,
			ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: k.reg.Host, Username: k.reg.Username, Password: k.reg.Password}},
			Containers:               []kci.Container{{InitContainer: kci.InitContainer{Name: "main", Image: k.image, Command: []string{"sh", "-c", script}}, GPU: gpu}},
		}
	}
	create := func(name string, gpu int) string {
		t.Helper()
		resp, err := k.a.CreateContainerGroup(ctx, req(name, gpu))
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		t.Cleanup(func() { k.deleteAndWait(resp.ContainerGroupID) })
		return resp.ContainerGroupID
	}
	sees := func(id string, gpu string) {
		t.Helper()
		var out string
		for deadline := time.Now().Add(90 * time.Second); !strings.Contains(out, "PROBED"); time.Sleep(200 * time.Millisecond) {
			resp, err := k.a.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: id, ContainerName: "main"})
			if err == nil {
				out = resp.Content
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s never probed its devices (last %v): %q", id, err, out)
			}
		}
		for _, d := range gpus {
			want := "ABSENT " + d
			if d == gpu {
				want = "OPENED " + d
			}
			if !strings.Contains(out, want+"\n") {
				t.Errorf("group %s: want %q in:\n%s", id, want, out)
			}
		}
	}

	a := create("gpu-a", 1)
	sees(a, gpus[0])
	resp, err := k.a.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{a}})
	if err != nil || len(resp.ContainerGroups) != 1 {
		t.Fatalf("describe: %v", err)
	}
	if g := resp.ContainerGroups[0]; g.GPU != 1 || g.Containers[0].GPU == nil || *g.Containers[0].GPU != 1 {
		t.Errorf("Describe: group Gpu %v, container Gpu %v; want 1 and 1", g.GPU, g.Containers[0].GPU)
	}

	_, err = k.a.CreateContainerGroup(ctx, req("gpu-too-many", 2))
	var ae *kci.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Code != "InsufficientResource" ||
		!strings.Contains(ae.Message, "1 of this node's 2 GPUs are in use (by container groups "+a+")") {
		t.Fatalf("create of 2 GPUs with 1 free: %v; want 409 InsufficientResource saying 1 of 2 is in use by %s", err, a)
	}

	b := create("gpu-b", 1)
	sees(b, gpus[1])
	k.deleteAndWait(a)
	c := create("gpu-c", 1)
	sees(c, gpus[0])
}
