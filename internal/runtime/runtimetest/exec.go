package runtimetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/remotecommand"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/internal/testutil"
)

// testExec: a command in a running container gets its own stdout,
// stderr and exit code; stdin reaches it; a TTY has the size the caller
// sets; cancelling the context kills the command; a container that is not
// running, or unknown, is refused.
func testExec(t *testing.T, e Env) {
	if e.NoExec != "" {
		testenv.SkipOrFatal(t, "exec: %s", e.NoExec)
	}
	ex, ok := e.Runtime.(service.Execer)
	if !ok {
		t.Fatalf("%T does not implement service.Execer", e.Runtime)
	}
	g := e.NewGroup(t, "exec")
	g.RestartPolicy = core.RestartNever
	g.Containers = []core.Container{e.ctr("main", "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"), e.ctr("done", "true")}
	e.start(t, g)
	e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		m, d := Container(s, "main"), Container(s, "done")
		return m.Current != nil && m.Current.State == core.StateRunning && d.Current != nil && d.Current.State == core.StateTerminated
	})
	ctx := context.Background()

	t.Run("StdoutStderrExitCode", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code, err := ex.Exec(ctx, g.ID, "main", core.ExecProcess{
			Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Stdout: &out, Stderr: &errOut})
		if err != nil || code != 3 || out.String() != "out\n" || errOut.String() != "err\n" {
			t.Errorf("code %d err %v stdout %q stderr %q; want 3, nil, \"out\\n\", \"err\\n\"", code, err, out.String(), errOut.String())
		}
	})

	t.Run("StdinRoundTrip", func(t *testing.T) {
		raw := make([]byte, 96<<10)
		_, _ = rand.Read(raw)
		data := hex.EncodeToString(raw) + "\n" // text; 192 KiB, more than a pipe holds
		var out bytes.Buffer
		code, err := ex.Exec(ctx, g.ID, "main", core.ExecProcess{Command: []string{"cat"}, Stdin: strings.NewReader(data), Stdout: &out})
		if err != nil || code != 0 || out.String() != data {
			t.Errorf("cat: code %d err %v, %d of %d bytes back, equal %v", code, err, out.Len(), len(data), out.String() == data)
		}
	})

	t.Run("TTYResize", func(t *testing.T) {
		stdinR, stdinW := io.Pipe()
		out := &testutil.SyncBuffer{}
		resize := make(chan core.TermSize, 1)
		resize <- core.TermSize{Width: 111, Height: 33}
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := ex.Exec(ctx, g.ID, "main", core.ExecProcess{Command: []string{"sh"}, TTY: true, Stdin: stdinR, Stdout: out, Resize: resize})
			done <- result{code, err}
		}()
		// The size is applied once the process runs: ask until it shows.
		waitFor := func(want string) {
			t.Helper()
			deadline := time.Now().Add(e.Timeout)
			for !strings.Contains(out.String(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("the terminal never showed %q:\n%s", want, out.String())
				}
				_, _ = io.WriteString(stdinW, "stty size\n")
				time.Sleep(200 * time.Millisecond)
			}
		}
		waitFor("33 111")
		resize <- core.TermSize{Width: 120, Height: 40}
		waitFor("40 120")
		_, _ = io.WriteString(stdinW, "exit 5\n")
		r := <-done
		stdinW.Close()
		if r.err != nil || r.code != 5 {
			t.Errorf("tty shell: code %d err %v, want 5", r.code, r.err)
		}
	})

	t.Run("CancelKills", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		out := &testutil.SyncBuffer{}
		done := make(chan error, 1)
		go func() {
			_, err := ex.Exec(cctx, g.ID, "main", core.ExecProcess{Command: []string{"sh", "-c", "echo started; exec sleep 3601"}, Stdout: out})
			done <- err
		}()
		deadline := time.Now().Add(e.Timeout)
		for !strings.Contains(out.String(), "started") {
			if time.Now().After(deadline) {
				t.Fatalf("exec never started: %q", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		<-done
		// The process is gone from the container.
		for {
			var ps bytes.Buffer
			if _, err := ex.Exec(ctx, g.ID, "main", core.ExecProcess{Command: []string{"ps"}, Stdout: &ps}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ps.String(), "sleep 3601") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cancelled command still runs:\n%s", ps.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := ex.Exec(ctx, g.ID, "done", core.ExecProcess{Command: []string{"true"}, Stdout: &out}); !errors.Is(err, errdefs.ErrNotRunning) {
			t.Errorf("exec into a terminated container: %v, want ErrNotRunning", err)
		}
		if _, err := ex.Exec(ctx, g.ID, "nope", core.ExecProcess{Command: []string{"true"}, Stdout: &out}); !errdefs.IsNotFound(err) {
			t.Errorf("exec into an unknown container: %v, want ErrNotFound", err)
		}
		_, err := ex.Exec(ctx, g.ID, "main", core.ExecProcess{Command: []string{"no-such-program"}, Stdout: &out})
		var pe *errdefs.ParamError
		if !errors.As(err, &pe) || pe.Param != "Command.N" || !strings.Contains(pe.Detail, "no-such-program") {
			t.Errorf("exec of a missing program: %v, want a ParamError for Command.N naming it", err)
		}
		if _, err := ex.Exec(ctx, "no-such-group", "main", core.ExecProcess{Command: []string{"true"}, Stdout: &out}); !errdefs.IsNotFound(err) {
			t.Errorf("exec into an unknown group: %v, want ErrNotFound", err)
		}
	})
}

// TermSizes hands client-go's remotecommand the terminal sizes sent on it,
// until it is closed (tests that drive an exec socket as kubectl does).
type TermSizes chan remotecommand.TerminalSize

// Next returns the next size, or nil once closed.
func (q TermSizes) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}
