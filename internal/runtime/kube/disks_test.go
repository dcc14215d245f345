package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// TestMadeDisks: disks made on demand on the fake clientset: a claim of
// its own per disk (the type's StorageClass, the size, no owner), listed
// by Disks for the account only; Remove deletes the DeleteWithInstance
// one and keeps the other with no user; a later group takes the kept one,
// a third is refused it and leaves nothing; a failed Start deletes the
// claims it made; Sync lets go of a disk whose user is gone.
func TestMadeDisks(t *testing.T) {
	ctx := context.Background()
	r, cs := fakeRuntime(t)
	r.cfg.DiskStorageClasses = map[string]string{"*": "standard", "ESSD_PL2": "fast"}
	const ns = "kci-2000000001"
	disk := func(name, id, typ string, size int, del bool) core.Volume {
		return core.Volume{Name: name, Type: core.VolumeEBS, EBS: &core.EBSVolume{VolumeID: id, FsType: "ext4", SizeGB: size, Type: typ, DeleteWithInstance: del}}
	}
	claim := func(id string) (*corev1.PersistentVolumeClaim, error) {
		return cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "kci-disk-"+id, metav1.GetOptions{})
	}
	g := minimalGroup()
	g.Volumes = []core.Volume{disk("keep", "d-keep", "SSD3.0", 10, false), disk("temp", "d-temp", "ESSD_PL2", 461, true)}
	g.Containers[0].VolumeMounts = []core.VolumeMount{{Name: "keep", MountPath: "/keep"}, {Name: "temp", MountPath: "/temp"}}
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		id, class, size string
	}{{"d-keep", "standard", "10Gi"}, {"d-temp", "fast", "461Gi"}} {
		c, err := claim(want.id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != want.class || c.Spec.Resources.Requests.Storage().String() != want.size ||
			len(c.OwnerReferences) != 0 || c.Labels[LabelDiskUser] != g.ID || c.Labels[LabelGroupID] != "" {
			t.Errorf("claim of %s: class %v, size %s, owners %v, labels %v", want.id, c.Spec.StorageClassName, c.Spec.Resources.Requests.Storage(), c.OwnerReferences, c.Labels)
		}
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, g.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Spec.Volumes[0]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "kci-disk-d-keep" {
		t.Errorf("pod volume %+v, want the disk's claim", v)
	}
	ds, err := r.Disks(ctx, g.AccountID)
	if err != nil || len(ds) != 2 || ds[0].GroupID != g.ID || ds[0].Zone != g.Zone {
		t.Errorf("Disks: %+v, %v", ds, err)
	}
	if ds, _ := r.Disks(ctx, "2000000002"); len(ds) != 0 {
		t.Errorf("another account's Disks: %+v", ds)
	}

	if err := r.Remove(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := claim("d-temp"); !apierrors.IsNotFound(err) {
		t.Errorf("the DeleteWithInstance disk's claim: %v, want it deleted", err)
	}
	if c, err := claim("d-keep"); err != nil || c.Labels[LabelDiskUser] != "" || c.Annotations[AnnotationDiskUser] != "" {
		t.Errorf("the kept disk's claim: %v, %v; want it with no user", err, c)
	}

	second := minimalGroup()
	second.ID = "00000000-0000-0000-0000-000000000002"
	second.Volumes = []core.Volume{disk("old", "d-keep", "SSD3.0", 10, false)}
	if err := r.Start(ctx, second); err != nil {
		t.Fatal(err)
	}
	if c, _ := claim("d-keep"); c.Annotations[AnnotationDiskUser] != second.ID {
		t.Errorf("kept disk's user %q, want %s", c.Annotations[AnnotationDiskUser], second.ID)
	}
	third := minimalGroup()
	third.ID = "00000000-0000-0000-0000-000000000003"
	third.Volumes = []core.Volume{disk("fresh", "d-fresh", "EHDD", 10, false), disk("old", "d-keep", "SSD3.0", 10, false)}
	if err := r.Start(ctx, third); !errors.Is(err, kcierr.ErrConflict) {
		t.Errorf("a disk another group mounts: %v, want ErrConflict", err)
	}
	if _, err := claim("d-fresh"); !apierrors.IsNotFound(err) {
		t.Errorf("a refused Start left the claim it made: %v", err)
	}

	// A pod the cluster refuses: the claim made for it goes.
	cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "x", errors.New("admission says no"))
	})
	fourth := minimalGroup()
	fourth.ID = "00000000-0000-0000-0000-000000000004"
	fourth.Volumes = []core.Volume{disk("new", "d-new", "EHDD", 10, false)}
	if err := r.Start(ctx, fourth); err == nil {
		t.Fatal("Start succeeded although the pod was refused")
	}
	if _, err := claim("d-new"); !apierrors.IsNotFound(err) {
		t.Errorf("a failed Start left the claim it made: %v", err)
	}

	// The user of the kept disk is gone (no pod, not live), long ago.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, second.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c, _ := claim("d-keep")
	c.Annotations[AnnotationDiskUserSince] = t0.Format(time.RFC3339)
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cache", func() bool { return r.pod(second.ID) == nil })
	if err := r.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if c, err := claim("d-keep"); err != nil || c.Annotations[AnnotationDiskUser] != "" {
		t.Errorf("after Sync the kept disk's claim is %v (%v), want it with no user", c, err)
	}
}
