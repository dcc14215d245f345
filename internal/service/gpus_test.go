package service

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
)

// gpuReq asks for one container per count, each with that many GPUs.
func gpuReq(name string, counts ...int) CreateRequest {
	r := req(name)
	r.Group.Containers = nil
	for i, n := range counts {
		r.Group.Containers = append(r.Group.Containers, core.Container{Name: string(rune('a' + i)), Image: "i", GPU: n})
		r.Group.GPU += n
	}
	return r
}

func TestAllocateGPUs(t *testing.T) {
	three := []string{"/dev/g0", "/dev/g1", "/dev/g2"}
	for _, tc := range []struct {
		name      string
		devices   []string
		scheduled bool
		before    [][]int // earlier groups' containers' counts
		ask       []int
		want      [][]string
		err       error
		message   string
	}{
		{name: "lowest first, to the asking containers only", devices: three, ask: []int{2, 0, 1},
			want: [][]string{{"/dev/g0", "/dev/g1"}, {}, {"/dev/g2"}}},
		{name: "held ones skipped", devices: three, before: [][]int{{0, 1}}, ask: []int{2},
			want: [][]string{{"/dev/g1", "/dev/g2"}}},
		{name: "more than free", devices: three, before: [][]int{{1}, {1}}, ask: []int{2},
			err: errdefs.ErrInsufficientCapacity, message: "Gpu 2 requested but 2 of this node's 3 GPUs are in use (by container groups "},
		{name: "none declared", ask: []int{1}, err: errdefs.ErrInvalidArgument, message: "node.gpus.devices"},
		{name: "none asked, none declared", ask: []int{0}, want: [][]string{{}}},
		{name: "scheduled by the cluster", scheduled: true, before: [][]int{{4}}, ask: []int{4}, want: [][]string{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := newServiceWith(t, fake.New(), func(o *Options) { o.GPUDevices, o.GPUsScheduled = tc.devices, tc.scheduled })
			for i, counts := range tc.before {
				if _, err := s.CreateGroup(bg, gpuReq(string(rune('p'+i)), counts...)); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := st.Groups(bg)
			g, err := s.CreateGroup(bg, gpuReq("new", tc.ask...))
			if tc.err != nil {
				if errdefs.Class(err) != tc.err || !strings.Contains(err.Error(), tc.message) {
					t.Fatalf("err = %v, want class %v saying %q", err, tc.err, tc.message)
				}
				if after, _ := st.Groups(bg); len(after) != len(before) {
					t.Fatalf("a refused create stored a group: %d groups, had %d", len(after), len(before))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, c := range g.Containers {
				got = append(got, append([]string{}, c.GPUDevices...))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("devices %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGPUsHeldWhileDeleting: a group being deleted keeps its GPUs until
// the runtime has released it; then they are free again.
func TestGPUsHeldWhileDeleting(t *testing.T) {
	rt := fake.New()
	s, _ := newServiceWith(t, rt, func(o *Options) { o.GPUDevices = []string{"/dev/g0"} })
	g, err := s.CreateGroup(bg, gpuReq("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	rt.SetRemoveErr(errors.New("busy"))
	if err := s.DeleteGroup(context.Background(), "acc", g.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(bg, gpuReq("b", 1)); errdefs.Class(err) != errdefs.ErrInsufficientCapacity {
		t.Fatalf("GPU of a group being deleted handed out again: err = %v", err)
	}
	rt.SetRemoveErr(nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.CreateGroup(bg, gpuReq("b", 1))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GPU not free after the deletion finished: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
