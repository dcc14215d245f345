package kcictl_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/pkg/kci"
)

func ptr[T any](v T) *T { return &v }

// ev is a scripted event at the harness's current time.
func (h *harness) ev(typ, reason, msg string, count int) core.Event {
	now := h.clock.Now()
	return core.Event{Type: typ, Reason: reason, Message: msg, Count: count, FirstTimestamp: now.Add(-time.Duration(count-1) * time.Minute), LastTimestamp: now}
}

func (h *harness) running(name string) *core.ContainerState {
	return &core.ContainerState{State: core.StateRunning, StartTime: ptr(h.clock.Now())}
}

func (h *harness) exited(code int, reason string) *core.ContainerState {
	now := h.clock.Now()
	return &core.ContainerState{State: core.StateTerminated, Reason: reason, ExitCode: ptr(code), StartTime: ptr(now.Add(-time.Minute)), FinishTime: ptr(now)}
}

func TestGetOutputs(t *testing.T) {
	h := newHarness(t)
	h.create("web", "--image", "nginx:1.27", "--port", "80", "-e", "MODE=prod", "--memory", "1")
	h.clock.Advance(3 * time.Minute)
	h.create("job", "--image", "busybox:1.36", "--cpu", "0.5", "--", "sh", "-c", "echo hi")
	h.clock.Advance(2*time.Minute + 5*time.Second)

	for _, tc := range []struct{ golden, args string }{
		{"get/table.txt", "get"},
		{"get/wide.txt", "ls -o wide"},
		{"get/json.txt", "get -o json"},
		{"get/yaml.txt", "get -o yaml"},
		{"get/id.txt", "get -o id"},
		{"get/by-name.txt", "get web"},
		{"get/search.txt", "get --search JO"},
		{"get/status-filter.txt", "get --status Succeeded"},
		{"get/subnet-zone-vpc.txt", "get --subnet subnet-test --zone cn-beijing-6a --vpc vpc-test -o id"},
		{"get/no-match.txt", "get --vpc vpc-other"},
		{"get/bad-output.txt", "get -o xml"},
		{"get/bad-status.txt", "get --status Pending"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			h.t = t
			h.golden(tc.golden, transcript(h.run(strings.Fields(tc.args)...)))
		})
	}
	h.t = t

	// The JSON is the API's fields and decodes into pkg/kci's types.
	var out struct{ ContainerGroups []kci.ContainerGroup }
	if err := json.Unmarshal([]byte(h.run("get", "-o", "json").stdout), &out); err != nil || len(out.ContainerGroups) != 2 {
		t.Fatalf("get -o json: %v %+v", err, out)
	}
}

