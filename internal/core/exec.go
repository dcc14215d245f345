package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/openkci/openkci/internal/errdefs"
)

// ExecProcess is a command to run inside a running container, with the
// streams it is attached to.
type ExecProcess struct {
	// Command is argv; Command[0] is looked up in the container's PATH.
	Command []string
	// TTY gives the process a pseudo-terminal: stderr is merged into
	// stdout and Resize applies.
	TTY bool
	// Stdin feeds the process; nil means the process gets no stdin (it
	// reads EOF). Its EOF closes the process's stdin.
	Stdin io.Reader
	// Stdout receives the process's output (and, with TTY, its stderr).
	Stdout io.Writer
	// Stderr receives stderr when TTY is false; nil discards it.
	Stderr io.Writer
	// Resize carries terminal size changes (TTY only); nil means none
	// will come. The runtime reads it until the process exits; where it
	// can, it waits briefly for the first size and starts the process
	// with it (FirstTermSizeWait), so the first thing the command sees is
	// the client's terminal, not 0x0.
	Resize <-chan TermSize
}

// FirstTermSizeWait bounds how long a TTY exec waits for the client's
// first terminal size before it starts without one. Clients send it as
// the session opens (kubectl, client-go, kcictl, the console): the wait
// costs them a round trip, a client that never sends one this much.
const FirstTermSizeWait = time.Second

// TermSize is a terminal's size in characters.
type TermSize struct {
	Width, Height uint16
}

// ExecStartError tells a command that cannot be started — runc's `exec:
// "prog": executable file not found in $PATH`, no such file, permission
// denied, whichever engine relays it — apart from a fault of the runtime:
// the former is a ParamError naming Command.N with runc's reason; the
// latter is err with context.
func ExecStartError(container string, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, `exec: "`); i >= 0 {
		detail := strings.TrimSuffix(msg[i+len("exec: "):], ": unknown")
		return errors.Join(errdefs.Param(errdefs.CodeInvalidParameterValue, "Command.N",
			"the command cannot be started in container %s: %s", container, detail), err)
	}
	return fmt.Errorf("start exec in container %q: %w", container, err)
}

// CappedBuffer keeps the first max bytes written to it and discards the
// rest (an exec's output kept for a response or an event). Writes are
// serialised, so stdout and stderr may share one.
type CappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

// NewCappedBuffer returns a buffer that keeps at most max bytes.
func NewCappedBuffer(max int) *CappedBuffer { return &CappedBuffer{max: max} }

// Write keeps what fits and reports the whole of p written.
func (b *CappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// String returns what was kept.
func (b *CappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
