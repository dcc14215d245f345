// Package fake is an in-memory Runtime for tests of the layers above the
// runtime boundary (service, api). It runs nothing: a started group is
// reported Running at once with the spec's events, and tests script logs
// and failures. It is never wired into kcid itself.
package fake

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// Runtime is a scripted in-memory runtime. The zero value is not usable;
// call New.
type Runtime struct {
	Now func() time.Time

	mu      sync.Mutex
	groups  map[string]*core.Group
	status  map[string]core.GroupStatus
	logs    map[string]string // group/container → log text
	stats   map[string]core.GroupStats
	removed []string
	synced  []string
	// StartErr, when set, is returned by Start; set it with SetStartErr
	// once the runtime is in use.
	StartErr error
	// RemoveErr, when set, is returned by Remove; see SetRemoveErr.
	RemoveErr error
	// startGate, when set, holds Start until it is closed.
	startGate chan struct{}
	// ic holds image caches (imagecache.go).
	ic caches
	// disks are the disks made on demand (disks.go), by ID.
	disks map[string]core.Disk
}

// New returns an empty fake runtime.
func New() *Runtime {
	return &Runtime{Now: time.Now, groups: map[string]*core.Group{}, status: map[string]core.GroupStatus{}, logs: map[string]string{}}
}

// Start records the group and reports it Running.
func (r *Runtime) Start(_ context.Context, g *core.Group) error {
	r.mu.Lock()
	gate := r.startGate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.StartErr != nil {
		return r.StartErr
	}
	if _, ok := r.groups[g.ID]; ok {
		return nil
	}
	now := r.Now().UTC().Truncate(time.Second)
	st := core.GroupStatus{Phase: core.PhaseRunning}
	ev := func(reason, msg string) {
		st.Events = append(st.Events, core.Event{Type: core.EventNormal, Reason: reason, Message: msg, Count: 1, FirstTimestamp: now, LastTimestamp: now})
	}
	for _, c := range g.InitContainers { // each completed at once
		ev("Started", "Started container "+c.Name)
		t, code := now, 0
		st.InitContainers = append(st.InitContainers, core.ContainerStatus{Name: c.Name,
			Current: &core.ContainerState{State: core.StateTerminated, Reason: "Completed", ExitCode: &code, StartTime: &t, FinishTime: &t}})
	}
	for _, c := range g.Containers {
		ev("Pulling", fmt.Sprintf("Pulling image `%s`", c.Image))
		ev("Pulled", fmt.Sprintf("Successfully pulled image `%s`", c.Image))
		ev("Created", "Created container "+c.Name)
		ev("Started", "Started container "+c.Name)
		t := now
		st.Containers = append(st.Containers, core.ContainerStatus{Name: c.Name, Current: &core.ContainerState{State: core.StateRunning, StartTime: &t}})
	}
	r.groups[g.ID] = g
	r.status[g.ID] = st
	r.takeDisks(g)
	return nil
}

// Remove forgets the group.
func (r *Runtime) Remove(_ context.Context, g *core.Group) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.RemoveErr != nil {
		return r.RemoveErr
	}
	if sg := r.groups[g.ID]; sg != nil {
		r.releaseDisks(sg)
	}
	delete(r.groups, g.ID)
	delete(r.status, g.ID)
	r.removed = append(r.removed, g.ID)
	return nil
}

// Status returns the scripted status.
func (r *Runtime) Status(_ context.Context, id string) (core.GroupStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.status[id]
	if !ok {
		return core.GroupStatus{}, fmt.Errorf("group %s: %w", id, errdefs.ErrNotFound)
	}
	return st, nil
}

// Logs returns the last tail lines of the scripted log.
func (r *Runtime) Logs(_ context.Context, id, container string, tail int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	text, ok := r.logs[id+"/"+container]
	if !ok {
		return "", fmt.Errorf("log of %s/%s: %w", id, container, errdefs.ErrNotFound)
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	return strings.Join(lines, ""), nil
}

// Sync adopts the listed groups and drops the rest.
func (r *Runtime) Sync(ctx context.Context, live []*core.Group) error {
	keep := map[string]bool{}
	for _, g := range live {
		keep[g.ID] = true
		if err := r.Start(ctx, g); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.groups {
		if !keep[id] {
			delete(r.groups, id)
			delete(r.status, id)
		}
	}
	r.synced = append(r.synced, fmt.Sprint(len(live)))
	return nil
}

// SetStartErr makes Start fail with err (nil: succeed).
func (r *Runtime) SetStartErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.StartErr = err
}

// SetRemoveErr makes Remove fail with err (nil: succeed).
func (r *Runtime) SetRemoveErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.RemoveErr = err
}

// HoldStarts makes Start wait until the returned func is called.
func (r *Runtime) HoldStarts() (release func()) {
	gate := make(chan struct{})
	r.mu.Lock()
	r.startGate = gate
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.startGate = nil
		r.mu.Unlock()
		close(gate)
	}
}

// SetLog scripts a container's log.
func (r *Runtime) SetLog(groupID, container, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs[groupID+"/"+container] = text
}

// SetStatus scripts a group's status.
func (r *Runtime) SetStatus(groupID string, st core.GroupStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[groupID] = st
}

// Removed lists the IDs Remove was called for, in order.
func (r *Runtime) Removed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.removed...)
}

// Running reports whether the runtime holds the group.
func (r *Runtime) Running(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.groups[id]
	return ok
}
