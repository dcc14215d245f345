package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostPathVolume: the kcid binary on real containerd mounts a
// HostPathVolume under the account's prefix of policy.hostPathPrefixes (a
// node file read in the container, a container file written back), and
// refuses with 400 naming the field a path under the prefix whose symbolic
// link leads out of it, resolved in the real file system.
func TestHostPathVolume(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	root := t.TempDir()
	allowed, outside := filepath.Join(root, "allowed"), filepath.Join(root, "outside")
	for _, d := range []string{filepath.Join(allowed, "data"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(allowed, "data", "from-node"), []byte("node-wrote-this\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	k := startKcidWith(t, e, "policy:\n  hostPathPrefixes:\n    \"*\": ["+allowed+"]\n", subnetHostPath)
	c := newClient(k)
	mount := func(p string) groupSpec {
		return groupSpec{
			name: "e2e-hostpath", subnet: subnetHostPath,
			script: "cat /host/from-node; echo container-wrote-this > /host/from-container; echo ==end; sleep 3600",
			extra: vals(
				"Volume.1.Name", "host",
				"Volume.1.Type", "HostPathVolume",
				"Volume.1.HostPathVolume.Path", p,
				"Container.1.VolumeMount.1.Name", "host",
				"Container.1.VolumeMount.1.MountPath", "/host",
			),
		}
	}
	// Refused first: the symlink out of the prefix.
	bad := mount(filepath.Join(allowed, "escape"))
	p := vals("ContainerGroupName", bad.name, "SubnetId", subnetHostPath, "SecurityGroupId.1", sgID,
		"ChargeType", "HourlyInstantSettlement", "Cpu", "0.5", "Memory", "0.5",
		"Container.1.Name", ctrName, "Container.1.Image", e.image)
	for k, v := range bad.extra {
		p[k] = v
	}
	err := c.call("CreateContainerGroup", p, nil)
	if ae, ok := err.(*apiError); !ok || ae.Status != 400 || ae.Code != "InvalidParameterValue" ||
		!strings.Contains(ae.Message, "Volume.N.HostPathVolume.Path") || !strings.Contains(ae.Message, "symbolic link") {
		t.Fatalf("create through a symlink out of the prefix: %v; want 400 InvalidParameterValue naming Volume.N.HostPathVolume.Path", err)
	}

	id := createGroup(t, e, c, mount(filepath.Join(allowed, "data")))
	waitGroup(t, k, c, id, runningTimeout, "Running", running)
	out := waitLog(t, k, c, id, "==end", logTimeout)
	if !strings.Contains(out, "node-wrote-this\n") {
		t.Errorf("the node's file is not in the container; log:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(allowed, "data", "from-container")); err != nil || string(b) != "container-wrote-this\n" {
		t.Errorf("the node's directory has %q (%v), want the container's file", b, err)
	}
}
