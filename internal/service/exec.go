package service

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// ErrExecUnsupported: the runtime cannot run commands in containers.
var ErrExecUnsupported = errors.New("this kcid's runtime cannot exec into containers")

// ExecTarget is a container an exec may run in, as CheckExec resolved it.
type ExecTarget struct {
	GroupID   string
	Container string
}

// CheckExec says whether the account may exec into container of group id
// now: the group is the account's and live, the container exists (an
// empty name picks the group's only container) and is running.
func (s *Service) CheckExec(ctx context.Context, accountID, id, container string) (ExecTarget, error) {
	g, err := s.lookup(ctx, accountID, id)
	if err != nil {
		return ExecTarget{}, err
	}
	if container == "" {
		if len(g.Containers) != 1 {
			names := make([]string, 0, len(g.Containers))
			for _, c := range g.Containers {
				names = append(names, c.Name)
			}
			return ExecTarget{}, errdefs.Param(errdefs.CodeMissingParameter, "ContainerName",
				"group %s has %d containers (%v); name the one to run the command in", id, len(g.Containers), names)
		}
		container = g.Containers[0].Name
	}
	if !slices.ContainsFunc(g.Containers, func(c core.Container) bool { return c.Name == container }) {
		return ExecTarget{}, &errdefs.NotFoundError{Kind: "Container", ID: container}
	}
	if _, ok := s.rt.(Execer); !ok {
		return ExecTarget{}, ErrExecUnsupported
	}
	st := s.status(ctx, g)
	for _, cs := range st.Containers {
		if cs.Name != container {
			continue
		}
		if cs.Current == nil || cs.Current.State != core.StateRunning {
			state := "not started"
			if cs.Current != nil {
				state = cs.Current.State
				if cs.Current.Reason != "" {
					state += " (" + cs.Current.Reason + ")"
				}
			}
			return ExecTarget{}, errdefs.Wrap(errdefs.ErrFailedPrecondition, errdefs.ErrNotRunning,
				"container %s of group %s is %s; an exec needs it running (DescribeContainerGroup shows its state)", container, id, state)
		}
		return ExecTarget{GroupID: id, Container: container}, nil
	}
	return ExecTarget{}, errdefs.Wrap(errdefs.ErrFailedPrecondition, errdefs.ErrNotRunning,
		"container %s of group %s has not started yet (the group is %s); an exec needs it running", container, id, st.Phase)
}

// Exec runs a command in a container of the account's group and returns
// its exit code. The group is checked again (a token may be redeemed a
// while after it was issued); deleting the group ends the command.
func (s *Service) Exec(ctx context.Context, accountID string, t ExecTarget, p core.ExecProcess) (int, error) {
	if _, err := s.CheckExec(ctx, accountID, t.GroupID, t.Container); err != nil {
		return -1, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := s.sessions.add(t.GroupID, cancel)
	defer done()
	s.log.Info("exec started", "account", accountID, "group", t.GroupID, "container", t.Container, "command", p.Command, "tty", p.TTY)
	code, err := s.rt.(Execer).Exec(ctx, t.GroupID, t.Container, p)
	if cause := context.Cause(ctx); errors.Is(cause, errGroupDeleted) {
		err = errdefs.New(errdefs.ErrNotFound, "group %s was deleted during the session, which ended it", t.GroupID)
	}
	if err != nil {
		s.log.Info("exec failed", "account", accountID, "group", t.GroupID, "container", t.Container, "err", err)
		return -1, err
	}
	s.log.Info("exec ended", "account", accountID, "group", t.GroupID, "container", t.Container, "exit_code", code)
	return code, nil
}

var errGroupDeleted = errors.New("group deleted")

// execSessions tracks the exec sessions of each group so that deleting
// the group ends them at once.
type execSessions struct {
	mu   sync.Mutex
	next uint64
	m    map[string]map[uint64]context.CancelCauseFunc
}

func (e *execSessions) add(groupID string, cancel context.CancelCauseFunc) (done func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]map[uint64]context.CancelCauseFunc{}
	}
	e.next++
	id := e.next
	if e.m[groupID] == nil {
		e.m[groupID] = map[uint64]context.CancelCauseFunc{}
	}
	e.m[groupID][id] = cancel
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.m[groupID], id)
		if len(e.m[groupID]) == 0 {
			delete(e.m, groupID)
		}
	}
}

// end cancels every session of a group and returns how many there were.
func (e *execSessions) end(groupID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, cancel := range e.m[groupID] {
		cancel(errGroupDeleted)
		n++
	}
	return n
}
