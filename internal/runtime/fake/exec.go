package fake

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// Exec runs nothing: for a container the status shows running, it writes
// "fake exec: <command>\n" to stdout, then copies stdin to stdout, and
// exits with the code the command's last argument names if it is
// "exit=N" (else 0); cancelling ctx ends it. With a TTY a Ctrl-D (EOT)
// ends the input, as a terminal does, and it reports every
// size on Resize as "fake exec: size WxH\n". See service.Execer.
func (r *Runtime) Exec(ctx context.Context, groupID, container string, p core.ExecProcess) (int, error) {
	r.mu.Lock()
	st, ok := r.status[groupID]
	r.mu.Unlock()
	if !ok {
		return -1, fmt.Errorf("group %q: %w", groupID, errdefs.ErrNotFound)
	}
	running := false
	for _, c := range st.Containers {
		running = running || c.Name == container && c.Current != nil && c.Current.State == core.StateRunning
	}
	if !running {
		return -1, errdefs.Wrap(errdefs.ErrFailedPrecondition, errdefs.ErrNotRunning, "container %s of group %s is not running", container, groupID)
	}
	out := p.Stdout
	if out == nil {
		out = io.Discard
	}
	if _, err := fmt.Fprintf(out, "fake exec: %s\n", strings.Join(p.Command, " ")); err != nil {
		return -1, err
	}
	w := &lockedWriter{w: out}
	out = w
	if p.TTY && p.Resize != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case sz := <-p.Resize:
					fmt.Fprintf(w, "fake exec: size %dx%d\n", sz.Width, sz.Height)
				case <-stop:
					return
				}
			}
		}()
	}
	if p.Stdin != nil {
		in := p.Stdin
		if p.TTY {
			in = &untilEOT{r: in}
		}
		copied := make(chan error, 1)
		go func() {
			_, err := io.Copy(out, in)
			copied <- err
		}()
		select {
		case err := <-copied:
			if err != nil {
				return -1, err
			}
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	code := 0
	if last := p.Command[len(p.Command)-1]; strings.HasPrefix(last, "exit=") {
		_, _ = fmt.Sscanf(last, "exit=%d", &code)
	}
	return code, ctx.Err()
}

// lockedWriter serialises the writes of two goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// untilEOT reads until an EOT byte (Ctrl-D), which it does not return.
type untilEOT struct {
	r    io.Reader
	done bool
}

func (u *untilEOT) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n, err := u.r.Read(p)
	for i := range n {
		if p[i] == 4 {
			u.done = true
			return i, nil
		}
	}
	return n, err
}
