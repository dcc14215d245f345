package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
)

// TestCapacityOvercommit: the node admits groups up to its CPUs and memory
// times the overcommit ratios, and the refusal names the resource that ran
// out, what is in use and the config keys that raise it.
func TestCapacityOvercommit(t *testing.T) {
	cases := []struct {
		name               string
		cpu, mem           float64 // the machine
		cpuRatio, memRatio float64
		groupCPU, groupMem float64
		admitted           int
		refusal            []string // in the refusal's message
	}{
		{"developer machine, SDK example size", 2, 24, 25, 5, 1, 2, 50,
			[]string{"Cpu 1 cores requested but 50 of 50 cores are in use", "2 cores × overcommit 25", "node.cpuOvercommit", "node.cpu"}},
		{"memory runs out first", 2, 24, 25, 5, 0.5, 8, 15,
			[]string{"Memory 8 GiB requested but 120 of 120 GiB are in use", "24 GiB × overcommit 5", "node.memoryOvercommit", "node.memory"}},
		{"no ratio is 1", 2, 24, 0, 0, 1, 2, 2,
			[]string{"Cpu 1 cores requested but 2 of 2 cores are in use", "overcommit 1"}},
		{"fractional ratio reserves headroom", 4, 8, 0.5, 1, 1, 1, 2,
			[]string{"but 2 of 2 cores are in use", "4 cores × overcommit 0.5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, st := newServiceWith(t, fake.New(), func(o *Options) {
				o.CPU, o.Memory, o.CPUOvercommit, o.MemoryOvercommit = tc.cpu, tc.mem, tc.cpuRatio, tc.memRatio
				o.Networks.AddSubnet(core.Subnet{ID: "big", VpcID: "vpc", CIDR: "10.0.2.0/24", Zone: "z", Gateway: "10.0.2.1"})
			})
			ctx := context.Background()
			create := func(i int) error {
				r := req(fmt.Sprintf("g%d", i))
				r.SubnetID = "big"
				r.Group.CPU, r.Group.Memory = tc.groupCPU, tc.groupMem
				_, err := s.CreateGroup(ctx, r)
				return err
			}
			for i := range tc.admitted {
				if err := create(i); err != nil {
					t.Fatalf("group %d of %d refused: %v", i+1, tc.admitted, err)
				}
			}
			err := create(tc.admitted)
			if !errors.Is(err, errdefs.ErrInsufficientCapacity) {
				t.Fatalf("group %d: %v, want InsufficientCapacity", tc.admitted+1, err)
			}
			for _, want := range tc.refusal {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q lacks %q", err, want)
				}
			}
			if gs, _ := st.Groups(ctx); len(gs) != tc.admitted {
				t.Fatalf("the refused create left %d groups, want %d", len(gs), tc.admitted)
			}
		})
	}
}
