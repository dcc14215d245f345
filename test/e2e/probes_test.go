package e2e

import (
	"strings"
	"testing"
)

// TestProbes: on the kcid binary over real containerd, a container with
// an HTTP liveness probe and an exec readiness probe is Ready (container
// and group) while both pass; when its page goes away the liveness probe
// kills it and it is restarted, with the Unhealthy and Killing events;
// Describe echoes both probes in the SDK's shape.
func TestProbes(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetProbes)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-probes", subnet: subnetProbes,
		script: "trap 'exit 0' TERM; mkdir -p /www && echo ok > /www/healthz && httpd -p 8080 -h /www && touch /tmp/ready; " +
			"sleep 6; rm /www/healthz; while true; do sleep 1; done",
		extra: vals(
			"Container.1.LivenessProbe.HttpGet.Port", "8080",
			"Container.1.LivenessProbe.HttpGet.Path", "/healthz",
			"Container.1.LivenessProbe.PeriodSeconds", "1",
			"Container.1.LivenessProbe.InitialDelaySeconds", "2", // httpd's start
			"Container.1.LivenessProbe.FailureThreshold", "1",
			"Container.1.ReadinessProbe.Exec.Command.1", "cat",
			"Container.1.ReadinessProbe.Exec.Command.2", "/tmp/ready",
			"Container.1.ReadinessProbe.PeriodSeconds", "1",
		),
	})
	g := waitGroup(t, k, c, id, runningTimeout, "Ready", func(g *group) bool {
		return running(g) && g.Ready && g.Containers[0].Ready
	})
	ctr := g.Containers[0]
	if want := `{"InitialDelaySeconds":2,"PeriodSeconds":1,"TimeoutSeconds":1,"SuccessThreshold":1,"FailureThreshold":1,"HttpGet":{"Port":8080,"Path":"/healthz","Scheme":"HTTP"},"Exec":null,"TcpSocket":null}`; string(ctr.LivenessProbe) != want {
		t.Errorf("LivenessProbe %s\nwant %s", ctr.LivenessProbe, want)
	}
	if !strings.Contains(string(ctr.ReadinessProbe), `"Exec":{"Commands":["cat","/tmp/ready"]}`) {
		t.Errorf("ReadinessProbe %s", ctr.ReadinessProbe)
	}
	waitGroup(t, k, c, id, runningTimeout, "restarted by its liveness probe", func(g *group) bool {
		return g.Containers[0].RestartCount >= 1 &&
			g.hasEvent("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") &&
			g.hasEvent("Killing", "Container main failed liveness probe, will be restarted")
	})
}
