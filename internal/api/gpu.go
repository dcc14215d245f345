package api

import (
	"math"

	"github.com/openkci/openkci/internal/core"
)

// applyGPUs checks Gpu and Container.N.Gpu against the node's number of
// GPUs (nodeGPUs; 0: the config declares none, and any GPU is refused;
// -1: the cluster's scheduler bounds them)
// and records them in g: each container's own count, and the group's
// total. A group Gpu with no container asking gives all of them to the
// first container; with containers asking, a group Gpu above 0 must be
// their sum (the Go SDK sends 0 for an unset Gpu). Which devices a group
// gets is the service's choice (it knows which are free).
func applyGPUs(r *createContainerGroupRequest, g *core.Group, nodeGPUs int) error {
	count := func(param string, v *float64) (int, error) {
		if v == nil || *v == 0 {
			return 0, nil
		}
		n := *v
		switch {
		case n < 0 || n != math.Trunc(n) || math.IsInf(n, 0):
			return 0, invalid(param, "must be a whole number of GPUs, 0 or more")
		case nodeGPUs == 0:
			return 0, invalid(param, "%s", refuseGPU)
		case nodeGPUs > 0 && n > float64(nodeGPUs):
			return 0, invalid(param, "%g GPUs asked but this node has %d (node.gpus.devices in kcid's config)", n, nodeGPUs)
		}
		return int(n), nil
	}
	group, err := count("Gpu", r.GPU)
	if err != nil {
		return err
	}
	sum := 0
	for i, c := range r.Container {
		n, err := count(string(c.Prefix)+"Gpu", c.GPU)
		if err != nil {
			return err
		}
		g.Containers[i].GPU = n
		sum += n
	}
	switch {
	case nodeGPUs > 0 && sum > nodeGPUs:
		return invalid("Container.N.Gpu", "the containers ask for %d GPUs together but this node has %d (node.gpus.devices in kcid's config)", sum, nodeGPUs)
	case group > 0 && sum > 0 && group != sum:
		return invalid("Gpu", "the group's Gpu (%d) must be the sum of its containers' Gpu (%d); give one of them, or both equal", group, sum)
	case sum == 0 && group > 0:
		g.Containers[0].GPU = group
	}
	g.GPU = max(group, sum)
	return nil
}