func TestGetPagesForTheUser(t *testing.T) {
	h := newHarness(t, func(o *kcidtest.Options) {
		o.Config = kcidtest.DefaultConfig + "rateLimit: {mutatingPerSecond: 1000, mutatingBurst: 1000}\n"
	})
	c := h.client()
	for range 105 {
		_, err := c.CreateContainerGroup(context.Background(), &kci.CreateContainerGroupRequest{
			ContainerGroupName: "many", SubnetID: kcidtest.SubnetID, SecurityGroupIDs: []string{kcidtest.SecurityGroupID},
			CPU: 0.1, Memory: 0.1, Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "c", Image: "busybox:1"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := h.run("get", "-o", "id")
	if n := strings.Count(r.stdout, "\n"); n != 105 || r.code != 0 {
		t.Fatalf("get -o id listed %d groups (exit %d), want 105 over two pages", n, r.code)
	}
	// 105 groups called "many": a name that resolves to many is refused.
	r = h.run("describe", "many")
	if r.code != 1 || !strings.Contains(r.stderr, `the name "many" is ambiguous: 105 container groups have it; use an ID:`) {
		t.Fatalf("ambiguous name: %+v", r)
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.conf"), []byte("a=1\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "key"), []byte("secret"), 0o600)
	id := h.create("api", "--image", "registry.example.com/api:2", "--cpu", "2", "--memory", "4",
		"--port", "8080", "--port", "53/udp", "-e", "MODE=prod", "-e", "EMPTY=",
		"--volume", dir+":/etc/api:ro", "--volume", "cache:/var/cache", "--volume", "/scratch",
		"--dns", "10.0.0.53", "--dns-search", "svc.local", "--dns-option", "ndots:2", "--dns-option", "rotate",
		"--host-alias", "10.0.0.9=db,db.local", "--workdir", "/srv", "--pull", "IfNotPresent",
		"--restart", "OnFailure", "--entrypoint", "/bin/api", "--", "--listen", ":8080", "--name", "two words")
	h.clock.Advance(10 * time.Minute)
	h.srv.Runtime.SetStatus(id, core.GroupStatus{
		Phase: core.PhaseRunning,
		Containers: []core.ContainerStatus{{
			Name: "api", RestartCount: 3,
			Current:  h.running("api"),
			Previous: h.exited(137, "OOMKilled"),
		}},
		Events: []core.Event{
			h.ev("Normal", "Pulled", "Successfully pulled image `registry.example.com/api:2`", 1),
			h.ev("Warning", "BackOff", "Back-off restarting failed container api", 3),
			h.ev("Normal", "Started", "Started container api", 4),
		},
		Timeline: func() core.StartTimeline {
			t0 := h.clock.Now().Add(-10*time.Minute + 250*time.Millisecond)
			return core.StartTimeline{
				{Step: core.StepAccepted, At: t0},
				{Step: core.StepVolumesReady, At: t0.Add(3 * time.Millisecond)},
				{Step: core.StepNetworkReady, At: t0.Add(41 * time.Millisecond)},
				{Step: core.StepImageReady, Container: "api", At: t0.Add(44 * time.Millisecond)},
				{Step: core.StepContainerCreated, Container: "api", At: t0.Add(70 * time.Millisecond)},
				{Step: core.StepContainerStarted, Container: "api", At: t0.Add(118 * time.Millisecond)},
				{Step: core.StepRunning, At: t0.Add(119 * time.Millisecond)},
			}
		}(),
	})
	h.clock.Advance(90 * time.Second)
	h.golden("describe/full.txt", transcript(h.run("describe", "api")))
	h.golden("describe/by-id.txt", transcript(h.run("describe", id)))

	// A group without optional parts, and two groups at once.
	h.create("plain", "--image", "busybox:1.36")
	h.golden("describe/two.txt", transcript(h.run("describe", "plain", "api")))
	h.golden("describe/unknown.txt", transcript(h.run("describe", "nope")))

	// Init containers (kcid's extension): shown before the containers,
	// in run order, with their states.
	spec := filepath.Join(t.TempDir(), "init.yaml")
	os.WriteFile(spec, []byte("ContainerGroupName: with-init\nRestartPolicy: OnFailure\n"+
		"InitContainer:\n- {Name: migrate, Image: busybox:1, Command: [sh, -c, ./migrate]}\n- {Name: warm, Image: busybox:1}\n"+
		"Container:\n- {Name: app, Image: busybox:1}\n"), 0o644)
	r := h.run("create", "-f", spec)
	withInit := strings.TrimSpace(r.stdout)
	h.name(withInit, "<with-init-id>")
	waiting := "PodInitializing"
	h.srv.Runtime.SetStatus(withInit, core.GroupStatus{
		Phase: core.PhasePending,
		InitContainers: []core.ContainerStatus{
			{Name: "migrate", Current: h.exited(0, "Completed")},
			{Name: "warm", RestartCount: 1, Current: &core.ContainerState{State: core.StateWaiting, Reason: "CrashLoopBackOff"}, Previous: h.exited(1, "Error")},
		},
		Containers: []core.ContainerStatus{{Name: "app", Current: &core.ContainerState{State: core.StateWaiting, Reason: waiting}}},
	})
	h.golden("describe/init.txt", transcript(h.run("describe", "with-init")))

	h.golden("describe/no-args.txt", transcript(h.run("describe")))

	// Probes from create -f, shown as kubectl shows them, and readiness
	// (kcid's extension) per container and group.
	spec = filepath.Join(t.TempDir(), "probes.yaml")
	os.WriteFile(spec, []byte("ContainerGroupName: probed\nContainer:\n"+
		"- Name: web\n  Image: busybox:1\n"+
		"  LivenessProbe: {HttpGet: {Port: 8080, Path: /healthz}, InitialDelaySeconds: 5}\n"+
		"  ReadinessProbe: {Exec: {Command: [cat, /tmp/ready]}, PeriodSeconds: 2, SuccessThreshold: 2}\n"+
		"  StartupProbe: {TcpSocket: {Port: 8080}, FailureThreshold: 30}\n"+
		"- {Name: side, Image: busybox:1}\n"), 0o644)
	r = h.run("create", "-f", spec)
	probed := strings.TrimSpace(r.stdout)
	h.name(probed, "<probed-id>")
	h.srv.Runtime.SetStatus(probed, core.GroupStatus{
		Phase: core.PhaseRunning,
		Containers: []core.ContainerStatus{
			{Name: "web", Current: h.running("web"), Ready: true},
			{Name: "side", Current: h.running("side"), Ready: false},
		},
	})
	h.golden("describe/probes.txt", transcript(h.run("describe", "probed")))
}

// TestDescribeDisk: a disk made for the group shows its ID, size, type
// and fate.
func TestDescribeDisk(t *testing.T) {
	h := newHarness(t)
	spec := filepath.Join(t.TempDir(), "disk.yaml")
	os.WriteFile(spec, []byte("ContainerGroupName: with-disk\n"+
		"DataDisk:\n- {VolumeName: data, Type: SSD3.0, Size: 20}\n"+
		"Container:\n- {Name: db, Image: busybox:1, VolumeMount: [{Name: data, MountPath: /var/lib/db}]}\n"), 0o644)
	withDisk := strings.TrimSpace(h.run("create", "-f", spec).stdout)
	h.name(withDisk, "<with-disk-id>")
	h.golden("describe/disk.txt", transcript(h.run("describe", "with-disk")))
}

func TestLogs(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", "--image", "nginx:1.27")
	h.srv.Runtime.SetLog(id, "web", "one\ntwo\nthree\n")
	h.golden("logs/all.txt", transcript(h.run("logs", "web")))
	h.golden("logs/tail.txt", transcript(h.run("logs", id, "--tail", "2")))
	h.golden("logs/bad-container.txt", transcript(h.run("logs", "web", "-c", "db")))
	h.golden("logs/bad-tail.txt", transcript(h.run("logs", "web", "--tail", "0")))

	// Two containers: the first is shown, with a note; -c picks.
	spec := filepath.Join(t.TempDir(), "two.yaml")
	os.WriteFile(spec, []byte("ContainerGroupName: pair\nContainer:\n- {Name: a, Image: busybox:1}\n- {Name: b, Image: busybox:1}\n"), 0o644)
	r := h.run("create", "-f", spec)
	pair := strings.TrimSpace(r.stdout)
	h.name(pair, "<pair-id>")
	h.srv.Runtime.SetLog(pair, "a", "from a\n")
	h.srv.Runtime.SetLog(pair, "b", "from b\n")
	h.golden("logs/first-of-two.txt", transcript(h.run("logs", "pair")))
	h.golden("logs/second-of-two.txt", transcript(h.run("logs", "pair", "-c", "b")))
}

// TestLogsFollow: lines appear once each, in order, an incomplete line
// waits for its end, and the follow ends with the group.
func TestLogsFollow(t *testing.T) {
	h := newHarness(t)
	id := h.create("tail", "--image", "busybox:1.36", "--restart", "Never")
	rt := h.srv.Runtime
	rt.SetLog(id, "tail", "a\nb\n")
	r := h.start("logs", "tail", "-f")
	r.waitFor(t, r.stdout, "a\nb\n")
	rt.SetLog(id, "tail", "a\nb\nc\nhalf")
	r.waitFor(t, r.stdout, "c\n")
	time.Sleep(50 * time.Millisecond) // several polls
	if strings.Contains(r.stdout.String(), "half") {
		t.Fatalf("an incomplete line was printed: %q", r.stdout)
	}
	rt.SetLog(id, "tail", "a\nb\nc\nhalf line\nb\n")
	r.waitFor(t, r.stdout, "half line\nb\n")
	rt.SetLog(id, "tail", "a\nb\nc\nhalf line\nb\nlast")
	rt.SetStatus(id, core.GroupStatus{Phase: core.PhaseSucceeded, Containers: []core.ContainerStatus{{Name: "tail", Current: h.exited(0, "Completed")}}})
	res := r.wait(t)
	if res.code != 0 || res.stdout != "a\nb\nc\nhalf line\nb\nlast\n" {
		t.Fatalf("follow: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	// --tail limits the first print only; deletion ends the follow.
	id2 := h.create("tail2", "--image", "busybox:1.36")
	rt.SetLog(id2, "tail2", "1\n2\n3\n")
	r = h.start("logs", "tail2", "-f", "--tail", "1")
	r.waitFor(t, r.stdout, "3\n")
	rt.SetLog(id2, "tail2", "1\n2\n3\n4\n")
	r.waitFor(t, r.stdout, "4\n")
	if _, err := h.client().DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: id2}); err != nil {
		t.Fatal(err)
	}
	res = r.wait(t)
	if res.code != 0 || res.stdout != "3\n4\n" {
		t.Fatalf("follow --tail 1: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	// Ctrl-C (a cancelled context) ends it quietly.
	id3 := h.create("tail3", "--image", "busybox:1.36")
	rt.SetLog(id3, "tail3", "x\n")
	r = h.start("logs", "tail3", "-f")
	r.waitFor(t, r.stdout, "x\n")
	r.cancel()
	if res = r.wait(t); res.code != 0 || res.stderr != "" {
		t.Fatalf("interrupted follow: %+v", res)
	}
}

// TestRunWait scripts Pending → ImagePulling → Running and checks that
// each event and status is shown once, in order, as plain lines.
func TestRunWait(t *testing.T) {
	h := newHarness(t)
	rt := h.srv.Runtime
	rt.Hold("slow")
	r := h.start("run", "slow", "--image", "busybox:1.36", "--wait")
	g := rt.Started(t, "slow")
	h.name(g.ID, "<slow-id>")
	r.waitFor(t, r.stderr, "Status   Pending")
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseImagePulling,
		Containers: []core.ContainerStatus{{Name: "slow", Current: &core.ContainerState{State: core.StateWaiting, Reason: "ContainerCreating"}}},
		Events:     []core.Event{h.ev("Normal", "Pulling", "Pulling image `busybox:1.36`", 1)}})
	r.waitFor(t, r.stderr, "Status   ImagePulling")
	time.Sleep(30 * time.Millisecond) // a few polls that change nothing
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseRunning,
		Containers: []core.ContainerStatus{{Name: "slow", Current: h.running("slow")}},
		Events: []core.Event{
			h.ev("Normal", "Pulling", "Pulling image `busybox:1.36`", 1),
			h.ev("Normal", "Pulled", "Successfully pulled image `busybox:1.36`", 1),
			h.ev("Normal", "Created", "Created container slow", 1),
			h.ev("Normal", "Started", "Started container slow", 1),
		}})
	h.golden("run/wait.txt", transcript(r.wait(t)))
}

