package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
	req := r.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: p.Command, TTY: p.TTY,
			Stdin: p.Stdin != nil, Stdout: true, Stderr: !p.TTY,
		}, scheme.ParameterCodec)
	exe, err := remotecommand.NewWebSocketExecutor(r.cfg.REST, "GET", req.URL().String())
	if err != nil {
		return -1, fmt.Errorf("pods/exec executor: %w", err)
	}
	opts := remotecommand.StreamOptions{Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr, Tty: p.TTY}
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
