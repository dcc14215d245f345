package service

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// checkDisks settles the group's EBS volumes before it is stored. A disk
// of the config must be the account's; a disk made on demand and kept
// must be one the runtime lists for the account (another account's is
// "does not exist", never mounted), and takes its size and type from
// there; both must sit in the group's zone and not be used by another
// stored group (one being deleted still holds its disk). A new disk
// (no VolumeId) gets its ID here, within the account's bound. Callers
// hold createMu, so two creates cannot take one disk or pass the bound
// together.
func (s *Service) checkDisks(ctx context.Context, g *core.Group) error {
	if !slices.ContainsFunc(g.Volumes, func(v core.Volume) bool { return v.EBS != nil }) {
		return nil
	}
	g.Volumes = slices.Clone(g.Volumes) // the caller's request stays as it was
	var (
		all  []*core.Group
		made map[string]core.Disk // the runtime's disks of the account, by ID
		news int
	)
	loadMade := func() error {
		if made != nil {
			return nil
		}
		made = map[string]core.Disk{}
		if s.diskMaker == nil {
			return nil
		}
		ds, err := s.diskMaker.Disks(ctx, g.AccountID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.AccountID == g.AccountID {
				made[d.ID] = d
			}
		}
		return nil
	}
	for i := range g.Volumes {
		v := &g.Volumes[i]
		if v.EBS == nil {
			continue
		}
		e := *v.EBS
		v.EBS = &e
		if e.VolumeID == "" {
			if s.diskMaker == nil {
				return errdefs.Param(errdefs.CodeInvalidParameterValue, "Volume.N.EBSVolume.Size",
					"volume %s: this kcid's runtime cannot make disks on demand (DataDisk.N, EBSVolume.Size); mount a disk of the config by VolumeId", v.Name)
			}
			e.VolumeID = uuid.NewString()
			news++
			continue
		}
		param := "Volume.N.EBSVolume.VolumeId"
		d, ok := s.disks[e.VolumeID]
		switch {
		case ok && d.AccountID == g.AccountID:
			if e.DeleteWithInstance {
				return errdefs.Param(errdefs.CodeInvalidParameterValue, "Volume.N.EBSVolume.DeleteWithInstance",
					"disk %q is one of kcid's config, which kcid never deletes; only disks made on demand can be deleted with a group", d.ID)
			}
		case ok:
			return errdefs.Param(errdefs.CodeInvalidParameterValue, param, "disk %q does not exist", e.VolumeID)
		default:
			if err := loadMade(); err != nil {
				return err
			}
			if d, ok = made[e.VolumeID]; !ok {
				return errdefs.Param(errdefs.CodeInvalidParameterValue, param, "disk %q does not exist", e.VolumeID)
			}
			e.SizeGB, e.Type = d.SizeGB, d.Type
		}
		if d.Zone != g.Zone {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, param, "disk %q is in zone %s, not in the subnet's zone %s", d.ID, d.Zone, g.Zone)
		}
		if all == nil {
			var err error
			if all, err = s.store.Groups(ctx); err != nil {
				return err
			}
		}
		if other := diskUser(all, d.ID); other != nil {
			if other.DeletedAt != nil {
				return errdefs.New(errdefs.ErrConflict, "disk %s (%s) is still held by container group %s, which is being deleted; retry once its deletion has finished", d.ID, param, other.ID)
			}
			return errdefs.New(errdefs.ErrConflict, "disk %s (%s) is in use by container group %s", d.ID, param, other.ID)
		}
	}
	if news == 0 || s.maxDisksPerAccount <= 0 {
		return nil
	}
	if err := loadMade(); err != nil {
		return err
	}
	if all == nil {
		var err error
		if all, err = s.store.Groups(ctx); err != nil {
			return err
		}
	}
	held := map[string]bool{}
	for id := range made {
		held[id] = true
	}
	// A group stored but not started yet holds disks the runtime does not
	// list yet.
	for _, o := range all {
		if o.AccountID != g.AccountID {
			continue
		}
		for _, v := range o.Volumes {
			if v.EBS.OnDemand() {
				held[v.EBS.VolumeID] = true
			}
		}
	}
	if len(held)+news > s.maxDisksPerAccount {
		return errdefs.New(errdefs.ErrInsufficientCapacity,
			"the account holds %d disks made on demand (mounted or kept) and this group would make %d more; at most %d are allowed (the config's onDemandDisks.maxPerAccount): delete groups whose disks are not kept, or mount a kept disk by VolumeId with DeleteWithInstance to have it removed with its group",
			len(held), news, s.maxDisksPerAccount)
	}
	return nil
}

// checkNFS refuses NFSVolumes unless the runtime can mount them here.
func (s *Service) checkNFS(g *core.Group) error {
	for _, v := range g.Volumes {
		if v.NFS == nil {
			continue
		}
		err := errors.New("this kcid's runtime does not mount NFS")
		if m, ok := s.rt.(NFSMounter); ok {
			err = m.NFS()
		}
		if err != nil {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, "Volume.N.NFSVolume.Server", "volume %s: NFS volumes cannot be mounted by this kcid: %v", v.Name, err)
		}
	}
	return nil
}

// diskUser is the stored group that has disk id as a volume, nil if none.
func diskUser(all []*core.Group, id string) *core.Group {
	for _, o := range all {
		for _, v := range o.Volumes {
			if v.EBS != nil && v.EBS.VolumeID == id {
				return o
			}
		}
	}
	return nil
}