func TestRunWaitFailure(t *testing.T) {
	h := newHarness(t)
	rt := h.srv.Runtime
	rt.Hold("bad")
	r := h.start("run", "bad", "--image", "busybox:1.36", "--restart", "Never", "--wait")
	g := rt.Started(t, "bad")
	h.name(g.ID, "<bad-id>")
	r.waitFor(t, r.stderr, "Pending")
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseFailed,
		Containers: []core.ContainerStatus{{Name: "bad", Current: h.exited(2, "Error")}},
		Events:     []core.Event{h.ev("Warning", "Failed", "Error: exit status 2", 1)}})
	h.golden("run/wait-failed.txt", transcript(r.wait(t)))

	// Stuck pulling: the time-out names the reason.
	rt.Hold("stuck", core.GroupStatus{Phase: core.PhaseImagePulling,
		Containers: []core.ContainerStatus{{Name: "stuck", Current: &core.ContainerState{State: core.StateWaiting, Reason: "ImagePullBackOff"}}},
		Events:     []core.Event{h.ev("Warning", "Failed", "Failed to pull image `nope:1`: not found", 2)}})
	r = h.start("run", "stuck", "--image", "nope:1", "--wait", "--timeout", "200ms")
	g = rt.Started(t, "stuck")
	h.name(g.ID, "<stuck-id>")
	h.golden("run/wait-timeout.txt", transcript(r.wait(t)))
}

