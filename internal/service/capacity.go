package service

import (
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// capacity is what the node offers groups: per resource, the machine's
// amount times an overcommit ratio.
type capacity struct {
	cpu, mem resource
}

// resource is one bounded resource of the node.
type resource struct {
	machine float64 // cores or GiB; 0 means unbounded
	ratio   float64 // overcommit, ≥ 0; the bound is machine × ratio
}

func newCapacity(o Options) capacity {
	ratio := func(r float64) float64 {
		if r <= 0 {
			return 1
		}
		return r
	}
	return capacity{
		cpu: resource{machine: o.CPU, ratio: ratio(o.CPUOvercommit)},
		mem: resource{machine: o.Memory, ratio: ratio(o.MemoryOvercommit)},
	}
}

// bound is the most the live groups may ask for together; 0 is unbounded.
func (r resource) bound() float64 { return r.machine * r.ratio }

// admit refuses a request of want when used is already taken, with a
// message that names the resource (param, in unit), what is in use and
// the config keys that raise the bound.
func (r resource) admit(param, unit, ratioKey, machineKey string, want, used float64) error {
	const eps = 1e-9
	bound := r.bound()
	if bound <= 0 || used+want <= bound+eps {
		return nil
	}
	f := core.FormatAmount
	return errdefs.New(errdefs.ErrInsufficientCapacity,
		"%s %s %s requested but %s of %s %s are in use on this node (%s %s × overcommit %s; %s free); delete groups, or raise %s or %s in kcid's config",
		param, f(want), unit, f(used), f(bound), unit, f(r.machine), unit, f(r.ratio), f(max(0, bound-used)), ratioKey, machineKey)
}
