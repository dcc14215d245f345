package kcictl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

// errGone: the group is no longer there (deleted).
var errGone = errors.New("the container group no longer exists")

// poller asks for one group until a condition holds, showing its status
// changes and new events on a progress display.
type poller struct {
	a        *app
	id, name string
	show     *progress // nil: quiet

	status string
	events map[string]int // Type/Reason/Message → Count shown
}

func (a *app) newPoller(g *kci.ContainerGroup, show *progress) *poller {
	return &poller{a: a, id: g.ContainerGroupID, name: g.ContainerGroupName, show: show, events: map[string]int{}}
}

// until polls every PollInterval until done says true (or fails), the
// group disappears (errGone), or ctx ends.
func (p *poller) until(ctx context.Context, done func(*kci.ContainerGroup) (bool, error)) (*kci.ContainerGroup, error) {
	c, err := p.a.kci()
	if err != nil {
		return nil, err
	}
	// last is returned with errors too, so that a time-out can say where
	// the group was; before the first answer it only has ID and name.
	last := &kci.ContainerGroup{ContainerGroupID: p.id, ContainerGroupName: p.name, Status: "unknown"}
	for {
		page, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{p.id}})
		if err != nil {
			return last, err
		}
		if len(page.ContainerGroups) == 0 {
			return last, errGone
		}
		last = &page.ContainerGroups[0]
		p.observe(last)
		ok, err := done(last)
		if ok || err != nil {
			return last, err
		}
		if err := sleep(ctx, p.a.env.PollInterval); err != nil {
			return last, err
		}
	}
}

// observe shows a new status and the events not shown yet.
func (p *poller) observe(g *kci.ContainerGroup) {
	if p.show == nil {
		return
	}
	for _, e := range g.Events {
		k := e.Type + "\x00" + e.Reason + "\x00" + e.Message
		if p.events[k] >= e.Count {
			continue
		}
		p.events[k] = e.Count
		line := fmt.Sprintf("%-8s %-10s %s", e.Type, e.Reason, e.Message)
		if e.Count > 1 {
			line += fmt.Sprintf(" (x%d)", e.Count)
		}
		p.show.line(line)
	}
	if g.Status != p.status {
		p.status = g.Status
		p.show.line(fmt.Sprintf("%-8s %s", "Status", g.Status))
		p.show.setStatus(g.Status)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// progress shows lines as they come; on a terminal it keeps a spinner line
// with the current status and the time waited below them.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	now   func() time.Time
	start time.Time

	mu     sync.Mutex
	status string
	frame  int
	drawn  bool
	stop   chan struct{}
	done   chan struct{}
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (a *app) newProgress(label string) *progress {
	p := &progress{w: a.env.Stderr, tty: a.env.StderrIsTerminal, label: label, now: a.env.Now, start: a.env.Now()}
	if p.tty {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.spin()
	}
	return p
}

func (p *progress) spin() {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw rewrites the spinner line; callers hold mu.
func (p *progress) draw() {
	status := p.status
	if status == "" {
		status = "…"
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s: %s (%s)", spinnerFrames[p.frame%len(spinnerFrames)], p.label, status, age(p.now().Sub(p.start)))
	p.drawn = true
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// line prints a line above the spinner.
func (p *progress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, strings.TrimRight(s, "\n"))
	if p.tty {
		p.draw()
	}
}

func (p *progress) setStatus(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = s
	if p.tty {
		p.draw()
	}
}

// close removes the spinner; the display must not be used afterwards.
func (p *progress) close() {
	if p == nil {
		return
	}
	if p.tty {
		close(p.stop)
		<-p.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// failure explains why a group did not reach where it was asked to: the
// reasons of its containers and its last warning.
func failure(g *kci.ContainerGroup) string {
	var parts []string
	for _, c := range g.Containers {
		st := c.CurrentState
		if st == nil {
			continue
		}
		switch {
		case st.State == kci.StateTerminated && st.ExitCode != nil:
			parts = append(parts, fmt.Sprintf("container %s %s, exit code %d", c.Name, orNone(st.ReasonString()), *st.ExitCode))
		case st.ReasonString() != "":
			parts = append(parts, fmt.Sprintf("container %s %s %s", c.Name, st.State, st.ReasonString()))
		}
	}
	for i := len(g.Events) - 1; i >= 0; i-- {
		if g.Events[i].Type == "Warning" {
			parts = append(parts, fmt.Sprintf("last warning: %s: %s", g.Events[i].Reason, g.Events[i].Message))
			break
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
