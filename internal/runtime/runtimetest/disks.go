package runtimetest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/service"
)

// RunDisks runs the scenarios of disks made on demand as subtests, for a
// runtime that is a service.DiskMaker.
func RunDisks(t *testing.T, e Env) {
	runScenarios(t, e, []scenario{
		{"DiskShared", testDiskShared},
		{"DiskKept", testDiskKept},
		{"DiskFull", testDiskFull},
	})
}

// diskMaker is the runtime's service.DiskMaker; the disk scenarios fail
// without one (every runtime makes disks on demand).
func (e Env) diskMaker(t *testing.T) service.DiskMaker {
	t.Helper()
	dm, ok := e.Runtime.(service.DiskMaker)
	if !ok {
		t.Fatalf("%T makes no disks on demand (service.DiskMaker)", e.Runtime)
	}
	return dm
}

// newDisk is a volume with a disk made on demand of sizeGB for g: its ID
// is derived from g's, as the service would give a fresh one. The Env's
// NewDiskStorage, if any, provides the storage behind it first.
func (e Env) newDisk(t *testing.T, g *core.Group, name string, sizeGB int, deleteWithInstance bool) core.Volume {
	t.Helper()
	if e.NewDiskStorage != nil {
		e.NewDiskStorage(t, sizeGB)
	}
	id := "d-" + strings.ToLower(g.ID) + "-" + name
	return core.Volume{Name: name, Type: core.VolumeEBS, EBS: &core.EBSVolume{
		VolumeID: id, FsType: "ext4", SizeGB: sizeGB, Type: "SSD3.0", DeleteWithInstance: deleteWithInstance}}
}

// disk returns the runtime's record of disk id of the account, ok false
// if it lists none.
func (e Env) disk(t *testing.T, account, id string) (core.Disk, bool) {
	t.Helper()
	ds, err := e.diskMaker(t).Disks(context.Background(), account)
	if err != nil {
		t.Fatalf("Disks(%s): %v", account, err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d, true
		}
	}
	return core.Disk{}, false
}

// remove removes g now (its cleanup's Remove then finds nothing).
func (e Env) remove(t *testing.T, g *core.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.Runtime.Remove(ctx, g); err != nil {
		t.Fatalf("Remove %s: %v", g.Name, err)
	}
}

// removeDeletesDisk removes g, which mounts disk id with
// DeleteWithInstance, and checks the disk went with it.
func (e Env) removeDeletesDisk(t *testing.T, g *core.Group, id string) {
	t.Helper()
	e.remove(t, g)
	if d, ok := e.disk(t, g.AccountID, id); ok {
		t.Errorf("disk %s outlived group %s, which mounted it with DeleteWithInstance: %+v", id, g.Name, d)
	}
}

// testDiskShared: a disk made on demand is one file system of the size
// asked for, mounted in both containers that name it: what one writes the
// other reads. With DeleteWithInstance the runtime no longer lists it
// once the group is removed.
func testDiskShared(t *testing.T, e Env) {
	g := e.NewGroup(t, "disk-shared")
	g.Volumes = []core.Volume{e.newDisk(t, g, "data", 1, true)}
	mount := []core.VolumeMount{{Name: "data", MountPath: "/data"}}
	writer := e.ctr("writer", "sh", "-c", "echo written-by-writer > /data/note && echo wrote; exec sleep 3600")
	writer.VolumeMounts = mount
	reader := e.ctr("reader", "sh", "-c", "until [ -s /data/note ]; do sleep 0.2; done; echo read=$(cat /data/note); "+
		"df -k /data | tail -n 1 | awk '{print \"kib=\" $2}'; exec sleep 3600")
	reader.VolumeMounts = mount
	g.Containers = []core.Container{writer, reader}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "reader", "kib=", 10)
	if !strings.Contains(out, "read=written-by-writer\n") {
		t.Errorf("the reader did not read the writer's file; its log:\n%s", out)
	}
	kib, err := strconv.Atoi(strings.TrimSpace(out[strings.Index(out, "kib=")+4:]))
	// ext4's own metadata takes a few percent of the 1 GiB.
	if err != nil || kib > 1<<20 || kib < 900<<10 {
		t.Errorf("the disk's file system has %d KiB (%v), want a little under 1 GiB; log:\n%s", kib, err, out)
	}
	id := g.Volumes[0].EBS.VolumeID
	d, ok := e.disk(t, g.AccountID, id)
	if !ok || d.GroupID != g.ID || d.SizeGB != 1 || d.Type != "SSD3.0" || d.Zone != g.Zone {
		t.Errorf("Disks lists %+v (listed %v), want disk %s of 1 GB SSD3.0 used by %s in %s", d, ok, id, g.ID, g.Zone)
	}
	if _, ok := e.disk(t, "someone-else", id); ok {
		t.Errorf("Disks of another account lists disk %s", id)
	}
	e.removeDeletesDisk(t, g, id)
}

