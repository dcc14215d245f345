package runtimetest

import (
	"bytes"
	"context"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/service"
)

// probe returns a probe checking every second, failing after failures
// consecutive failures.
func probe(failures int) *core.Probe {
	return &core.Probe{PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures}
}

// execIn runs a shell command in a running container and fails the test
// unless it exits 0.
func (e Env) execIn(t *testing.T, groupID, container, script string) {
	t.Helper()
	ex, ok := e.Runtime.(service.Execer)
	if !ok {
		t.Fatalf("%T does not implement service.Execer", e.Runtime)
	}
	var out, errOut bytes.Buffer
	code, err := ex.Exec(context.Background(), groupID, container, core.ExecProcess{Command: []string{"sh", "-c", script}, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 {
		t.Fatalf("exec %q in %s: code %d, err %v, stdout %q, stderr %q", script, container, code, err, out.String(), errOut.String())
	}
}

// running reports whether the named container is running.
func running(s core.GroupStatus, name string) bool {
	c := Container(s, name)
	return c.Current != nil && c.Current.State == core.StateRunning
}

// testProbeLiveness: an HTTP liveness probe that starts failing (the
// container removes the page it serves after 3 seconds) gets the
// container killed and restarted, again and again: Unhealthy and Killing
// events, RestartCount, a terminated PreviousState, and (unless the Env
// says why not) the BackOff event of the restart back-off.
func testProbeLiveness(t *testing.T, e Env) {
	g := e.NewGroup(t, "liveness")
	c := e.ctr("web", "sh", "-c", `trap 'exit 0' TERM
mkdir -p /www && echo ok > /www/healthz && httpd -p 8080 -h /www
sleep 3; rm /www/healthz
while true; do sleep 1; done`)
	c.LivenessProbe = probe(1)
	// A second for the shell to start httpd (a probe that finds nothing
	// listening yet would kill the container before it served once).
	c.LivenessProbe.InitialDelaySeconds = 1
	c.LivenessProbe.HTTPGet = &core.HTTPGetAction{Port: 8080, Path: "/healthz", Scheme: "HTTP"}
	g.Containers = []core.Container{c}
	e.start(t, g)
	e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		w := Container(s, "web")
		return w.RestartCount >= 2 && w.Previous != nil && w.Previous.State == core.StateTerminated &&
			HasEvent(s, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") &&
			HasEvent(s, "Killing", "Container web failed liveness probe, will be restarted") &&
			(e.LivenessKillNoBackOff != "" || HasEvent(s, "BackOff", "Back-off restarting failed container web"))
	})
}

// testProbeReadiness: an exec readiness probe makes the container, and
// the group, Ready only while it passes, flipping both ways; a container
// without probes beside it is ready while it runs.
func testProbeReadiness(t *testing.T, e Env) {
	g := e.NewGroup(t, "readiness")
	c := e.ctr("main", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	c.ReadinessProbe = probe(1)
	c.ReadinessProbe.Exec = []string{"cat", "/tmp/ready"}
	g.Containers = []core.Container{c, e.ctr("plain", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")}
	e.start(t, g)
	notReady := func(s core.GroupStatus) bool {
		return s.Phase == core.PhaseRunning && running(s, "main") && !Container(s, "main").Ready && !s.Ready() &&
			HasEvent(s, "Unhealthy", "Readiness probe failed")
	}
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return notReady(s) && Container(s, "plain").Ready })
	if Container(st, "main").RestartCount != 0 {
		t.Fatalf("a failing readiness probe restarted the container:\n%s", Dump(st))
	}
	e.execIn(t, g.ID, "main", "touch /tmp/ready")
	e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return Container(s, "main").Ready && s.Ready() })
	e.execIn(t, g.ID, "main", "rm /tmp/ready")
	st = e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return !Container(s, "main").Ready && !s.Ready() })
	if c := Container(st, "main"); c.RestartCount != 0 || !running(st, "main") {
		t.Fatalf("readiness failing again must leave the container running:\n%s", Dump(st))
	}
}

// testProbeTCP: a TCP readiness probe passes once something listens on
// its port, and a TCP liveness probe on a port that is open keeps the
// container running.
func testProbeTCP(t *testing.T, e Env) {
	g := e.NewGroup(t, "tcp")
	c := e.ctr("main", "sh", "-c", `trap 'exit 0' TERM
mkdir -p /www && httpd -p 8081 -h /www
while true; do sleep 1; done`)
	c.ReadinessProbe = probe(1)
	c.ReadinessProbe.TCPSocket = &core.TCPSocketAction{Port: 8082}
	// The shell starts httpd at once; the initial delay and threshold
	// give it five seconds on a loaded machine.
	c.LivenessProbe = probe(3)
	c.LivenessProbe.InitialDelaySeconds = 2
	c.LivenessProbe.TCPSocket = &core.TCPSocketAction{Port: 8081}
	g.Containers = []core.Container{c}
	e.start(t, g)
	e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		return running(s, "main") && !Container(s, "main").Ready && HasEvent(s, "Unhealthy", "Readiness probe failed")
	})
	e.execIn(t, g.ID, "main", "httpd -p 8082 -h /www")
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return Container(s, "main").Ready && s.Ready() })
	if Container(st, "main").RestartCount != 0 || HasEvent(st, "Killing", "failed liveness probe") {
		t.Fatalf("the TCP liveness probe on an open port failed:\n%s", Dump(st))
	}
}

// testProbeStartup: a startup probe holds the liveness probe off — a
// liveness probe that always fails kills nothing while the startup probe
// has not passed — and once it passes, liveness runs and restarts the
// container.
func testProbeStartup(t *testing.T, e Env) {
	g := e.NewGroup(t, "startup")
	c := e.ctr("main", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	c.StartupProbe = probe(1000)
	c.StartupProbe.Exec = []string{"cat", "/tmp/started"}
	c.LivenessProbe = probe(1)
	c.LivenessProbe.Exec = []string{"cat", "/tmp/alive"}
	g.Containers = []core.Container{c}
	e.start(t, g)
	// Three failed startup runs, each a second apart: liveness, which
	// would fail at its first run, has not run.
	st := e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		for _, ev := range s.Events {
			if ev.Reason == "Unhealthy" && ev.Count >= 3 && bytes.HasPrefix([]byte(ev.Message), []byte("Startup probe failed")) {
				return true
			}
		}
		return false
	})
	if m := Container(st, "main"); m.RestartCount != 0 || m.Ready || HasEvent(st, "Unhealthy", "Liveness probe failed") || HasEvent(st, "Killing", "") {
		t.Fatalf("liveness ran before the startup probe passed, or the container is ready:\n%s", Dump(st))
	}
	e.execIn(t, g.ID, "main", "touch /tmp/started")
	e.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
		return Container(s, "main").RestartCount >= 1 &&
			HasEvent(s, "Unhealthy", "Liveness probe failed") &&
			HasEvent(s, "Killing", "Container main failed liveness probe, will be restarted")
	})
}
