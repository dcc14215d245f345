package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	cerrdefs "github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// execDrainTimeout bounds how long Exec waits, after the process exited,
// for its output to be copied: a background child that inherited stdout
// would otherwise hold the session open.
const execDrainTimeout = 5 * time.Second

// Exec runs p in the running task of one of the group's containers (a
// containerd exec process with the container's user, environment and
// working directory; with a console when p.TTY) and returns its exit
// code. See service.Execer.
func (r *Runtime) Exec(ctx context.Context, groupID, container string, p core.ExecProcess) (int, error) {
	r.mu.Lock()
	w := r.groups[groupID]
	r.mu.Unlock()
	if w == nil {
		return -1, fmt.Errorf("group %q: %w", groupID, kcierr.ErrNotFound)
	}
	if w.container(container) == nil {
		return -1, fmt.Errorf("container %q of group %q: %w", container, groupID, kcierr.ErrNotFound)
	}
	ctx = r.nsCtx(ctx)
	task, err := r.runningTask(ctx, groupID, container)
	if err != nil {
		return -1, err
	}
	cont, err := r.client.LoadContainer(ctx, ctrID(groupID, container))
	if err != nil {
		return -1, kcierr.Wrap(kcierr.ErrFailedPrecondition, kcierr.ErrNotRunning, "container %s of group %s has no running task", container, groupID)
	}
	spec, err := cont.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("spec of container %q: %w", container, err)
	}
	proc := *spec.Process
	proc.Args = p.Command
	proc.Terminal = p.TTY
	proc.ConsoleSize = nil
	if p.TTY && p.Resize != nil {
		// runc sizes the console before the command runs: `stty size` as
		// the first command sees the client's terminal.
		if sz, ok := firstTermSize(ctx, p.Resize); ok {
			proc.ConsoleSize = &specs.Box{Width: uint(sz.Width), Height: uint(sz.Height)}
		}
	}

	// The shim opens every output pipe it is given a path for; give it
	// both (a nil writer would leave a path empty).
	stdout, stderr := p.Stdout, p.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil && !p.TTY {
		stderr = io.Discard
	}
	// At stdin's EOF the shim must be told to close the process's stdin:
	// it holds the FIFO open itself.
	var stdin io.Reader
	stdinEOF := make(chan struct{})
	if p.Stdin != nil {
		stdin = &eofReader{r: p.Stdin, eof: stdinEOF}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if p.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(8)
	// The process outlives ctx by as long as it takes to kill and reap it.
	bg := context.WithoutCancel(ctx)
	process, err := task.Exec(bg, execID, &proc, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", container, err)
	}
	defer func() {
		if _, err := process.Delete(bg, containerd.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "group", groupID, "container", container, "exec", execID, "err", err)
		}
	}()
	statusC, err := process.Wait(bg)
	if err != nil {
		return -1, fmt.Errorf("wait for exec in container %q: %w", container, err)
	}
	if err := process.Start(bg); err != nil {
		return -1, core.ExecStartError(container, err)
	}
	resizeDone := make(chan struct{})
	defer close(resizeDone)
	if stdin != nil {
		go func() {
			select {
			case <-stdinEOF:
				if err := process.CloseIO(bg, containerd.WithStdinCloser); err != nil && !cerrdefs.IsNotFound(err) {
					r.log.Debug("close exec stdin", "exec", execID, "err", err)
				}
			case <-resizeDone:
			}
		}()
	}
	if p.TTY && p.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-p.Resize:
					if !ok {
						return
					}
					err := process.Resize(bg, uint32(sz.Width), uint32(sz.Height))
					r.log.Debug("resize exec console", "exec", execID, "width", sz.Width, "height", sz.Height, "err", err)
				case <-resizeDone:
					return
				}
			}
		}()
	}
	var st containerd.ExitStatus
	select {
	case st = <-statusC:
	case <-ctx.Done():
		if err := process.Kill(bg, syscall.SIGKILL); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("kill exec process", "exec", execID, "err", err)
		}
		st = <-statusC
	}
	r.drainExecIO(process.IO())
	code, _, err := st.Result()
	if err != nil {
		return -1, fmt.Errorf("exit status of exec in container %q: %w", container, err)
	}
	return int(code), nil
}

// firstTermSize waits up to core.FirstTermSizeWait for a TTY client's
// first terminal size.
func firstTermSize(ctx context.Context, sizes <-chan core.TermSize) (core.TermSize, bool) {
	t := time.NewTimer(core.FirstTermSizeWait)
	defer t.Stop()
	select {
	case sz, ok := <-sizes:
		return sz, ok && sz.Width > 0 && sz.Height > 0
	case <-t.C:
	case <-ctx.Done():
	}
	return core.TermSize{}, false
}

// runningTask returns the container's task if it is running.
func (r *Runtime) runningTask(ctx context.Context, groupID, container string) (containerd.Task, error) {
	cont, err := r.client.LoadContainer(ctx, ctrID(groupID, container))
	if err != nil {
		return nil, kcierr.Wrap(kcierr.ErrFailedPrecondition, kcierr.ErrNotRunning, "container %s of group %s has no running task", container, groupID)
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		return nil, kcierr.Wrap(kcierr.ErrFailedPrecondition, kcierr.ErrNotRunning, "container %s of group %s has no running task", container, groupID)
	}
	s, err := task.Status(ctx)
	if err != nil || s.Status != containerd.Running {
		return nil, kcierr.Wrap(kcierr.ErrFailedPrecondition, kcierr.ErrNotRunning, "container %s of group %s is %s, not running", container, groupID, s.Status)
	}
	return task, nil
}

// drainExecIO waits for the process's output to be copied, then closes
// its pipes.
func (r *Runtime) drainExecIO(io cio.IO) {
	if io == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(execDrainTimeout):
		io.Cancel()
	}
	io.Close()
}

// eofReader closes eof when its reader ends (EOF or error).
type eofReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