// TestRunWaitTerminal: on a terminal a spinner line is redrawn under the
// events and erased at the end.
func TestRunWaitTerminal(t *testing.T) {
	h := newHarness(t)
	h.tty = true
	rt := h.srv.Runtime
	rt.Hold("tty")
	r := h.start("run", "tty", "--image", "busybox:1.36", "--wait")
	g := rt.Started(t, "tty")
	r.waitFor(t, r.stderr, "⠙ tty: Pending") // the spinner turned at least once
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseRunning,
		Containers: []core.ContainerStatus{{Name: "tty", Current: h.running("tty")}},
		Events:     []core.Event{h.ev("Normal", "Started", "Started container tty", 1)}})
	res := r.wait(t)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"\r\033[K", "Status   Pending\n", "Normal   Started    Started container tty\n", "tty is Running (IP 10.0.1.2)\n"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%q", want, res.stderr)
		}
	}
	// The spinner is erased before the last line.
	if !strings.HasSuffix(res.stderr, "\r\033[Ktty is Running (IP 10.0.1.2)\n") {
		t.Errorf("stderr ends %q", res.stderr[max(0, len(res.stderr)-80):])
	}
}

// TestRunDeleteAfter: a one-shot job streams its log, is deleted and
// kcictl exits with the container's exit code.
func TestRunDeleteAfter(t *testing.T) {
	h := newHarness(t)
	rt := h.srv.Runtime
	rt.Hold("job")
	r := h.start("run", "job", "--image", "busybox:1.36", "--delete-after", "--", "sh", "-c", "echo hello; echo world; exit 3")
	g := rt.Started(t, "job")
	h.name(g.ID, "<job-id>")
	if g.RestartPolicy != core.RestartNever || strings.Join(g.Containers[0].Args, " ") != "sh -c echo hello; echo world; exit 3" || g.Containers[0].Command != nil {
		t.Errorf("group: restart %s, command %q, args %q", g.RestartPolicy, g.Containers[0].Command, g.Containers[0].Args)
	}
	r.waitFor(t, r.stderr, "Status   Pending")
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseRunning,
		Containers: []core.ContainerStatus{{Name: "job", Current: h.running("job")}},
		Events:     []core.Event{h.ev("Normal", "Started", "Started container job", 1)}})
	rt.SetLog(g.ID, "job", "hello\n")
	r.waitFor(t, r.stdout, "hello\n")
	rt.SetLog(g.ID, "job", "hello\nworld\n")
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseFailed,
		Containers: []core.ContainerStatus{{Name: "job", Current: h.exited(3, "Error")}}})
	res := r.wait(t)
	h.golden("run/delete-after.txt", transcript(res))
	if res.code != 3 {
		t.Errorf("exit %d, want the container's 3", res.code)
	}
	// kcid answers DeleteContainerGroup once the group is marked deleting
	// and removes it from the runtime in the background: wait for that.
	for deadline := time.Now().Add(10 * time.Second); rt.Running(g.ID) || len(rt.Removed()) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("group not removed from the runtime 10s after kcictl deleted it: removed %v", rt.Removed())
		}
	}

	// Success exits 0.
	rt.Hold("ok")
	r = h.start("run", "ok", "--image", "busybox:1.36", "--delete-after")
	g = rt.Started(t, "ok")
	rt.SetLog(g.ID, "ok", "done\n")
	rt.SetStatus(g.ID, core.GroupStatus{Phase: core.PhaseSucceeded,
		Containers: []core.ContainerStatus{{Name: "ok", Current: h.exited(0, "Completed")}}})
	if res = r.wait(t); res.code != 0 || res.stdout != "done\n" {
		t.Errorf("succeeded job: %+v", res)
	}

	// Interrupted: the group is deleted all the same.
	rt.Hold("int")
	r = h.start("run", "int", "--image", "busybox:1.36", "--delete-after")
	g = rt.Started(t, "int")
	r.waitFor(t, r.stderr, "Pending")
	r.cancel()
	res = r.wait(t)
	if res.code != 130 || !strings.Contains(res.stderr, "Deleted int") {
		t.Errorf("interrupted job: %+v", res)
	}
	if all, _ := h.client().ListContainerGroups(context.Background(), nil); len(all) != 0 {
		t.Errorf("%d groups left", len(all))
	}
}

