package fake

import (
	"context"
	"sort"

	"github.com/openkci/openkci/internal/core"
)

// Disks lists the account's disks made on demand (service.DiskMaker):
// made at Start, deleted at Remove when the group said
// DeleteWithInstance, else kept with no group.
func (r *Runtime) Disks(_ context.Context, accountID string) ([]core.Disk, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []core.Disk
	for _, d := range r.disks {
		if d.AccountID == accountID {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// takeDisks makes or takes g's disks made on demand. Callers hold mu.
func (r *Runtime) takeDisks(g *core.Group) {
	for _, v := range g.Volumes {
		if e := v.EBS; e.OnDemand() {
			if r.disks == nil {
				r.disks = map[string]core.Disk{}
			}
			r.disks[e.VolumeID] = core.Disk{ID: e.VolumeID, AccountID: g.AccountID, Zone: g.Zone, SizeGB: e.SizeGB, Type: e.Type, FsType: e.FsType, GroupID: g.ID}
		}
	}
}

// releaseDisks deletes or keeps g's disks made on demand. Callers hold mu.
func (r *Runtime) releaseDisks(g *core.Group) {
	for _, v := range g.Volumes {
		if e := v.EBS; e.OnDemand() {
			if e.DeleteWithInstance {
				delete(r.disks, e.VolumeID)
			} else if d, ok := r.disks[e.VolumeID]; ok {
				d.GroupID = ""
				r.disks[e.VolumeID] = d
			}
		}
	}
}
