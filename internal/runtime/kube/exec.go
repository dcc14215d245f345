package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// Exec runs p in a running container of the group's pod through the
// pods/exec subresource, over client-go's WebSocket executor (the
// v5.channel.k8s.io protocol, which the API server bridges to the
// kubelet), and returns the exit code. See service.Execer.
func (r *Runtime) Exec(ctx context.Context, groupID, container string, p core.ExecProcess) (int, error) {
	pod := r.pod(groupID)
	if pod == nil {
		return -1, &kcierr.NotFoundError{Kind: "ContainerGroup", ID: groupID}
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == container }) {
		return -1, &kcierr.NotFoundError{Kind: "Container", ID: container}
	}
	running := slices.ContainsFunc(pod.Status.ContainerStatuses, func(cs corev1.ContainerStatus) bool {
		return cs.Name == container && cs.State.Running != nil
	})
	if !running {
		return -1, kcierr.Wrap(kcierr.ErrFailedPrecondition, kcierr.ErrNotRunning, "container %s of group %s is not running", container, groupID)
	}
	if r.cfg.REST == nil {
		return -1, kcierr.New(kcierr.ErrInternal, "the Kubernetes runtime was built without a REST configuration, which pods/exec needs")
	}
	if p.TTY {
		// The kubelet ends a TTY session's process itself (the terminal
		// hangs up when the stream closes).
		return r.stream(ctx, pod, container, p.Command, p, p.Stderr)
	}
	// Without a TTY the kubelet lets the process run on when the stream
	// closes: it runs under execWrapper, which tells kcid its PID on
	// stderr, so kcid can kill it when the session ends early.
	marker := &execMarker{w: p.Stderr}
	if marker.w == nil {
		marker.w = io.Discard
	}
	code, err := r.stream(ctx, pod, container, append([]string{"sh", "-c", execWrapper, "kcid-exec"}, p.Command...), p, marker)
	marker.flush()
	pid, notFound, seen := marker.result()
	switch {
	case notFound:
		return -1, core.ExecStartError(container, fmt.Errorf("exec: %q: executable file not found in $PATH", p.Command[0]))
	case !seen && err != nil && ctx.Err() == nil && p.Command[0] != "sh":
		// No sh in the image: the command runs as it is, and cannot be
		// killed when its session ends early (docs/exec.md).
		var pe *kcierr.ParamError
		if errors.As(err, &pe) {
			r.log.Debug("exec without the kill wrapper: the container has no sh", "group", groupID, "container", container)
			return r.stream(ctx, pod, container, p.Command, p, p.Stderr)
		}
	case ctx.Err() != nil && pid != "":
		r.killExec(pod, container, pid)
	}
	return code, err
}

// execWrapper runs a non-TTY command ("$@") in place of a shell that
// first says on stderr whether the program exists (as runc would refuse
// it) and its PID: the exec'd command keeps that PID.
const (
	execPIDMarker      = "kcid-exec-pid "
	execNotFoundMarker = "kcid-exec-not-found"
	execWrapper        = `command -v -- "$1" >/dev/null 2>&1 || { echo ` + execNotFoundMarker + ` >&2; exit 127; }; echo "` + execPIDMarker + `$$" >&2; exec "$@"`
)

// killExec kills, with a second exec, the process of a session that ended
// before its command did.
func (r *Runtime) killExec(pod *corev1.Pod, container, pid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := core.NewCappedBuffer(4096) // stdout and stderr share it
	code, err := r.stream(ctx, pod, container, []string{"sh", "-c", "kill -KILL " + pid}, core.ExecProcess{Stdout: out}, out)
	if err != nil || code != 0 {
		r.log.Warn("kill of an exec whose session ended", "pod", pod.Name, "container", container, "pid", pid, "code", code, "err", err, "output", out.String())
		return
	}
	r.log.Info("killed an exec whose session ended", "pod", pod.Name, "container", container, "pid", pid)
}

// stream runs command in the container over pods/exec with p's streams
// (stderr given apart) and returns its exit code.
func (r *Runtime) stream(ctx context.Context, pod *corev1.Pod, container string, command []string, p core.ExecProcess, stderr io.Writer) (int, error) {
	req := r.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: command, TTY: p.TTY,
			Stdin: p.Stdin != nil, Stdout: true, Stderr: !p.TTY,
		}, scheme.ParameterCodec)
	exe, err := remotecommand.NewWebSocketExecutor(r.cfg.REST, "GET", req.URL().String())
	if err != nil {
		return -1, fmt.Errorf("pods/exec executor: %w", err)
	}
	opts := remotecommand.StreamOptions{Stdin: p.Stdin, Stdout: p.Stdout, Tty: p.TTY}
	if !p.TTY {
		opts.Stderr = stderr
	}
	if p.TTY && p.Resize != nil {
		done := make(chan struct{})
		defer close(done)
		opts.TerminalSizeQueue = sizeQueue{sizes: p.Resize, done: done}
	}
	err = exe.StreamWithContext(ctx, opts)
	var exit utilexec.CodeExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.Code, nil
	case ctx.Err() != nil:
		return -1, ctx.Err()
	}
	return -1, core.ExecStartError(container, err)
}

// execMarker passes stderr on to w, except the wrapper's first line
// (execWrapper), which it keeps.
type execMarker struct {
	w io.Writer

	mu       sync.Mutex
	buf      []byte
	done     bool
	pid      string
	notFound bool
}

func (m *execMarker) Write(p []byte) (int, error) {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return m.w.Write(p)
	}
	m.buf = append(m.buf, p...)
	i := bytes.IndexByte(m.buf, '\n')
	if i < 0 && len(m.buf) < 64 {
		m.mu.Unlock()
		return len(p), nil
	}
	rest := m.buf
	if i >= 0 {
		line := string(m.buf[:i])
		switch {
		case line == execNotFoundMarker:
			m.notFound, rest = true, m.buf[i+1:]
		case strings.HasPrefix(line, execPIDMarker):
			if pid := strings.TrimPrefix(line, execPIDMarker); pid != "" && strings.Trim(pid, "0123456789") == "" {
				m.pid, rest = pid, m.buf[i+1:]
			}
		}
	}
	m.done, m.buf = true, nil
	m.mu.Unlock()
	if len(rest) > 0 {
		if _, err := m.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush passes on what is held back (a first line that never ended).
func (m *execMarker) flush() {
	m.mu.Lock()
	rest := m.buf
	m.done, m.buf = true, nil
	m.mu.Unlock()
	if len(rest) > 0 {
		_, _ = m.w.Write(rest)
	}
}

// result returns the PID the wrapper reported, whether it found the
// program missing, and whether it said anything.
func (m *execMarker) result() (pid string, notFound, seen bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pid, m.notFound, m.pid != "" || m.notFound
}

// sizeQueue hands the session's terminal sizes to client-go until the
// session ends.
type sizeQueue struct {
	sizes <-chan core.TermSize
	done  <-chan struct{}
}

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s, ok := <-q.sizes:
		if !ok {
			return nil
		}
		return &remotecommand.TerminalSize{Width: s.Width, Height: s.Height}
	case <-q.done:
		return nil
	}
}