// TestRunRequest checks what run sends for every flag.
func TestRunRequest(t *testing.T) {
	h := newHarness(t, func(o *kcidtest.Options) {
		o.Config = kcidtest.DefaultConfig + "disks: [{id: disk-1, zone: cn-beijing-6a, sizeGb: 1}]\n"
	})
	h.env["FROM_ENV"] = "from here"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte("events {}\n"), 0o640)
	h.create("full.example", "--image", "nginx:1.27", "--cpu", "0.5", "--memory", "0.25",
		"-e", "A=1", "-e", "FROM_ENV", "-p", "80", "-p", "53/udp", "--restart", "Never",
		"--subnet", kcidtest.SubnetID, "--security-group", kcidtest.SecurityGroupID,
		"-v", filepath.Join(dir, "nginx.conf")+":/etc/nginx:ro", "-v", "ebs:disk-1:/data:fs=xfs",
		"--registry-credential", "me:p@ss:w@rd@registry.example.com:5000",
		"--ingress-bandwidth", "10", "--egress-bandwidth", "20",
		"--command", "--", "nginx", "-g", "daemon off;")
	g := h.srv.Runtime.Started(t, "full.example")
	c := g.Containers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"cpu/memory", [2]float64{g.CPU, g.Memory}, [2]float64{0.5, 0.25}},
		{"restart", g.RestartPolicy, core.RestartNever},
		{"bandwidth", [2]int64{g.IngressBandwidth, g.EgressBandwidth}, [2]int64{10, 20}},
		{"container name", c.Name, "full-example"},
		{"command", strings.Join(c.Command, "|") + " / " + strings.Join(c.Args, "|"), "nginx / -g|daemon off;"},
		{"env", c.Env, []core.EnvVar{{Key: "A", Value: "1"}, {Key: "FROM_ENV", Value: "from here"}}},
		{"ports", c.Ports, []core.Port{{Port: 80, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}}},
		{"mounts", c.VolumeMounts, []core.VolumeMount{{Name: "config-1", MountPath: "/etc/nginx", ReadOnly: true}, {Name: "ebs-2", MountPath: "/data"}}},
		{"config volume", [3]any{g.Volumes[0].Type, g.Volumes[0].ConfigFiles[0].Path, string(g.Volumes[0].ConfigFiles[0].Content)}, [3]any{"ConfigFileVolume", "nginx.conf", "events {}\n"}},
		{"config mode", g.Volumes[0].ConfigFiles[0].Mode, uint32(0o640)},
		{"ebs", *g.Volumes[1].EBS, core.EBSVolume{VolumeID: "disk-1", FsType: "xfs"}},
		{"credentials", g.Credentials, []core.RegistryCredential{{Server: "registry.example.com:5000", Username: "me", Password: "p@ss:w@rd"}}},
		{"network", [2]any{g.Network.SubnetID, g.Network.SecurityGroupIDs}, [2]any{kcidtest.SubnetID, []string{kcidtest.SecurityGroupID}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	// Defaults: 1 CPU, 2 GiB, Always, words after NAME as the image's CMD.
	h.create("plain", "--image", "busybox:1.36", "echo", "hi")
	g = h.srv.Runtime.Started(t, "plain")
	if g.CPU != 1 || g.Memory != 2 || g.RestartPolicy != core.RestartAlways || g.Containers[0].Command != nil || strings.Join(g.Containers[0].Args, " ") != "echo hi" || g.Containers[0].Name != "plain" {
		t.Errorf("defaults: %+v", g)
	}
	h.create("ep", "--image", "busybox:1.36", "--container-name", "shell", "--entrypoint", "/bin/sh", "--", "-c", "date")
	g = h.srv.Runtime.Started(t, "ep")
	if c := g.Containers[0]; c.Name != "shell" || strings.Join(c.Command, " ") != "/bin/sh" || strings.Join(c.Args, " ") != "-c date" {
		t.Errorf("--entrypoint: %s %q %q", c.Name, c.Command, c.Args)
	}
}

func TestRunUsageErrors(t *testing.T) {
	h := newHarness(t)
	h.env["FROM_ENV"] = "x"
	for _, tc := range []struct{ golden, args string }{
		{"run/no-name.txt", "run --image busybox"},
		{"run/no-image.txt", "run web"},
		{"run/bad-port.txt", "run web --image busybox -p 8080:80"},
		{"run/bad-env.txt", "run web --image busybox -e UNSET_HERE"},
		{"run/bad-volume.txt", "run web --image busybox -v data"},
		{"run/bad-restart.txt", "run web --image busybox --restart Sometimes"},
		{"run/bad-host-alias.txt", "run web --image busybox --host-alias db"},
		{"run/unknown-flag.txt", "run web --image busybox --nope"},
		{"run/api-error.txt", "run Bad_Name --image busybox"},
		{"run/dry-run.txt", "run web --image busybox --dry-run"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			h.t = t
			h.golden(tc.golden, transcript(h.run(strings.Fields(tc.args)...)))
		})
	}
	h.t = t
	if all, _ := h.client().ListContainerGroups(context.Background(), nil); len(all) != 0 {
		t.Errorf("usage errors created %d groups", len(all))
	}
}