// testDiskKept: a disk made with DeleteWithInstance false outlives its
// group, listed with no user, and a later group of the account mounts it
// by ID with its data; deleted with that group when it asks so.
func testDiskKept(t *testing.T, e Env) {
	first := e.NewGroup(t, "disk-keep")
	first.RestartPolicy = core.RestartNever
	vol := e.newDisk(t, first, "data", 1, false)
	first.Volumes = []core.Volume{vol}
	c := e.ctr("main", "sh", "-c", "echo kept-data > /data/kept && sync && echo stored")
	c.VolumeMounts = []core.VolumeMount{{Name: "data", MountPath: "/data"}}
	first.Containers = []core.Container{c}
	e.start(t, first)
	e.WaitStatus(t, first.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseSucceeded })
	e.remove(t, first)
	id := vol.EBS.VolumeID
	d, ok := e.disk(t, first.AccountID, id)
	if !ok || d.GroupID != "" {
		t.Fatalf("after its group: Disks lists %+v (listed %v), want disk %s kept with no group", d, ok, id)
	}

	second := e.NewGroup(t, "disk-mount")
	second.AccountID = first.AccountID
	second.Zone = first.Zone
	second.Volumes = []core.Volume{{Name: "old", Type: core.VolumeEBS, EBS: &core.EBSVolume{
		VolumeID: id, FsType: "ext4", SizeGB: d.SizeGB, Type: d.Type, DeleteWithInstance: true}}}
	c = e.ctr("main", "sh", "-c", "echo found=$(cat /old/kept); exec sleep 3600")
	c.VolumeMounts = []core.VolumeMount{{Name: "old", MountPath: "/old"}}
	second.Containers = []core.Container{c}
	e.start(t, second)
	e.WaitLogs(t, second.ID, "main", "found=kept-data", 10)
	if d, ok := e.disk(t, first.AccountID, id); !ok || d.GroupID != second.ID {
		t.Errorf("Disks lists %+v (listed %v), want disk %s used by %s", d, ok, id, second.ID)
	}
	e.removeDeletesDisk(t, second, id)
}

// testDiskFull: the size is enforced: writing past it fails with ENOSPC
// in the container (fallocate takes most of the space without writing
// it, so the test writes little).
func testDiskFull(t *testing.T, e Env) {
	g := e.NewGroup(t, "disk-full")
	g.RestartPolicy = core.RestartNever
	g.Volumes = []core.Volume{e.newDisk(t, g, "data", 1, true)}
	c := e.ctr("main", "sh", "-c", "fallocate -l 900M /data/most && echo allocated; "+
		"dd if=/dev/zero of=/data/more bs=1M count=200 2>&1; echo dd-exit=$?; ls -l /data")
	c.VolumeMounts = []core.VolumeMount{{Name: "data", MountPath: "/data"}}
	g.Containers = []core.Container{c}
	e.start(t, g)
	out := e.WaitLogs(t, g.ID, "main", "dd-exit=", 100)
	if !strings.Contains(out, "allocated\n") || !strings.Contains(out, "No space left on device") || strings.Contains(out, "dd-exit=0\n") {
		t.Errorf("writing 1.1 GiB to a 1 GB disk did not fail with ENOSPC; log:\n%s", out)
	}
}
