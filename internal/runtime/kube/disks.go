package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// Disks made on demand (a volume whose EBS.SizeGB > 0) are
// PersistentVolumeClaims of their own, kci-disk-<disk id>, in the
// account's namespace, requesting SizeGB Gi of the StorageClass that
// Config.DiskStorageClasses gives the disk's type (none: the cluster's
// default class, whose provisioner makes the volume). They are not owned
// by the pod: a kept disk (DeleteWithInstance false) outlives it. The
// claim's labels say it is a disk (role made-disk, disk-id) and which
// group mounts it (disk-user; absent while kept); its annotations hold
// the rest of the disk (zone, type, size, file system) and
// DeleteWithInstance. Remove, and Sync for a group that is gone, release
// the group's disks: the claim is deleted when the group said
// DeleteWithInstance (the volume then goes by its reclaim policy), else
// the user is cleared.
const (
	roleMadeDisk = "made-disk"
	// LabelDiskID is the disk ID of a made disk's claim.
	LabelDiskID = prefix + "disk-id"
	// LabelDiskUser is the group (label value) that mounts a made disk.
	LabelDiskUser = prefix + "disk-user"

	AnnotationDiskUser           = prefix + "disk-user"
	AnnotationDiskUserSince      = prefix + "disk-user-since"
	AnnotationDiskZone           = prefix + "disk-zone"
	AnnotationDiskType           = prefix + "disk-type"
	AnnotationDiskFsType         = prefix + "disk-fs-type"
	AnnotationDiskSizeGB         = prefix + "disk-size-gb"
	AnnotationDeleteWithInstance = prefix + "delete-with-instance"

	diskClaimPrefix = "kci-disk-"
)

// NFS reports that NFSVolumes can be mounted (service.NFSMounter): the
// kubelet mounts them with its node's NFS client; a node without one
// fails the pod's volume setup with the kubelet's event.
func (r *Runtime) NFS() error { return nil }

// diskClaim is the claim of a disk, made on demand (class: the type's
// StorageClass, nil for the cluster's default; size in bytes) or of the
// config (class "": no provisioning, bound to the disk's pre-created PV;
// size 0, filled in from the PV at Start): one writer at a time.
func diskClaim(meta metav1.ObjectMeta, class *string, size int64) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: meta,
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		},
	}
	if size > 0 {
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)}
	}
	return c
}

// diskClaimName names the claim of a disk made on demand.
func diskClaimName(id string) (string, error) {
	n := diskClaimPrefix + strings.ToLower(id)
	if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
		return "", fmt.Errorf("disk ID %q makes no claim name: %s: %w", id, strings.Join(errs, "; "), kcierr.ErrInvalidArgument)
	}
	return n, nil
}

// storageClass is the class of a disk of type t; nil: the default class.
func (r *Runtime) storageClass(t string) *string {
	c, ok := r.cfg.DiskStorageClasses[t]
	if !ok {
		c, ok = r.cfg.DiskStorageClasses["*"]
	}
	if !ok || c == "" {
		return nil
	}
	return &c
}

// claimMadeDisks makes the claim of each disk made on demand that g
// mounts and has none yet, and records g as the user of each. A disk
// another group mounts is refused (ErrConflict). It returns the names of
// the claims it made, for undoMadeDisks.
func (r *Runtime) claimMadeDisks(ctx context.Context, g *core.Group, ns string) (made []string, err error) {
	for _, v := range g.Volumes {
		if !v.EBS.OnDemand() {
			continue
		}
		e := v.EBS
		name, err := diskClaimName(e.VolumeID)
		if err != nil {
			return made, err
		}
		claims := r.cs.CoreV1().PersistentVolumeClaims(ns)
		now := r.cfg.Clock.Now().UTC().Format(time.RFC3339)
		c, err := claims.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			c = diskClaim(metav1.ObjectMeta{
				Name: name, Namespace: ns,
				Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelRole: roleMadeDisk,
					LabelDiskID: labelValue(e.VolumeID), LabelDiskUser: labelValue(g.ID)},
				Annotations: map[string]string{
					AnnotationDiskID: e.VolumeID, AnnotationDiskZone: g.Zone, AnnotationDiskType: e.Type,
					AnnotationDiskFsType: e.FsType, AnnotationDiskSizeGB: strconv.Itoa(e.SizeGB),
					AnnotationDiskUser: g.ID, AnnotationDiskUserSince: now,
					AnnotationDeleteWithInstance: strconv.FormatBool(e.DeleteWithInstance),
				},
			}, r.storageClass(e.Type), int64(e.SizeGB)<<30)
			if _, err := claims.Create(ctx, c, metav1.CreateOptions{}); err != nil {
				return made, classify("create disk claim "+name, err)
			}
			made = append(made, name)
			r.log.Info("disk claim created", "group", g.ID, "disk", e.VolumeID, "namespace", ns, "claim", name, "size_gb", e.SizeGB)
			continue
		}
		if err != nil {
			return made, classify("get disk claim "+name, err)
		}
		if u := c.Annotations[AnnotationDiskUser]; u != "" && u != g.ID {
			return made, kcierr.New(kcierr.ErrConflict, "disk %s is mounted by group %s", e.VolumeID, u)
		}
		if c.DeletionTimestamp != nil {
			return made, kcierr.New(kcierr.ErrConflict, "disk %s is being deleted", e.VolumeID)
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"labels": map[string]string{LabelDiskUser: labelValue(g.ID)},
			"annotations": map[string]string{AnnotationDiskUser: g.ID, AnnotationDiskUserSince: now,
				AnnotationDeleteWithInstance: strconv.FormatBool(e.DeleteWithInstance)},
		}})
		if err != nil {
			return made, err
		}
		if _, err := claims.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return made, classify("take disk claim "+name, err)
		}
	}
	return made, nil
}

