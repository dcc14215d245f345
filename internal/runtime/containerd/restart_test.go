package containerd

import (
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
)

func terminated(st core.GroupStatus, name string) *core.ContainerState {
	for _, c := range st.Containers {
		if c.Name == name && c.Current != nil && c.Current.State == core.StateTerminated {
			return c.Current
		}
	}
	return nil
}

func ctrStatus(st core.GroupStatus, name string) core.ContainerStatus {
	for _, c := range st.Containers {
		if c.Name == name {
			return c
		}
	}
	return core.ContainerStatus{}
}

// TestRestartPolicies: Never ends Succeeded or Failed with the exit codes;
// OnFailure restarts a failing container until it succeeds.
func TestRestartPolicies(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()

	ok := e.group("never-ok", ip(30), cidr, gw, sid,
		core.Container{Name: "a", Image: e.image, Command: []string{"true"}},
		core.Container{Name: "b", Image: e.image, Command: []string{"sh", "-c", "sleep 0.3"}})
	ok.RestartPolicy = core.RestartNever
	bad := e.group("never-bad", ip(31), cidr, gw, sid,
		core.Container{Name: "a", Image: e.image, Command: []string{"true"}},
		core.Container{Name: "b", Image: e.image, Command: []string{"sh", "-c", "echo bye; exit 3"}})
	bad.RestartPolicy = core.RestartNever
	// Fails on its first run, succeeds on the second: the marker survives
	// in an EmptyDir volume.
	flaky := e.group("onfailure", ip(32), cidr, gw, sid,
		core.Container{Name: "f", Image: e.image,
			Command:      []string{"sh", "-c", "if [ -f /data/ran ]; then echo second; exit 0; fi; touch /data/ran; echo first; exit 7"},
			VolumeMounts: []core.VolumeMount{{Name: "data", MountPath: "/data"}}})
	flaky.RestartPolicy = core.RestartOnFailure
	flaky.Volumes = []core.Volume{{Name: "data", Type: core.VolumeEmptyDir}}
	e.start(ok)
	e.start(bad)
	e.start(flaky)

	st := e.waitStatus(ok.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseSucceeded })
	if st.SucceededTime == nil {
		t.Errorf("Succeeded without SucceededTime")
	}
	for _, n := range []string{"a", "b"} {
		if s := terminated(st, n); s == nil || *s.ExitCode != 0 || s.Reason != "Completed" || s.FinishTime == nil {
			t.Errorf("container %s: %s", n, runtimetest.State(s))
		}
	}

	st = e.waitStatus(bad.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseFailed })
	if s := terminated(st, "b"); s == nil || *s.ExitCode != 3 || s.Reason != "Error" {
		t.Errorf("b: %s", runtimetest.State(s))
	}
	if c := ctrStatus(st, "b"); c.RestartCount != 0 {
		t.Errorf("Never restarted: %d", c.RestartCount)
	}
	e.waitLogs(bad.ID, "b", "bye", 5*time.Second)

	st = e.waitStatus(flaky.ID, 30*time.Second, func(s core.GroupStatus) bool { return s.Phase == core.PhaseSucceeded })
	c := ctrStatus(st, "f")
	if c.RestartCount != 1 || c.Previous == nil || *c.Previous.ExitCode != 7 || *c.Current.ExitCode != 0 {
		t.Errorf("OnFailure: %s", runtimetest.Dump(st))
	}
	logs := e.waitLogs(flaky.ID, "f", "second", 5*time.Second)
	if !strings.Contains(logs, "first\n") {
		t.Errorf("log of both attempts expected, got %q", logs)
	}
}

// TestCrashLoop: Always restarts a crashing container with back-off;
// RestartCount, PreviousState and the BackOff event show it.
func TestCrashLoop(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("crash", ip(40), cidr, gw, sid,
		core.Container{Name: "c", Image: e.image, Command: []string{"sh", "-c", "echo crash; exit 2"}})
	e.start(g)
	st := e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool {
		c := ctrStatus(s, "c")
		return c.RestartCount >= 2 && c.Current != nil && c.Current.Reason == "CrashLoopBackOff"
	})
	c := ctrStatus(st, "c")
	if c.Previous == nil || c.Previous.State != core.StateTerminated || *c.Previous.ExitCode != 2 || c.Previous.Reason != "Error" {
		t.Errorf("previous: %s", runtimetest.State(c.Previous))
	}
	if st.Phase != core.PhaseRunning {
		t.Errorf("phase %s, want Running", st.Phase)
	}
	if !hasEvent(st, "BackOff", "Back-off restarting failed container c") {
		t.Errorf("no BackOff event:\n%s", runtimetest.Dump(st))
	}
	if logs := e.waitLogs(g.ID, "c", "crash", time.Second); strings.Count(logs, "crash\n") < 2 {
		t.Errorf("logs of the attempts: %q", logs)
	}
}

// TestImagePullFailure: a failed pull (wrong password, missing image) is a
// waiting container with ErrImagePull then ImagePullBackOff and Warning
// events, retried; the group is not broken.
func TestImagePullFailure(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	g := e.group("pullfail", ip(50), cidr, gw, sid,
		core.Container{Name: "missing", Image: e.reg.Host + "/openkci/does-not-exist:v1", Command: []string{"true"}},
		core.Container{Name: "denied", Image: e.reg.Host + "/openkci/busybox:nocreds-" + randHex(2), Command: []string{"true"}})
	// Credentials for another server only: the pull is anonymous and denied.
	g.Credentials = []core.RegistryCredential{{Server: "registry.example.com", Username: "u", Password: "p"}}
	e.start(g)
	st := e.waitStatus(g.ID, 30*time.Second, func(s core.GroupStatus) bool {
		for _, c := range s.Containers {
			if c.Current == nil || c.Current.Reason != "ImagePullBackOff" {
				return false
			}
		}
		return s.Phase == core.PhaseImagePulling || s.Phase == core.PhasePending
	})
	if !hasEvent(st, "Failed", "Failed to pull image `"+e.reg.Host+"/openkci/does-not-exist:v1`") ||
		!hasEvent(st, "BackOff", "Back-off pulling image") {
		t.Errorf("events:\n%s", runtimetest.Dump(st))
	}
	// Retried with back-off: the Pulling event repeats.
	e.waitStatus(g.ID, 10*time.Second, func(s core.GroupStatus) bool {
		for _, ev := range s.Events {
			if ev.Reason == "Pulling" && strings.Contains(ev.Message, "does-not-exist") && ev.Count >= 2 {
				return true
			}
		}
		return false
	})
}
