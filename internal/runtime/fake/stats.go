package fake

import (
	"context"
	"fmt"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// SetStats scripts what GroupStats returns for a group.
func (r *Runtime) SetStats(id string, st core.GroupStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stats == nil {
		r.stats = map[string]core.GroupStats{}
	}
	r.stats[id] = st
}

// GroupStats returns the scripted stats (service.StatsReader); a group
// without any is not found.
func (r *Runtime) GroupStats(_ context.Context, id string) (core.GroupStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.stats[id]
	if !ok {
		return core.GroupStats{}, fmt.Errorf("stats of group %s: %w", id, errdefs.ErrNotFound)
	}
	return st, nil
}
