package service

import (
	"context"
	"slices"
	"strings"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// allocateGPUs hands g's containers the node's GPU devices that no stored
// group holds (one being deleted included: its containers may still run),
// lowest first in the config's order. The stored groups are the only
// record of who holds which device, so a restarted kcid allocates from
// what they say. With GPUs the runtime's scheduler places
// (GPUsScheduled), it hands out nothing. Callers hold createMu.
func (s *Service) allocateGPUs(ctx context.Context, g *core.Group) error {
	if g.GPU == 0 || s.gpusScheduled {
		return nil
	}
	if len(s.gpus) == 0 {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "Gpu",
			"GPUs are not offered by this kcid: its node declares none (the operator declares them under node.gpus.devices, or node.gpus.kubernetesResource on Kubernetes, in kcid's config)")
	}
	all, err := s.store.Groups(ctx)
	if err != nil {
		return err
	}
	held := map[string]string{} // device → group
	for _, o := range all {
		for _, c := range o.Containers {
			for _, d := range c.GPUDevices {
				held[d] = o.ID
			}
		}
	}
	var free, holders []string
	for _, d := range s.gpus {
		if id, ok := held[d]; !ok {
			free = append(free, d)
		} else if !slices.Contains(holders, id) {
			holders = append(holders, id)
		}
	}
	if g.GPU > len(free) {
		return errdefs.New(errdefs.ErrInsufficientCapacity,
			"Gpu %d requested but %d of this node's %d GPUs are in use (by container groups %s); delete one of them, or declare more GPUs under node.gpus.devices in kcid's config",
			g.GPU, len(s.gpus)-len(free), len(s.gpus), strings.Join(holders, ", "))
	}
	g.Containers = slices.Clone(g.Containers) // the caller's request stays as it was
	for i := range g.Containers {
		c := &g.Containers[i]
		c.GPUDevices = slices.Clone(free[:c.GPU])
		free = free[c.GPU:]
	}
	return nil
}