const webSpec = `# A web server and a sidecar.
ContainerGroupName: web
RestartPolicy: Always
Container:
  - Name: nginx
    Image: nginx:1.27
    Cpu: 0.5
    Memory: 1
    Port:
      - {Port: 80, Protocol: TCP}
    EnvironmentVar:
      - {Key: MODE, Value: prod}
      - {Key: POD_IP, ValueFrom: {FieldRef: {FieldPath: status.podIP}}}
    VolumeMount:
      - {Name: conf, MountPath: /etc/nginx/conf.d, ReadOnly: true}
      - {Name: cache, MountPath: /var/cache/nginx}
  - Name: sidecar
    Image: busybox:1.36
    Cpu: 0.25
    Memory: 0.5
    Command: [sh, -c]
    Arg: ["while true; do date; sleep 60; done"]
Volume:
  - Name: conf
    Type: ConfigFileVolume
    ConfigFileVolume:
      ConfigFileToPath:
        - Path: default.conf
          Content: c2VydmVyIHsgbGlzdGVuIDgwOyB9Cg==
          Mode: "0600"
  - Name: cache
    Type: EmptyDirVolume
DnsConfig:
  NameServer: [10.0.0.53]
  Search: [svc.local]
  Option: [{Name: ndots, Value: "2"}]
HostAlias:
  - {Ip: 10.0.0.9, Hostname: [db, db.local]}
`

