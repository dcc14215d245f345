package containerd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
)

// A prober runs the probes of one running attempt of a container, as the
// kubelet's prober workers do: lifecycle.Probes decides when each probe
// runs and what its results mean; the prober runs them (exec: a task exec
// in the container; HTTP and TCP: to the group's address from the host,
// where the kubelet also probes from), records Unhealthy and Killing
// events, and kills the attempt when a liveness or startup probe fails.
// The exit that follows is an ordinary exit: the restart policy and its
// back-off decide what comes next, and the next attempt gets a new prober.
//
// A prober ends when its attempt exits (stopProber from exited), when the
// group is removed or the runtime closed (the worker's context).
type prober struct {
	cancel context.CancelFunc
	// probes is guarded by the group's mu (status reads readiness).
	probes *lifecycle.Probes
	// base is the runtime clock's reading when the prober started, at
	// the monotonic instant mono: the prober's times are base plus the
	// monotonic time since, so a jump of the wall clock neither stalls
	// the probes nor runs them all at once.
	base, mono time.Time
}

// now is the prober's time (see base).
func (p *prober) now() time.Time { return p.base.Add(time.Since(p.mono)) }

// probeOutputMax bounds the output of a probe kept for its event.
const probeOutputMax = 1024

func hasProbes(c *core.Container) bool {
	return c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil
}

func probeOf(c *core.Container, kind string) *core.Probe {
	switch kind {
	case core.ProbeLiveness:
		return c.LivenessProbe
	case core.ProbeReadiness:
		return c.ReadinessProbe
	default:
		return c.StartupProbe
	}
}

// startProber starts the prober of the running attempt of the named
// container (replacing an older one), timed from the attempt's recorded
// start, so a re-adopted container keeps its initial delays.
func (g *group) startProber(name string) {
	c := g.container(name)
	if c == nil || !hasProbes(c) {
		return
	}
	ctx, cancel := context.WithCancel(g.ctx)
	g.mu.Lock()
	startedAt := g.now()
	if lc := g.st.Life.Container(name); lc != nil && !lc.Current.StartedAt.IsZero() {
		startedAt = lc.Current.StartedAt
	}
	if old := g.probers[name]; old != nil {
		old.cancel()
	}
	p := &prober{cancel: cancel, probes: lifecycle.NewProbes(c, startedAt), base: g.now(), mono: time.Now()}
	g.probers[name] = p
	g.mu.Unlock()
	go g.runProber(ctx, c, p)
}

// stopProber ends the prober of the named container, if it has one.
func (g *group) stopProber(name string) {
	g.mu.Lock()
	p := g.probers[name]
	delete(g.probers, name)
	g.mu.Unlock()
	if p != nil {
		p.cancel()
	}
}

// ready reports the readiness of a container shown running: without
// probes it is ready; with probes its prober says (not ready before its
// prober started). The caller holds g.mu.
func (g *group) ready(name string) bool {
	c := g.container(name)
	if c == nil || !hasProbes(c) {
		return true
	}
	p := g.probers[name]
	return p != nil && p.probes.Ready()
}

