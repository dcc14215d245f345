package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// index is the in-memory copy of the groups bucket that serves every read:
// Describe over thousands of groups must not decode JSON per request. It
// changes only after the bbolt transaction that it mirrors has committed.
type index struct {
	mu sync.RWMutex
	// groups holds every stored group, including those being deleted.
	// Values are never mutated: a change replaces the pointer, so callers
	// may keep what they were given.
	groups map[string]*core.Group
	// live is per account, the groups not being deleted, in Describe order.
	live map[string][]*core.Group
	// ips is subnet → IP → group ID for every stored group.
	ips map[string]map[string]string
	// cpu and mem sum the live groups' sizes.
	cpu, mem float64
	// labels is account → label key → value → group ID → group, for the
	// live groups.
	labels map[string]map[string]map[string]map[string]*core.Group
}

func newIndex() *index {
	return &index{groups: map[string]*core.Group{}, live: map[string][]*core.Group{}, ips: map[string]map[string]string{},
		labels: map[string]map[string]map[string]map[string]*core.Group{}}
}

// put adds or replaces g. Callers hold mu.
func (x *index) put(g *core.Group) {
	if old := x.groups[g.ID]; old != nil {
		x.drop(old)
	}
	x.groups[g.ID] = g
	if g.Network.PrivateIP != "" {
		m := x.ips[g.Network.SubnetID]
		if m == nil {
			m = map[string]string{}
			x.ips[g.Network.SubnetID] = m
		}
		m[g.Network.PrivateIP] = g.ID
	}
	if g.DeletedAt != nil {
		return
	}
	l := x.live[g.AccountID]
	i := sort.Search(len(l), func(i int) bool { return g.Before(l[i]) })
	x.live[g.AccountID] = slices.Insert(l, i, g)
	x.cpu += g.CPU
	x.mem += g.Memory
	for _, lb := range g.Labels {
		keys := x.labels[g.AccountID]
		if keys == nil {
			keys = map[string]map[string]map[string]*core.Group{}
			x.labels[g.AccountID] = keys
		}
		vals := keys[lb.Key]
		if vals == nil {
			vals = map[string]map[string]*core.Group{}
			keys[lb.Key] = vals
		}
		ids := vals[lb.Value]
		if ids == nil {
			ids = map[string]*core.Group{}
			vals[lb.Value] = ids
		}
		ids[g.ID] = g
	}
}

// drop removes every trace of g. Callers hold mu.
func (x *index) drop(g *core.Group) {
	if g.DeletedAt == nil {
		l := x.live[g.AccountID]
		if i := slices.Index(l, g); i >= 0 {
			x.live[g.AccountID] = slices.Delete(l, i, i+1)
			x.cpu -= g.CPU
			x.mem -= g.Memory
		}
		keys := x.labels[g.AccountID]
		for _, lb := range g.Labels {
			vals := keys[lb.Key]
			delete(vals[lb.Value], g.ID)
			if len(vals[lb.Value]) == 0 {
				delete(vals, lb.Value)
			}
			if len(vals) == 0 {
				delete(keys, lb.Key)
			}
		}
		if len(keys) == 0 {
			delete(x.labels, g.AccountID)
		}
	}
	delete(x.groups, g.ID)
	if m := x.ips[g.Network.SubnetID]; m != nil && m[g.Network.PrivateIP] == g.ID {
		delete(m, g.Network.PrivateIP)
	}
}

// Group returns a stored group (also one being deleted); an error wrapping
// errdefs.ErrNotFound if there is none.
func (s *Store) Group(_ context.Context, id string) (*core.Group, error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	if g := s.idx.groups[id]; g != nil {
		return g, nil
	}
	return nil, fmt.Errorf("group %s: %w", id, errdefs.ErrNotFound)
}

// LiveGroups returns the account's groups that are not being deleted, in
// Describe order. The slice is the caller's.
func (s *Store) LiveGroups(_ context.Context, accountID string) ([]*core.Group, error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	return slices.Clone(s.idx.live[accountID]), nil
}

// HeldIPs counts the addresses of a subnet held by stored groups, and
// reports whether ip is one of them (service.IPAllocator).
func (s *Store) HeldIPs(_ context.Context, subnetID, ip string) (count int, held bool, err error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	m := s.idx.ips[subnetID]
	_, held = m[ip]
	return len(m), held, nil
}

// Usage sums the CPU and memory of the live groups
// (service.CapacityTracker).
func (s *Store) Usage(context.Context) (cpu, memory float64, err error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	return s.idx.cpu, s.idx.mem, nil
}

// LabeledGroups returns the account's live groups whose label key has one
// of values (service.LabelIndex).
func (s *Store) LabeledGroups(_ context.Context, accountID, key string, values []string) ([]*core.Group, error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	vals := s.idx.labels[accountID][key]
	var out []*core.Group
	for _, v := range slices.Compact(slices.Sorted(slices.Values(values))) {
		for _, g := range vals[v] {
			out = append(out, g)
		}
	}
	return out, nil
}

// CountLabel counts the account's live groups per value of label key: for
// each of values, or for every value when values is empty
// (service.LabelIndex).
func (s *Store) CountLabel(_ context.Context, accountID, key string, values []string) (map[string]int, error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	vals := s.idx.labels[accountID][key]
	out := map[string]int{}
	if len(values) == 0 {
		for v, ids := range vals {
			out[v] = len(ids)
		}
		return out, nil
	}
	for _, v := range values {
		out[v] = len(vals[v])
	}
	return out, nil
}