func TestCreateFromFile(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	h.subst[dir] = "DIR"
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := write("web.yaml", webSpec)

	h.golden("create/dry-run.txt", transcript(h.run("create", "-f", spec, "--dry-run")))
	r := h.run("create", "-f", spec)
	if r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	h.name(strings.TrimSpace(r.stdout), "<web-id>")
	g := h.srv.Runtime.Started(t, "web")
	if g.CPU != 0.75 || g.Memory != 1.5 || len(g.Containers) != 2 || g.Containers[1].Args[0] != "while true; do date; sleep 60; done" ||
		string(g.Volumes[0].ConfigFiles[0].Content) != "server { listen 80; }\n" || g.Volumes[0].ConfigFiles[0].Mode != 0o600 ||
		g.HostAliases[0].Hostnames[1] != "db.local" || g.DNS.Options[0].Value != "2" || g.Network.SubnetID != kcidtest.SubnetID {
		t.Errorf("created from the spec: %+v", g)
	}
	if e := g.Containers[0].Env[1]; e.Key != "POD_IP" || e.FieldPath != "status.podIP" || e.Value != "" {
		t.Errorf("env from a field: %+v", e)
	}
	if r := h.run("describe", "web"); !strings.Contains(r.stdout, "      POD_IP=(status.podIP)\n") {
		t.Errorf("describe shows no field reference:\n%s", r.stdout)
	}

	// JSON, from standard input, two documents in YAML.
	r = h.runIn(`{"ContainerGroupName":"from-json","Container":[{"Name":"c","Image":"busybox:1"}]}`, "create", "-f", "-")
	if r.code != 0 || h.srv.Runtime.Started(t, "from-json").CPU != 1 {
		t.Errorf("JSON from stdin: %+v", r)
	}
	two := write("two.yaml", "ContainerGroupName: one\nContainer: [{Name: c, Image: busybox:1}]\n---\nContainerGroupName: two\nContainer: [{Name: c, Image: busybox:1}]\n")
	if r = h.run("create", "-f", two); r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("two documents: %+v", r)
	}

	h.golden("create/unknown-field.txt", transcript(h.run("create", "-f", write("typo.yaml", "ContainerGroupName: x\nContainers: [{Name: c, Image: busybox:1}]\n"))))
	h.golden("create/no-container.txt", transcript(h.run("create", "-f", write("empty.yaml", "ContainerGroupName: x\n"))))
	h.golden("create/bad-yaml.txt", transcript(h.run("create", "-f", write("bad.yaml", "ContainerGroupName: [\n"))))
	h.golden("create/api-error.txt", transcript(h.run("create", "-f", write("api.yaml", "ContainerGroupName: x\nContainer: [{Name: c, Image: busybox:1, Port: [{Port: 70000}]}]\n"))))
	h.golden("create/no-file.txt", transcript(h.run("create")))
	h.golden("create/missing-file.txt", transcript(h.run("create", "-f", filepath.Join(dir, "nope.yaml"))))
}

func TestNameResolution(t *testing.T) {
	h := newHarness(t)
	a := h.create("dup", "--image", "busybox:1.36")
	h.clock.Advance(time.Minute)
	b := h.run("run", "dup", "--image", "busybox:1.36").stdout
	b = strings.TrimSpace(b)
	h.name(b, "<dup2-id>")
	h.create("dup-not", "--image", "busybox:1.36")

	h.golden("resolve/ambiguous.txt", transcript(h.run("describe", "dup")))
	h.golden("resolve/ambiguous-delete.txt", transcript(h.run("delete", "dup-not", "dup")))
	h.golden("resolve/unknown.txt", transcript(h.run("logs", "du")))
	// IDs always work; the other groups are untouched by the failed delete.
	if r := h.run("get", a, b, "dup-not", "-o", "id"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("get by IDs: %+v", r)
	}
	h.golden("resolve/delete-by-id.txt", transcript(h.run("delete", a)))
	// Now the name is unique again.
	h.golden("resolve/unique-again.txt", transcript(h.run("get", "dup")))
}

func TestDeleteAndWait(t *testing.T) {
	h := newHarness(t)
	h.create("web", "--image", "nginx:1.27")
	h.create("job", "--image", "busybox:1.36")
	h.golden("delete/dry-run.txt", transcript(h.run("delete", "web", "--dry-run")))
	h.golden("delete/wait.txt", transcript(h.run("delete", "web", "job", "--wait")))
	h.golden("delete/unknown.txt", transcript(h.run("delete", "web")))
	h.golden("delete/no-args.txt", transcript(h.run("delete")))

	rt := h.srv.Runtime
	rt.Hold("w")
	id := h.create("w", "--image", "busybox:1.36", "--restart", "Never")
	h.golden("wait/timeout.txt", transcript(h.run("wait", "w", "--for", "Running", "--timeout", "100ms")))
	r := h.start("wait", "w", "--for", "running")
	time.Sleep(30 * time.Millisecond)
	rt.SetStatus(id, core.GroupStatus{Phase: core.PhaseRunning, Containers: []core.ContainerStatus{{Name: "w", Current: h.running("w")}}})
	h.golden("wait/running.txt", transcript(r.wait(t)))

	rt.SetStatus(id, core.GroupStatus{Phase: core.PhaseFailed, Containers: []core.ContainerStatus{{Name: "w", Current: h.exited(1, "Error")}}})
	h.golden("wait/never.txt", transcript(h.run("wait", "w", "--for", "Succeeded")))
	h.golden("wait/ended.txt", transcript(h.run("wait", id, "--for", "Ended")))
	h.golden("wait/bad-condition.txt", transcript(h.run("wait", "w", "--for", "Happy")))

	r = h.start("wait", "w", "--for", "Deleted")
	time.Sleep(30 * time.Millisecond)
	if _, err := h.client().DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: id}); err != nil {
		t.Fatal(err)
	}
	h.golden("wait/deleted.txt", transcript(r.wait(t)))
}

