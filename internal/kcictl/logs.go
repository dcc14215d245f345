package kcictl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

// logWindow is the most lines DescribeContainerLog returns (Tail 1–2000).
const logWindow = 2000

func (a *app) logsCommand() *cobra.Command {
	var (
		ctrName string
		tail    int
		follow  bool
	)
	cmd := &cobra.Command{
		Use:   "logs ID|NAME",
		Short: "Print a container's log (stdout and stderr)",
		Long: `logs prints the log of a container of a group: its stdout and stderr, in order,
as much as the API keeps (2000 lines at most).

With one container, -c is not needed; with several, the first is shown
unless -c names one.

-f follows the log: kcictl asks every second and prints only the lines it
has not printed, until the group ends or is deleted (or Ctrl-C). New lines
are found by lining the previous answer up with the new one; when more
than 2000 lines arrive between two asks, the ones in between are lost, and
a log made only of identical lines cannot be followed past 2000 lines.`,
		Example: `  kcictl logs web
  kcictl logs web -c sidecar --tail 20
  kcictl logs job -f`,
		Args:              exactArgs(1, "the container group ID or NAME"),
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail == 0 || tail < -1 || tail > logWindow {
				return usagef(cmd, "--tail %d: want 1-%d (or -1 for all there is)", tail, logWindow)
			}
			ctx := cmd.Context()
			g, name, err := a.resolveContainer(ctx, args[0], ctrName)
			if err != nil {
				return err
			}
			if !follow {
				c, _ := a.kci()
				n := tail
				if n < 0 {
					n = logWindow
				}
				out, err := c.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: g.ContainerGroupID, ContainerName: name, Tail: n})
				if err != nil {
					return err
				}
				_, err = io.WriteString(a.env.Stdout, out.Content)
				return err
			}
			_, err = a.follow(ctx, g.ContainerGroupID, name, tail, func(g *kci.ContainerGroup) bool {
				return kci.IsFinalStatus(g.Status)
			})
			if errors.Is(err, errGone) || errors.Is(err, context.Canceled) {
				return nil // deleted meanwhile, or Ctrl-C: the log simply ends
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&ctrName, "container", "c", "", "container name (default: the only or the first one)")
	cmd.Flags().IntVar(&tail, "tail", -1, "print only the last N lines (1-2000; -1: all there is)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the group ends")
	return cmd
}

// resolveContainer finds a group by ID or name and picks its container
// (name, or the only or first one).
func (a *app) resolveContainer(ctx context.Context, ref, name string) (*kci.ContainerGroup, string, error) {
	g, err := a.resolve(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	picked, err := a.pickContainer(g, name)
	return g, picked, err
}

func (a *app) pickContainer(g *kci.ContainerGroup, name string) (string, error) {
	var names []string
	for _, c := range g.Containers {
		names = append(names, c.Name)
	}
	switch {
	case name != "":
		if !slices.Contains(names, name) {
			return "", fmt.Errorf("container group %s has no container %q (it has %s)", g.ContainerGroupName, name, strings.Join(names, ", "))
		}
		return name, nil
	case len(names) == 0:
		return "", fmt.Errorf("container group %s has no containers", g.ContainerGroupName)
	case len(names) > 1:
		fmt.Fprintf(a.env.Stderr, "Showing container %s of %s (containers: %s; choose with -c)\n", names[0], g.ContainerGroupName, strings.Join(names, ", "))
	}
	return names[0], nil
}

// follow prints a container's log as it grows until stop says the group
// is done, then prints what remains. tail limits the first print (-1:
// everything). It returns the group as last seen.
func (a *app) follow(ctx context.Context, id, ctrName string, tail int, stop func(*kci.ContainerGroup) bool) (*kci.ContainerGroup, error) {
	c, err := a.kci()
	if err != nil {
		return nil, err
	}
	f := &logFollower{}
	for first := true; ; first = false {
		// Status before log: the log read after a "done" status is complete.
		page, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{id}})
		if err != nil {
			return nil, err
		}
		if len(page.ContainerGroups) == 0 {
			a.flushLog(f)
			return nil, errGone
		}
		g := &page.ContainerGroups[0]
		out, err := c.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: id, ContainerName: ctrName, Tail: logWindow})
		if kci.IsNotFound(err) {
			a.flushLog(f)
			return nil, errGone
		}
		if err != nil {
			return nil, err
		}
		lines := f.update(out.Content)
		if first && tail >= 0 && len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		if _, err := io.WriteString(a.env.Stdout, strings.Join(lines, "")); err != nil {
			return nil, err
		}
		if stop(g) {
			a.flushLog(f)
			return g, nil
		}
		if err := sleep(ctx, a.env.PollInterval); err != nil {
			return g, err
		}
	}
}

func (a *app) flushLog(f *logFollower) {
	if f.pending != "" {
		fmt.Fprintln(a.env.Stdout, f.pending)
		f.pending = ""
	}
}

// logFollower finds the new lines of a log from successive tails of it.
// Only complete lines are printed: a last line without its newline waits
// for the next answer (or the end).
type logFollower struct {
	started   bool
	prev      []string // complete lines of the last answer
	truncated bool     // the last answer was a full window: older lines exist
	pending   string   // an incomplete last line
}

// update takes the latest answer and returns the complete lines not
// returned before, each with its newline.
func (f *logFollower) update(content string) []string {
	lines := strings.SplitAfter(content, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	truncated := len(lines) >= logWindow
	partial := ""
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		partial, lines = lines[n-1], lines[:n-1]
	}
	var fresh []string
	switch {
	case !f.started:
		fresh = lines
	case !truncated && !f.truncated:
		// Both answers hold the whole log: the new lines are past the old
		// ones, unless the log was replaced (then it is all new).
		if len(lines) >= len(f.prev) && slices.Equal(lines[:len(f.prev)], f.prev) {
			fresh = lines[len(f.prev):]
		} else {
			fresh = lines
		}
	default:
		// Windows of the tail: the smallest shift d that lines the old
		// window up with the start of the new one.
		fresh = lines
		for d := 0; d <= len(f.prev); d++ {
			rest := f.prev[d:]
			if len(rest) <= len(lines) && slices.Equal(rest, lines[:len(rest)]) {
				fresh = lines[len(rest):]
				break
			}
		}
	}
	f.started, f.prev, f.truncated, f.pending = true, lines, truncated, partial
	return fresh
}
