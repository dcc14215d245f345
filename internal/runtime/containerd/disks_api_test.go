package containerd

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

// TestDisksOverHTTP: disks made on demand through the API, with the
// typed models of pkg/kci, on real containerd: DataDisk.N makes a disk
// that Describe shows with its VolumeId; kept after its group, it is
// mounted by a later group of the account with its data, never by another
// account's, and not by two groups at once; DeleteWithInstance removes
// it with that group. Bad sizes, types and counts are refused naming the
// wire field, and create nothing.
func TestDisksOverHTTP(t *testing.T) {
	k := startAPIKcid(t, "-d", "onDemandDisks: {maxSizeGb: 20, maxPerAccount: 2}\n")
	ctx := context.Background()
	const account = "2000000001"
	req := func(name string, mount string, script string) *kci.CreateContainerGroupRequest {
		return &kci.CreateContainerGroupRequest{
			ContainerGroupName: name, SubnetID: k.subnet, SecurityGroupIDs: []string{"sg-exec-a"},
			CPU: 1, Memory: 1, RestartPolicy: kci.RestartNever,
			ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: k.reg.Host, Username: k.reg.Username, Password: k.reg.Password}},
			Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "main", Image: k.image, Command: []string{"sh", "-c", script},
				VolumeMounts: []kci.VolumeMount{{Name: mount, MountPath: "/data"}}}}},
		}
	}
	describe := func(c *kci.Client, id string) kci.ContainerGroup {
		t.Helper()
		resp, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{id}})
		if err != nil || len(resp.ContainerGroups) != 1 {
			t.Fatalf("describe %s: %v (%d groups)", id, err, len(resp.ContainerGroups))
		}
		return resp.ContainerGroups[0]
	}
	create := func(r *kci.CreateContainerGroupRequest) string {
		t.Helper()
		resp, err := k.a.CreateContainerGroup(ctx, r)
		if err != nil {
			t.Fatalf("create %s: %v", r.ContainerGroupName, err)
		}
		t.Cleanup(func() { k.deleteAndWait(resp.ContainerGroupID) })
		return resp.ContainerGroupID
	}
	waitLog := func(id, want string) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			resp, err := k.a.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: id, ContainerName: "main"})
			if err == nil && strings.Contains(resp.Content, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s never logged %q (last %v: %+v)", id, want, err, resp)
			}
		}
	}
	refused := func(c *kci.Client, r *kci.CreateContainerGroupRequest, status int, code, param string) {
		t.Helper()
		_, err := c.CreateContainerGroup(ctx, r)
		var ae *kci.APIError
		if !errors.As(err, &ae) || ae.StatusCode != status || ae.Code != code || !strings.Contains(ae.Message, param) {
			t.Fatalf("create %s: %v; want %d %s naming %s", r.ContainerGroupName, err, status, code, param)
		}
	}
	disks := func() int {
		t.Helper()
		ds, err := k.rt.Disks(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}

	// A DataDisk kept after its group.
	first := req("disk-first", "data", "echo kept-over-http > /data/file && sync && echo stored")
	first.DataDisks = []kci.DataDisk{{VolumeName: "data", Type: kci.DiskTypeSSD, Size: 10}}
	id1 := create(first)
	waitLog(id1, "stored")
	var diskID string
	for _, v := range describe(k.a, id1).Volumes {
		if v.Name == "data" && v.Type == kci.VolumeEBS && v.EBSVolume != nil {
			if v.EBSVolume.FsType != "ext4" || v.EBSVolume.Size != 10 || v.EBSVolume.Type != kci.DiskTypeSSD || v.EBSVolume.DeleteWithInstance {
				t.Errorf("Describe shows the data disk as %+v", *v.EBSVolume)
			}
			diskID = v.EBSVolume.VolumeID
		}
	}
	if diskID == "" {
		t.Fatalf("Describe shows no EBSVolume for DataDisk data: %+v", describe(k.a, id1).Volumes)
	}
	k.deleteAndWait(id1)
	if n := disks(); n != 1 {
		t.Fatalf("after the group: %d disks, want the kept one", n)
	}

	mountOld := func(name, script string, deleteWithInstance bool) *kci.CreateContainerGroupRequest {
		r := req(name, "old", script)
		r.Volumes = []kci.Volume{{Name: "old", Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: diskID, FsType: "ext4", DeleteWithInstance: deleteWithInstance}}}
		return r
	}
	// Another account never mounts it: to it the disk does not exist.
	other := mountOld("disk-other", "cat /data/file", false)
	other.SubnetID, other.SecurityGroupIDs, other.ImageRegistryCredentials = "subnet-exec-b", []string{"sg-exec-b"}, nil
	refused(k.b, other, http.StatusBadRequest, "InvalidParameterValue", "does not exist")

	// The first group's deletion may still be finishing: the disk is
	// free once it has.
	var id2 string
	for deadline := time.Now().Add(30 * time.Second); id2 == ""; time.Sleep(100 * time.Millisecond) {
		r := mountOld("disk-second", "echo found=$(cat /data/file); exec sleep 3600", true)
		resp, err := k.a.CreateContainerGroup(ctx, r)
		var ae *kci.APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict && strings.Contains(ae.Message, "being deleted; retry") && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			t.Fatalf("create disk-second: %v", err)
		}
		id2 = resp.ContainerGroupID
		t.Cleanup(func() { k.deleteAndWait(id2) })
	}
	waitLog(id2, "found=kept-over-http")
	// Not two groups at once.
	refused(k.a, mountOld("disk-third", "true", false), http.StatusConflict, "ResourceInUse", "in use by container group "+id2)

	// Bad input: 400 naming the wire field, nothing made.
	dd := func(name string, d ...kci.DataDisk) *kci.CreateContainerGroupRequest {
		r := req(name, "x", "true")
		r.Containers[0].VolumeMounts = nil
		r.DataDisks = d
		return r
	}
	ok := kci.DataDisk{VolumeName: "x", Type: kci.DiskTypeEHDD, Size: 10}
	nine := make([]kci.DataDisk, 9)
	for i := range nine {
		nine[i] = kci.DataDisk{VolumeName: "d" + string(rune('a'+i)), Type: kci.DiskTypeSSD, Size: 10}
	}
	for _, tc := range []struct {
		name   string
		r      *kci.CreateContainerGroupRequest
		status int
		code   string
		param  string
	}{
		{"too small", dd("small", kci.DataDisk{VolumeName: "x", Type: kci.DiskTypeESSDPL0, Size: 39}), 400, "InvalidParameterValue", "DataDisk.1.Size"},
		{"over the config", dd("big", kci.DataDisk{VolumeName: "x", Type: kci.DiskTypeSSD, Size: 21}), 400, "InvalidParameterValue", "DataDisk.1.Size"},
		{"type beyond the config", dd("pl2", kci.DataDisk{VolumeName: "x", Type: kci.DiskTypeESSDPL2, Size: 461}), 400, "InvalidParameterValue", "DataDisk.1.Size"},
		{"unknown type", dd("type", kci.DataDisk{VolumeName: "x", Type: "SSD9", Size: 10}), 400, "InvalidParameterValue", "DataDisk.1.Type"},
		{"no type", dd("notype", kci.DataDisk{VolumeName: "x", Size: 10}), 400, "MissingParameter", "DataDisk.1.Type"},
		{"bad name", dd("name", kci.DataDisk{VolumeName: "Bad_Name", Type: kci.DiskTypeSSD, Size: 10}), 400, "InvalidParameterValue", "DataDisk.1.VolumeName"},
		{"name taken", dd("taken", ok, ok), 400, "InvalidParameterValue", "DataDisk.2.VolumeName"},
		{"nine disks", dd("nine", nine...), 400, "InvalidParameterValue", "DataDisk.9"},
		{"id and size", func() *kci.CreateContainerGroupRequest {
			r := mountOld("idsize", "true", false)
			r.Volumes[0].EBSVolume.Size = 10
			return r
		}(), 400, "InvalidParameterValue", "Volume.1.EBSVolume.Size"},
		// This host's kernel has no NFS client (see nfs_test.go): refused
		// at create, naming the field and the reason.
		{"nfs without a client", func() *kci.CreateContainerGroupRequest {
			r := req("nfs", "share", "true")
			r.Volumes = []kci.Volume{{Name: "share", Type: kci.VolumeNFS, NFSVolume: &kci.NFSVolume{Server: "10.0.0.5", Path: "/exports"}}}
			if k.rt.NFS() == nil {
				r.Volumes[0].NFSVolume.Server = "bad server" // a host that has NFS: refused for the name
			}
			return r
		}(), 400, "InvalidParameterValue", "NFSVolume.Server"},
		// The account holds one disk (maxPerAccount 2): two more are over.
		{"over the account's bound", dd("count", ok, kci.DataDisk{VolumeName: "y", Type: kci.DiskTypeSSD, Size: 10}), 409, "InsufficientResource", "onDemandDisks.maxPerAccount"},
	} {
		refused(k.a, tc.r, tc.status, tc.code, tc.param)
	}
	if n := disks(); n != 1 {
		t.Errorf("refused creates left %d disks, want the one kept", n)
	}

	// DeleteWithInstance on the later group removes the kept disk.
	k.deleteAndWait(id2)
	if n := disks(); n != 0 {
		t.Errorf("after the group that mounted it with DeleteWithInstance: %d disks", n)
	}
	if _, err := os.Stat(k.rt.diskFile(diskID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the disk's file is still there: %v", err)
	}
}