func (g *group) runProber(ctx context.Context, c *core.Container, p *prober) {
	for {
		g.mu.Lock()
		due, wake := p.probes.Due(p.now())
		g.mu.Unlock()
		for _, kind := range due {
			began := p.now()
			res := g.probe(ctx, c, probeOf(c, kind))
			if ctx.Err() != nil {
				return
			}
			g.mu.Lock()
			out := p.probes.Record(began, kind, res)
			g.mu.Unlock()
			if len(out.Notes) > 0 || out.Kill {
				_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
					for _, n := range out.Notes {
						l.Record(now, n)
					}
					if out.Kill {
						l.ProbeKilling(now, c.Name, out.Kind)
					}
					return nil
				})
			}
			if out.Kill {
				g.logf("probe failed; killing the container", "container", c.Name, "probe", out.Kind, "output", res.Output)
				g.killForProbe(ctx, c.Name)
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		if wake.IsZero() {
			<-ctx.Done()
			return
		}
		timer := time.NewTimer(max(wake.Sub(p.now()), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// killForProbe stops the running task of a container whose liveness or
// startup probe failed, as Remove stops one: the image's stop signal,
// then SIGKILL after StopGrace. Its watch reports the exit.
func (g *group) killForProbe(ctx context.Context, name string) {
	cont, err := g.r.client.LoadContainer(ctx, ctrID(g.spec.ID, name))
	var task containerd.Task
	if err == nil {
		task, err = cont.Task(ctx, nil)
	}
	var exited <-chan containerd.ExitStatus
	if err == nil {
		exited, err = task.Wait(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			g.r.log.Warn("kill after a failed probe", "group", g.spec.ID, "container", name, "err", err)
		}
		return
	}
	sig, err := containerd.GetStopSignal(ctx, cont, syscall.SIGTERM)
	if err != nil {
		sig = syscall.SIGTERM
	}
	if err := task.Kill(ctx, sig); err != nil && !isNotFound(err) {
		g.r.log.Warn("kill after a failed probe", "group", g.spec.ID, "container", name, "err", err)
	}
	timer := time.NewTimer(g.r.cfg.StopGrace)
	defer timer.Stop()
	select {
	case <-exited:
	case <-ctx.Done():
	case <-timer.C:
		g.logf("grace period over, killing", "container", name)
		if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !isNotFound(err) {
			g.r.log.Warn("kill after a failed probe", "group", g.spec.ID, "container", name, "err", err)
		}
	}
}

// probe runs one probe within its timeout.
func (g *group) probe(ctx context.Context, c *core.Container, p *core.Probe) lifecycle.ProbeResult {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		return g.probeExec(ctx, c.Name, p.Exec, timeout)
	case p.HTTPGet != nil:
		return g.probeHTTP(ctx, p.HTTPGet)
	case p.TCPSocket != nil:
		return g.probeTCP(ctx, p.TCPSocket.Port)
	}
	return lifecycle.ProbeResult{Output: "the probe has no handler"}
}

func (g *group) probeExec(ctx context.Context, name string, cmd []string, timeout time.Duration) lifecycle.ProbeResult {
	out := core.NewCappedBuffer(probeOutputMax)
	code, err := g.r.Exec(ctx, g.spec.ID, name, core.ExecProcess{Command: cmd, Stdout: out, Stderr: out})
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return lifecycle.ProbeResult{Output: fmt.Sprintf("command %q timed out after %s", cmd, timeout)}
	case err != nil:
		return lifecycle.ProbeResult{Output: err.Error()}
	case code != 0:
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			msg = fmt.Sprintf("command %q exited with %d", cmd, code)
		}
		return lifecycle.ProbeResult{Output: msg}
	}
	return lifecycle.ProbeResult{OK: true}
}

// probeHTTP GETs the path from the group's address: 200–399 is success.
// Redirects are not followed (a 3xx is a success, as the kubelet counts a
// redirect to another host); HTTPS certificates are not verified (as the
// kubelet does not).
func (g *group) probeHTTP(ctx context.Context, h *core.HTTPGetAction) lifecycle.ProbeResult {
	if g.spec.Network.PrivateIP == "" {
		return lifecycle.ProbeResult{Output: "the group has no address to probe"}
	}
	scheme := "http"
	if h.Scheme == "HTTPS" {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(g.spec.Network.PrivateIP, strconv.Itoa(h.Port)) + h.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return lifecycle.ProbeResult{Output: err.Error()}
	}
	req.Header.Set("User-Agent", "kcid-probe")
	client := &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet's probes
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return lifecycle.ProbeResult{Output: err.Error()}
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return lifecycle.ProbeResult{Output: fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)}
	}
	return lifecycle.ProbeResult{OK: true}
}

// probeTCP opens a connection to the port of the group's address.
func (g *group) probeTCP(ctx context.Context, port int) lifecycle.ProbeResult {
	if g.spec.Network.PrivateIP == "" {
		return lifecycle.ProbeResult{Output: "the group has no address to probe"}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(g.spec.Network.PrivateIP, strconv.Itoa(port)))
	if err != nil {
		return lifecycle.ProbeResult{Output: err.Error()}
	}
	conn.Close()
	return lifecycle.ProbeResult{OK: true}
}
