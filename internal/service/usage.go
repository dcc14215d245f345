package service

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// StatsReader is an optional ability of a Runtime, found by type
// assertion: reading a group's resource usage. GroupStats of a group the
// runtime does not measure (yet) wraps errdefs.ErrNotFound.
type StatsReader interface {
	GroupStats(ctx context.Context, groupID string) (core.GroupStats, error)
}

// Observer is told of what the service sees happen, for metrics. Its
// methods must not block.
type Observer interface {
	// GroupDeleted: a group was released, d after its deletion was
	// accepted.
	GroupDeleted(d time.Duration)
}

// Usage history defaults: a sample every UsageResolution, kept for
// UsageRetention.
const (
	UsageResolution = 15 * time.Second
	UsageRetention  = time.Hour
)

// usageHistory keeps each live group's recent samples in a ring; a
// group's ring is dropped once the group is gone.
type usageHistory struct {
	size int
	mu   sync.Mutex
	// rings maps a group ID to its samples. Guarded by mu.
	rings map[string]*usageRing
}

type usageRing struct {
	accountID string
	samples   []core.GroupStats // oldest first once full, from next
	next      int
}

// add appends st unless it is the reading already last (a runtime may
// answer from a cache).
func (r *usageRing) add(st core.GroupStats, size int) {
	if last, ok := r.last(); ok && !st.Time.After(last.Time) {
		return
	}
	if len(r.samples) < size {
		r.samples = append(r.samples, st)
		return
	}
	r.samples[r.next] = st
	r.next = (r.next + 1) % size
}

// ordered returns the samples oldest first.
func (r *usageRing) ordered() []core.GroupStats {
	out := make([]core.GroupStats, 0, len(r.samples))
	out = append(out, r.samples[r.next:]...)
	return append(out, r.samples[:r.next]...)
}

func (r *usageRing) last() (core.GroupStats, bool) {
	if len(r.samples) == 0 {
		return core.GroupStats{}, false
	}
	i := r.next - 1
	if i < 0 {
		i = len(r.samples) - 1
	}
	return r.samples[i], true
}

// sampleUsageLoop samples every live group each resolution until the
// service closes.
func (s *Service) sampleUsageLoop(sr StatsReader, every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.SampleUsage(s.ctx, sr)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// SampleUsage takes one sample of every live group the runtime measures
// and drops the history of groups that are gone. The service calls it
// every UsageResolution; tests call it to take a sample now.
func (s *Service) SampleUsage(ctx context.Context, sr StatsReader) {
	groups, err := s.store.Groups(ctx)
	if err != nil {
		s.log.Warn("usage sample: list groups", "err", err)
		return
	}
	live := map[string]*core.Group{}
	for _, g := range groups {
		if g.DeletedAt == nil {
			live[g.ID] = g
		}
	}
	taken := map[string]core.GroupStats{}
	failed, firstErr := 0, error(nil)
	for id := range live {
		st, err := sr.GroupStats(ctx, id)
		if err != nil {
			if !errdefs.IsNotFound(err) {
				failed++
				firstErr = cmp.Or(firstErr, fmt.Errorf("group %s: %w", id, err))
			}
			continue
		}
		taken[id] = st
	}
	if failed > 0 {
		// One line a round, not one a group: a missing permission fails
		// them all.
		s.log.Warn("usage sample failed", "groups", failed, "first_err", firstErr)
	}
	h := s.history
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.rings {
		if live[id] == nil {
			delete(h.rings, id)
		}
	}
	for id, st := range taken {
		r := h.rings[id]
		if r == nil {
			r = &usageRing{accountID: live[id].AccountID}
			h.rings[id] = r
		}
		r.add(st, h.size)
	}
}

// DefaultUsageWindow is the span GroupUsage returns without a start.
const DefaultUsageWindow = 5 * time.Minute

// GroupUsage returns the account's group and its samples taken in [from,
// to], oldest first; a zero to is now, a zero from is to less
// DefaultUsageWindow. Another account's group is not found, as everywhere.
func (s *Service) GroupUsage(ctx context.Context, accountID, id string, from, to time.Time) (*core.Group, []core.GroupStats, error) {
	g, err := s.lookup(ctx, accountID, id)
	if err != nil {
		return nil, nil, err
	}
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-DefaultUsageWindow)
	}
	if _, ok := s.rt.(StatsReader); !ok {
		return nil, nil, errdefs.New(errdefs.ErrFailedPrecondition, "this kcid's runtime does not measure usage")
	}
	s.history.mu.Lock()
	defer s.history.mu.Unlock()
	r := s.history.rings[id]
	if r == nil {
		return g, nil, nil
	}
	var out []core.GroupStats
	for _, st := range r.ordered() {
		if !st.Time.Before(from) && !st.Time.After(to) {
			out = append(out, st)
		}
	}
	return g, out, nil
}

// GroupUsageSample is the latest sample of one live group.
type GroupUsageSample struct {
	GroupID, AccountID string
	Stats              core.GroupStats
}

// LatestUsage returns the latest sample of every live group that has one,
// by group ID.
func (s *Service) LatestUsage() []GroupUsageSample {
	s.history.mu.Lock()
	defer s.history.mu.Unlock()
	out := make([]GroupUsageSample, 0, len(s.history.rings))
	for id, r := range s.history.rings {
		if st, ok := r.last(); ok {
			out = append(out, GroupUsageSample{GroupID: id, AccountID: r.accountID, Stats: st})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GroupID < out[j].GroupID })
	return out
}

// GroupCount is how many live groups of an account are in one phase.
type GroupCount struct {
	AccountID string
	Phase     core.Phase
	Count     int
}

// CountGroups counts the live groups by account and phase, asking the
// runtime for each group's status.
func (s *Service) CountGroups(ctx context.Context) ([]GroupCount, error) {
	groups, err := s.store.Groups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	type key struct {
		account string
		phase   core.Phase
	}
	counts := map[key]int{}
	for _, g := range groups {
		if g.DeletedAt == nil {
			counts[key{g.AccountID, s.status(ctx, g).Phase}]++
		}
	}
	out := make([]GroupCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, GroupCount{AccountID: k.account, Phase: k.phase, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AccountID != out[j].AccountID {
			return out[i].AccountID < out[j].AccountID
		}
		return out[i].Phase < out[j].Phase
	})
	return out, nil
}
