package e2e

import (
	"strings"
	"testing"
)

// TestInitContainers: the kcid binary on real containerd runs
// InitContainer.N before the container: a file the init container writes
// into an EmptyDir volume is what the container reads, Describe shows the
// init container in the InitContainers extension terminated Completed,
// and DescribeContainerLog serves its log by name.
func TestInitContainers(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetInit)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-init", subnet: subnetInit,
		script: "cat /work/msg; echo ==end; sleep 3600",
		extra: vals(
			"Volume.1.Name", "work",
			"Volume.1.Type", "EmptyDirVolume",
			"Container.1.VolumeMount.1.Name", "work",
			"Container.1.VolumeMount.1.MountPath", "/work",
			"InitContainer.1.Name", "prepare",
			"InitContainer.1.Image", e.image,
			"InitContainer.1.Command.1", "sh",
			"InitContainer.1.Command.2", "-c",
			"InitContainer.1.Command.3", "echo from-init > /work/msg; echo prepared",
			"InitContainer.1.VolumeMount.1.Name", "work",
			"InitContainer.1.VolumeMount.1.MountPath", "/work",
		),
	})
	g := waitGroup(t, k, c, id, runningTimeout, "Running", running)
	out := waitLog(t, k, c, id, "==end", logTimeout)
	if !strings.Contains(out, "from-init\n") {
		t.Errorf("the container did not read the init container's file; log:\n%s", out)
	}
	if len(g.InitContainers) != 1 || g.InitContainers[0].Name != "prepare" ||
		!g.InitContainers[0].CurrentState.is("terminated", "Completed") || !g.InitContainers[0].CurrentState.exitCode(0) {
		t.Errorf("InitContainers in Describe:\n%s", dump(g.InitContainers))
	}
	if !g.hasEvent("Started", "Started container prepare") {
		t.Errorf("no Started event of the init container:\n%s", dump(g.Events))
	}
	if l, err := logs(c, id, "prepare"); err != nil || l != "prepared\n" {
		t.Errorf("init container's log %q (%v), want %q", l, err, "prepared\n")
	}
}
