package service

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
)

// noExec is a runtime without the Execer ability.
type noExec struct{ Runtime }

func TestCheckExec(t *testing.T) {
	rt := fake.New()
	s, _ := newTestService(t, rt)
	ctx := context.Background()
	one, err := s.CreateGroup(ctx, req("one"))
	if err != nil {
		t.Fatal(err)
	}
	two := req("two")
	two.Group.Containers = append(two.Group.Containers, core.Container{Name: "d", Image: "i"})
	g2, err := s.CreateGroup(ctx, two)
	if err != nil {
		t.Fatal(err)
	}
	rt.SetStatus(g2.ID, core.GroupStatus{Phase: core.PhaseRunning, Containers: []core.ContainerStatus{
		{Name: "c", Current: &core.ContainerState{State: core.StateRunning}},
		{Name: "d", Current: &core.ContainerState{State: core.StateWaiting, Reason: "CrashLoopBackOff"}},
	}})
	for _, tc := range []struct {
		name, account, group, container string
		want                            ExecTarget
		class                           error
		msg                             string
	}{
		{"only container", "acc", one.ID, "", ExecTarget{one.ID, "c"}, nil, ""},
		{"named", "acc", g2.ID, "c", ExecTarget{g2.ID, "c"}, nil, ""},
		{"which one", "acc", g2.ID, "", ExecTarget{}, errdefs.ErrInvalidArgument, "has 2 containers ([c d])"},
		{"waiting", "acc", g2.ID, "d", ExecTarget{}, errdefs.ErrFailedPrecondition, "is waiting (CrashLoopBackOff)"},
		{"unknown container", "acc", g2.ID, "x", ExecTarget{}, errdefs.ErrNotFound, "x"},
		{"other account", "other", g2.ID, "c", ExecTarget{}, errdefs.ErrNotFound, g2.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.CheckExec(ctx, tc.account, tc.group, tc.container)
			if tc.class == nil {
				if err != nil || got != tc.want {
					t.Fatalf("CheckExec = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if errdefs.Class(err) != tc.class || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("CheckExec err = %v (class %v), want class %v mentioning %q", err, errdefs.Class(err), tc.class, tc.msg)
			}
			if tc.class == errdefs.ErrFailedPrecondition && !errors.Is(err, errdefs.ErrNotRunning) {
				t.Fatalf("not running is not ErrNotRunning: %v", err)
			}
		})
	}
	s.rt = noExec{rt}
	if _, err := s.CheckExec(ctx, "acc", one.ID, "c"); !errors.Is(err, ErrExecUnsupported) {
		t.Fatalf("runtime without exec: %v", err)
	}
}

// TestDeleteEndsExecSessions: deleting a group cancels its sessions, which
// end with an error saying so; other groups' sessions go on.
func TestDeleteEndsExecSessions(t *testing.T) {
	rt := fake.New()
	s, _ := newTestService(t, rt)
	ctx := context.Background()
	victim, _ := s.CreateGroup(ctx, req("victim"))
	other, _ := s.CreateGroup(ctx, req("other"))
	type result struct {
		code int
		err  error
	}
	start := func(id string) (chan result, *io.PipeWriter) {
		r, w := io.Pipe()
		out := make(chan result, 1)
		go func() {
			code, err := s.Exec(ctx, "acc", ExecTarget{id, "c"}, core.ExecProcess{Command: []string{"sh"}, Stdin: r, Stdout: io.Discard})
			out <- result{code, err}
		}()
		return out, w
	}
	victimDone, _ := start(victim.ID)
	otherDone, otherIn := start(other.ID)
	// Both sessions are registered before the delete.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.sessions.mu.Lock()
		n := len(s.sessions.m)
		s.sessions.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d groups with sessions, want 2", n)
		}
	}
	if err := s.DeleteGroup(ctx, "acc", victim.ID, false); err != nil {
		t.Fatal(err)
	}
	r := <-victimDone
	if !errdefs.IsNotFound(r.err) || !strings.Contains(errdefs.PublicMessage(r.err), "was deleted during the session") {
		t.Fatalf("session of the deleted group: %d %v", r.code, r.err)
	}
	select {
	case r := <-otherDone:
		t.Fatalf("the other group's session ended too: %v", r.err)
	default:
	}
	otherIn.Close()
	if r := <-otherDone; r.err != nil || r.code != 0 {
		t.Fatalf("other session: %d %v", r.code, r.err)
	}
}