// undoMadeDisks, after a Start that failed, deletes the claims it made
// (empty disks no group used) and lets go of the kept ones it took, so a
// failed create leaves no disk behind and takes none away. Best effort:
// what it cannot undo, Remove (the service's roll-back) releases.
func (r *Runtime) undoMadeDisks(ctx context.Context, g *core.Group, ns string, made []string) {
	for _, name := range made {
		if err := r.callErr(ctx, func(ctx context.Context) error {
			return r.cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, metav1.DeleteOptions{})
		}); err != nil && !apierrors.IsNotFound(err) {
			r.log.Warn("could not delete the disk claim of a failed start", "group", g.ID, "claim", name, "err", err)
		}
	}
	if err := r.releaseMadeDisks(ctx, g.ID, ns); err != nil {
		r.log.Warn("could not let go of the disks of a failed start", "group", g.ID, "err", err)
	}
}

// releaseMadeDisks lets go of the disks made on demand that group id
// mounts (found by label, so it works from the ID alone): each claim is
// deleted if the group said DeleteWithInstance, else its user cleared.
// Call it once the group's pod is gone. Idempotent.
func (r *Runtime) releaseMadeDisks(ctx context.Context, id, ns string) error {
	return r.callErr(ctx, func(ctx context.Context) error {
		claims := r.cs.CoreV1().PersistentVolumeClaims(ns)
		l, err := claims.List(ctx, metav1.ListOptions{LabelSelector: labels.Set{
			LabelManagedBy: ManagedByValue, LabelRole: roleMadeDisk, LabelDiskUser: labelValue(id)}.String()})
		if err != nil {
			return classify("list disk claims", err)
		}
		for _, c := range l.Items {
			if c.Annotations[AnnotationDiskUser] != id {
				continue // a hashed label value shared by another ID
			}
			if err := r.releaseMadeDisk(ctx, &c); err != nil {
				return err
			}
		}
		return nil
	})
}

// releaseMadeDisk deletes a made disk's claim (DeleteWithInstance) or
// clears its user.
func (r *Runtime) releaseMadeDisk(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	claims := r.cs.CoreV1().PersistentVolumeClaims(c.Namespace)
	user := c.Annotations[AnnotationDiskUser]
	if c.Annotations[AnnotationDeleteWithInstance] == "true" {
		if err := claims.Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return classify("delete disk claim "+c.Name, err)
		}
		r.log.Info("deleted a disk with its group", "disk", c.Annotations[AnnotationDiskID], "group", user, "namespace", c.Namespace)
		return nil
	}
	patch := []byte(`{"metadata":{"labels":{"` + LabelDiskUser + `":null},"annotations":{"` + AnnotationDiskUser + `":null,"` + AnnotationDiskUserSince + `":null}}}`)
	if _, err := claims.Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return classify("keep disk claim "+c.Name, err)
	}
	r.log.Info("kept a disk after its group", "disk", c.Annotations[AnnotationDiskID], "group", user, "namespace", c.Namespace)
	return nil
}

// Disks lists the account's disks made on demand (service.DiskMaker):
// the made-disk claims of its namespace not being deleted.
func (r *Runtime) Disks(ctx context.Context, accountID string) ([]core.Disk, error) {
	ns := namespaceName(r.cfg.NamespacePrefix, accountID)
	var out []core.Disk
	err := r.callErr(ctx, func(ctx context.Context) error {
		l, err := r.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{
			LabelManagedBy: ManagedByValue, LabelRole: roleMadeDisk}.String()})
		if err != nil {
			return classify("list disk claims", err)
		}
		for _, c := range l.Items {
			if c.DeletionTimestamp != nil {
				continue
			}
			a := c.Annotations
			size, _ := strconv.Atoi(a[AnnotationDiskSizeGB])
			out = append(out, core.Disk{ID: a[AnnotationDiskID], AccountID: accountID, Zone: a[AnnotationDiskZone],
				SizeGB: size, Type: a[AnnotationDiskType], FsType: a[AnnotationDiskFsType], GroupID: a[AnnotationDiskUser]})
		}
		return nil
	})
	return out, err
}

// staleDiskUser reports whether a made disk's claim names a user group
// that neither is wanted nor has a pod, since before cutoff (a group gone
// while kcid was down: Sync releases its disk).
func staleDiskUser(c *corev1.PersistentVolumeClaim, want map[string]*core.Group, have map[string]bool, cutoff time.Time) bool {
	u := c.Annotations[AnnotationDiskUser]
	if u == "" || want[labelValue(u)] != nil || have[labelValue(u)] {
		return false
	}
	since, err := time.Parse(time.RFC3339, c.Annotations[AnnotationDiskUserSince])
	return err == nil && since.Before(cutoff)
}
