package kcictl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/openkci/openkci/pkg/kci"
)

func (a *app) execCommand() *cobra.Command {
	var (
		ctrName         string
		stdin, allocTTY bool
	)
	cmd := &cobra.Command{
		Use:   "exec ID|NAME [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Long: `exec runs a command in a running container of a group, through
ExecContainerCommand's WebSocket (docs/exec.md), as kubectl exec and
docker exec do.

-i sends kcictl's stdin to the command (Ctrl-D, or the end of a piped
input, closes it). -t gives the command a terminal: kcictl's own terminal
is put in raw mode for the session (every key goes to the command) and its
size follows kcictl's window. kcictl exits with the command's exit code.

With one container, -c is not needed; with several, the first is used
unless -c names one.`,
		Example: `  kcictl exec web -it -- sh
  kcictl exec web -c sidecar -- cat /etc/hosts
  echo hi | kcictl exec web -i -- cat`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usagef(cmd, "exec needs the container group ID or NAME and, after --, the command")
			case cmd.ArgsLenAtDash() != 1 || len(args) < 2:
				return usagef(cmd, "give the command after --, e.g. kcictl exec %s -- sh", args[0])
			}
			return nil
		},
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			g, name, err := a.resolveContainer(ctx, args[0], ctrName)
			if err != nil {
				return err
			}
			c, err := a.kci()
			if err != nil {
				return err
			}
			resp, err := c.ExecContainerCommand(ctx, &kci.ExecContainerCommandRequest{
				ContainerGroupID: g.ContainerGroupID, ContainerName: name, Command: args[1:], TTY: allocTTY, Stdin: &stdin,
			})
			if err != nil {
				return err
			}
			code, err := a.stream(ctx, resp.WebSocketURI, stdin, allocTTY)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&ctrName, "container", "c", "", "container name (default: the only or the first one)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", false, "pass stdin to the command")
	cmd.Flags().BoolVarP(&allocTTY, "tty", "t", false, "give the command a terminal (raw mode; the window size follows)")
	return cmd
}

// stream attaches kcictl's stdin, stdout and stderr to the exec socket.
// With a TTY on a terminal, the terminal is raw for the session and
// SIGWINCH sends its new size.
func (a *app) stream(ctx context.Context, uri string, stdin, tty bool) (int, error) {
	s := kci.ExecStreams{Stdout: a.env.Stdout, Stderr: a.env.Stderr}
	if stdin {
		s.Stdin = a.env.Stdin
	}
	in, _ := a.env.Stdin.(*os.File)
	if tty && in != nil && term.IsTerminal(int(in.Fd())) {
		if stdin {
			old, err := term.MakeRaw(int(in.Fd()))
			if err != nil {
				return -1, fmt.Errorf("put the terminal in raw mode: %w", err)
			}
			defer func() { _ = term.Restore(int(in.Fd()), old) }()
		}
		sizes := make(chan kci.TermSize, 1)
		s.Resize = sizes
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		send := func() {
			w, h, err := term.GetSize(int(in.Fd()))
			if err != nil || w <= 0 || h <= 0 {
				return
			}
			select {
			case <-sizes: // replace a size not sent yet
			default:
			}
			sizes <- kci.TermSize{Width: uint16(w), Height: uint16(h)}
		}
		send()
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-winch:
					send()
				case <-done:
					return
				}
			}
		}()
	} else if tty && stdin {
		fmt.Fprintln(a.env.Stderr, "Unable to use a TTY: kcictl's input is not a terminal")
	}
	code, err := kci.StreamExec(ctx, uri, s)
	if err != nil && errors.Is(err, io.ErrUnexpectedEOF) {
		return -1, fmt.Errorf("the exec session broke off: %w", err)
	}
	return code, err
}