func TestWatch(t *testing.T) {
	h := newHarness(t)
	rt := h.srv.Runtime
	h.create("web", "--image", "nginx:1.27")
	rt.Hold("job")
	job := h.create("job", "--image", "busybox:1.36")
	r := h.start("get", "-w")
	r.waitFor(t, r.stdout, "job")
	time.Sleep(30 * time.Millisecond) // polls that change nothing print nothing
	rt.SetStatus(job, core.GroupStatus{Phase: core.PhaseRunning, Containers: []core.ContainerStatus{{Name: "job", Current: h.running("job")}}})
	r.waitFor(t, r.stdout, "1/1     0          10.0.1.3")
	h.clock.Advance(time.Minute)
	h.create("new", "--image", "busybox:1.36")
	r.waitFor(t, r.stdout, "new")
	if _, err := h.client().DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: job}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, r.stdout, "Deleted")
	r.cancel()
	h.golden("get/watch.txt", transcript(r.wait(t)))

	// JSON: one object a line.
	r = h.start("get", "-w", "-o", "json", "web")
	r.waitFor(t, r.stdout, "\n")
	r.cancel()
	res := r.wait(t)
	var g kci.ContainerGroup
	if err := json.Unmarshal([]byte(res.stdout), &g); err != nil || g.ContainerGroupName != "web" || res.code != 0 {
		t.Errorf("get -w -o json: %v %q", err, res.stdout)
	}
}

func TestNetworkAndRegions(t *testing.T) {
	h := newHarness(t)
	h.golden("other/network.txt", transcript(h.run("network")))
	h.golden("other/regions.txt", transcript(h.run("regions")))
	h.golden("other/version.txt", transcript(h.run("version")))
}

// TestDefaultNetworkChoice: with two subnets or security groups, run says
// which there are instead of guessing.
func TestDefaultNetworkChoice(t *testing.T) {
	h := newHarness(t, func(o *kcidtest.Options) {
		o.Config = `
vpcs: [{id: vpc-test, name: test, cidr: 10.0.0.0/16}]
subnets:
  - {id: subnet-a, name: a, vpc: vpc-test, cidr: 10.0.1.0/24, zone: cn-beijing-6a}
  - {id: subnet-b, name: b, vpc: vpc-test, cidr: 10.0.2.0/24, zone: cn-beijing-6b}
securityGroups:
  - {id: sg-a, name: a, vpc: vpc-test}
  - {id: sg-b, name: b, vpc: vpc-test}
`
	})
	h.golden("run/choose-subnet.txt", transcript(h.run("run", "web", "--image", "nginx:1.27")))
	h.golden("run/choose-security-group.txt", transcript(h.run("run", "web", "--image", "nginx:1.27", "--subnet", "subnet-b")))
	h.golden("run/unknown-subnet.txt", transcript(h.run("run", "web", "--image", "nginx:1.27", "--subnet", "subnet-x")))
	if r := h.run("run", "web", "--image", "nginx:1.27", "--subnet", "subnet-b", "--security-group", "sg-b"); r.code != 0 {
		t.Fatalf("explicit network: %+v", r)
	}
	if g := h.srv.Runtime.Started(t, "web"); g.Zone != "cn-beijing-6b" {
		t.Errorf("zone %s", g.Zone)
	}
}

func TestTop(t *testing.T) {
	h := newHarness(t)
	spec := filepath.Join(t.TempDir(), "two.yaml")
	os.WriteFile(spec, []byte("ContainerGroupName: pair\nCpu: 1\nMemory: 1\nContainer:\n- {Name: a, Image: busybox:1, Cpu: 0.5}\n- {Name: b, Image: busybox:1}\n"), 0o644)
	r := h.run("create", "-f", spec)
	id := strings.TrimSpace(r.stdout)
	h.name(id, "<pair-id>")
	h.golden("top/no-sample.txt", transcript(h.run("top", "pair")))
	at := h.clock.Now()
	for i, d := range []time.Duration{0, 15 * time.Second} {
		n := uint64(i)
		h.srv.Runtime.SetStats(id, core.GroupStats{Time: at.Add(d), CPUNanos: n * 6e9,
			Memory:     core.MemoryStats{WorkingSet: 48 << 20},
			Interfaces: []core.InterfaceStats{{Name: "eth0", RxBytes: 3 << 20, RxPackets: 2000, TxBytes: 1 << 20, TxPackets: 900}},
			Containers: []core.ContainerStats{{Name: "a", CPUNanos: n * 6e9, Memory: core.MemoryStats{WorkingSet: 1 << 20}},
				{Name: "b", CPUNanos: 0, Memory: core.MemoryStats{WorkingSet: 47 << 20}}}})
		h.srv.App.Service().SampleUsage(context.Background(), h.srv.Runtime)
	}
	h.clock.Advance(20 * time.Second)
	h.golden("top/pair.txt", transcript(h.run("top", "pair")))
	h.golden("top/unknown.txt", transcript(h.run("top", "nope")))
}
