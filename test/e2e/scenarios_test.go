package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

// Deadlines. The machine may be loaded: they are generous, and every wait
// polls, so a healthy run takes far less.
const (
	runningTimeout = 90 * time.Second
	logTimeout     = 60 * time.Second
	goneTimeout    = 60 * time.Second
)

// TestRunAndLogs: a group runs, Describe shows it Running with the events
// of the spec, and its log is readable.
func TestRunAndLogs(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetRun)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-run", subnet: subnetRun,
		script: "echo hello from kci; sleep 3600",
	})
	// The kcid's containerd namespace is new: the image is not there yet.
	want := []event{
		{Type: "Normal", Reason: "Pulling", Message: "Pulling image `" + e.image + "`"},
		{Type: "Normal", Reason: "Pulled", Message: "Successfully pulled image `" + e.image + "`"},
		{Type: "Normal", Reason: "Created", Message: "Created container " + ctrName},
		{Type: "Normal", Reason: "Started", Message: "Started container " + ctrName},
	}
	g := waitGroup(t, k, c, id, runningTimeout, "Running with Pulling, Pulled, Created and Started events", func(g *group) bool {
		if !running(g) {
			return false
		}
		for _, w := range want {
			if !g.hasEvent(w.Reason, w.Message) {
				return false
			}
		}
		return true
	})
	if g.Name != "e2e-run" || g.RestartPolicy != "Always" {
		t.Errorf("name %q, restart policy %q; want e2e-run, Always", g.Name, g.RestartPolicy)
	}
	if p := netip.MustParsePrefix("10.77.1.0/24"); !validIn(g.ip(), p) {
		t.Errorf("PrivateIpAddress %q is not in the subnet %s", g.ip(), p)
	}
	ctr := mainContainer(t, g)
	if ctr.Image != e.image || ctr.RestartCount != 0 || ctr.CurrentState.StartTime == nil {
		t.Errorf("container: image %q restarts %d start time %v; want %q, 0, set", ctr.Image, ctr.RestartCount, ctr.CurrentState.StartTime, e.image)
	}
	// Events are kept in the order they first happened.
	var order []string
	for _, ev := range g.Events {
		for _, w := range want {
			if ev.Reason == w.Reason && ev.Message == w.Message {
				if ev.Type != w.Type {
					t.Errorf("event %s %q has type %s, want %s", ev.Reason, ev.Message, ev.Type, w.Type)
				}
				order = append(order, ev.Reason)
			}
		}
	}
	if want := []string{"Pulling", "Pulled", "Created", "Started"}; !slices.Equal(order, want) {
		t.Errorf("events in order %v, want %v; events:\n%s", order, want, dump(g.Events))
	}
	waitLog(t, k, c, id, "hello from kci", logTimeout)
}

// TestGroupNetworking: two groups of one subnet reach each other by IP, and
// the host reaches a group's IP.
func TestGroupNetworking(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetNet)
	c := newClient(k)
	srvID := createGroup(t, e, c, groupSpec{
		name: "e2e-net-server", subnet: subnetNet,
		script: "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 8080 -h /www",
	})
	srv := waitGroup(t, k, c, srvID, runningTimeout, "Running", running)
	srvIP := srv.ip()
	// The client retries (bounded) until the server answers, then pings it.
	cliID := createGroup(t, e, c, groupSpec{
		name: "e2e-net-client", subnet: subnetNet,
		script: fmt.Sprintf(`for i in $(seq 1 60); do
  if out=$(timeout 5 wget -q -O - http://%[1]s:8080/ 2>&1); then echo "got:$out"; break; fi
  echo "try $i: $out"; sleep 1
done
if ping -c 1 -W 2 %[1]s; then echo ping-ok; else echo ping-failed; fi
echo ==end; sleep 3600`, srvIP),
	})
	cli := waitGroup(t, k, c, cliID, runningTimeout, "Running", running)
	p := netip.MustParsePrefix("10.77.2.0/24")
	if !validIn(srvIP, p) || !validIn(cli.ip(), p) || srvIP == cli.ip() {
		t.Errorf("group IPs %q and %q: want two addresses of %s", srvIP, cli.ip(), p)
	}
	out := waitLog(t, k, c, cliID, "==end", logTimeout)
	if !strings.Contains(out, "got:pong") {
		t.Errorf("client group could not fetch http://%s:8080/ from the server group; its log:\n%s", srvIP, out)
	}
	if !strings.Contains(out, "ping-ok") {
		t.Errorf("client group could not ping the server group %s; its log:\n%s", srvIP, out)
	}

	// The host reaches the groups: TCP (HTTP) and ICMP.
	hc := http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := httpGet(&hc, "http://"+srvIP+":8080/")
		if err == nil && body == "pong\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host: GET http://%s:8080/ = %q, %v; want \"pong\\n\"", srvIP, body, err)
		}
		time.Sleep(pollEvery)
	}
	waitHostPing(t, srvIP, 30*time.Second)
	waitHostPing(t, cli.ip(), 30*time.Second)
}

func httpGet(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("HTTP %s", resp.Status)
	}
	return string(b), err
}

// TestCrashLoop: a container that exits 3 under RestartPolicy Always is
// restarted after a back-off, kubelet style.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetCrash)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-crash", subnet: subnetCrash, restartPolicy: "Always",
		script: "echo crash; exit 3",
	})
	// kcid's back-off is kubelet's: 10 s before the first restart.
	sawBackOffState := false
	badPrevious := ""
	g := waitGroup(t, k, c, id, 90*time.Second,
		"RestartCount >= 1, PreviousState terminated/Error exit 3, a BackOff event and CurrentState waiting/CrashLoopBackOff seen",
		func(g *group) bool {
			ctr := g.container(ctrName)
			if ctr == nil {
				return false
			}
			if ctr.CurrentState.is("waiting", "CrashLoopBackOff") {
				sawBackOffState = true
				if (!ctr.PreviousState.is("terminated", "Error") || !ctr.PreviousState.exitCode(3)) && badPrevious == "" {
					badPrevious = dump(ctr.PreviousState)
				}
			}
			return sawBackOffState && ctr.RestartCount >= 1 &&
				ctr.PreviousState.is("terminated", "Error") && ctr.PreviousState.exitCode(3) &&
				g.hasEvent("BackOff", "Back-off restarting failed container "+ctrName)
		})
	if badPrevious != "" {
		t.Errorf("in CrashLoopBackOff, PreviousState = %s; want terminated, Error, exit 3", badPrevious)
	}
	ctr := mainContainer(t, g)
	if ctr.PreviousState.FinishTime == nil || ctr.PreviousState.StartTime == nil {
		t.Errorf("PreviousState lacks start or finish time: %s", dump(ctr.PreviousState))
	}
	for _, ev := range g.Events {
		if ev.Reason == "BackOff" && ev.Type != "Warning" {
			t.Errorf("BackOff event of type %s, want Warning", ev.Type)
		}
	}
	// DescribeContainerGroupEvents answers the same events, in the SDK's
	// shape (pkg/kci's model, unknown fields refused).
	var evs kci.DescribeContainerGroupEventsResponse
	if err := c.callStrict("DescribeContainerGroupEvents", vals("ContainerGroupId", id), &evs); err != nil {
		t.Fatal(err)
	}
	for _, want := range g.Events {
		if !slices.ContainsFunc(evs.Events, func(e kci.Event) bool {
			return e.Reason == want.Reason && e.Type == want.Type && e.Message == want.Message && e.Count >= want.Count
		}) {
			t.Errorf("DescribeContainerGroupEvents lacks %s %s %q: %+v", want.Type, want.Reason, want.Message, evs.Events)
		}
	}
	var notFound *apiError
	if err := c.callStrict("DescribeContainerGroupEvents", vals("ContainerGroupId", "no-such-group"), nil); !errors.As(err, &notFound) || notFound.Code != "ContainerGroupNotFound" {
		t.Errorf("events of a missing group: %v", err)
	}
	waitLog(t, k, c, id, "crash", logTimeout)
}

// TestRestartPolicies: OnFailure with exit 0 succeeds; Never with exit 1
// fails; neither is restarted.
func TestRestartPolicies(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetPolicy)
	c := newClient(k)
	okID := createGroup(t, e, c, groupSpec{
		name: "e2e-onfailure-ok", subnet: subnetPolicy, restartPolicy: "OnFailure",
		script: "echo done; exit 0",
	})
	failID := createGroup(t, e, c, groupSpec{
		name: "e2e-never-fail", subnet: subnetPolicy, restartPolicy: "Never",
		script: "echo failing; exit 1",
	})

	g := waitGroup(t, k, c, okID, runningTimeout, "Succeeded", func(g *group) bool { return g.Status == "Succeeded" })
	if g.SucceededTime == nil || *g.SucceededTime == "" {
		t.Errorf("Succeeded group has no SucceededTime: %s", dump(g))
	}
	if ctr := mainContainer(t, g); !ctr.CurrentState.is("terminated", "Completed") || !ctr.CurrentState.exitCode(0) || ctr.RestartCount != 0 {
		t.Errorf("OnFailure/exit 0: container %s; want terminated, Completed, exit 0, no restart", dump(ctr))
	}

	g = waitGroup(t, k, c, failID, runningTimeout, "Failed", func(g *group) bool { return g.Status == "Failed" })
	if g.SucceededTime != nil {
		t.Errorf("Failed group has SucceededTime %q", *g.SucceededTime)
	}
	if ctr := mainContainer(t, g); !ctr.CurrentState.is("terminated", "Error") || !ctr.CurrentState.exitCode(1) || ctr.RestartCount != 0 {
		t.Errorf("Never/exit 1: container %s; want terminated, Error, exit 1, no restart", dump(ctr))
	}
	waitLog(t, k, c, okID, "done", logTimeout)
	waitLog(t, k, c, failID, "failing", logTimeout)
}

// TestDNSConfigAndHostAliases: DnsConfig and HostAliase end up in the
// container's /etc/resolv.conf and /etc/hosts, with the group's own name.
func TestDNSConfigAndHostAliases(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetDNS)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-dns", subnet: subnetDNS,
		script: "echo ==resolv; cat /etc/resolv.conf; echo ==hosts; cat /etc/hosts; echo ==hostname; hostname; echo ==end; sleep 3600",
		extra: vals(
			"DnsConfig.NameServer.1", "10.0.0.2",
			"DnsConfig.Search.1", "svc.local",
			"DnsConfig.Option.1.Name", "ndots",
			"DnsConfig.Option.1.Value", "2",
			"HostAliase.1.Ip", "10.0.0.9",
			"HostAliase.1.Hostname.1", "db.local",
		),
	})
	g := waitGroup(t, k, c, id, runningTimeout, "Running", running)
	out := waitLog(t, k, c, id, "==end", logTimeout)
	resolv := section(out, "==resolv", "==hosts")
	hosts := section(out, "==hosts", "==hostname")
	t.Logf("resolv.conf:\n%s\nhosts:\n%s\nhostname: %s", resolv, hosts, strings.TrimSpace(section(out, "==hostname", "==end")))

	fields := resolvFields(resolv)
	nameservers, search, options := fields["nameserver"], fields["search"], fields["options"]
	if !slices.Equal(nameservers, []string{"10.0.0.2"}) || !slices.Contains(search, "svc.local") || !slices.Contains(options, "ndots:2") {
		t.Errorf("/etc/resolv.conf: nameservers %v, search %v, options %v; want [10.0.0.2], svc.local, ndots:2:\n%s", nameservers, search, options, resolv)
	}
	if !hasHostsLine(hosts, "10.0.0.9", "db.local") {
		t.Errorf("/etc/hosts lacks \"10.0.0.9 db.local\":\n%s", hosts)
	}
	if !hasHostsLine(hosts, g.ip(), "e2e-dns") {
		t.Errorf("/etc/hosts lacks the group's own entry \"%s e2e-dns\":\n%s", g.ip(), hosts)
	}
	// Describe echoes what was asked.
	d := g.DNSConfig
	if d == nil || !slices.Equal(d.NameServers, []string{"10.0.0.2"}) || !slices.Equal(d.Searches, []string{"svc.local"}) ||
		len(d.Options) != 1 || d.Options[0].Name != "ndots" || d.Options[0].Value == nil || *d.Options[0].Value != "2" {
		t.Errorf("Describe DnsConfig = %s", dump(d))
	}
	if len(g.HostAliases) != 1 || g.HostAliases[0].IP != "10.0.0.9" || !slices.Equal(g.HostAliases[0].Hostnames, []string{"db.local"}) {
		t.Errorf("Describe HostAliases = %s", dump(g.HostAliases))
	}
}

// hasHostsLine reports whether a hosts file maps ip to name.
func hasHostsLine(hosts, ip, name string) bool {
	for _, l := range strings.Split(hosts, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == ip && slices.Contains(f[1:], name) {
			return true
		}
	}
	return false
}

// section returns the text of out between the lines from and to.
func section(out, from, to string) string {
	_, rest, ok := strings.Cut(out, from+"\n")
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(rest, to+"\n")
	return s
}

// TestConfigFileVolume: a ConfigFileVolume file has its content and mode,
// and the mount is read-only.
func TestConfigFileVolume(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetVolume)
	c := newClient(k)
	content := "listen = 8080\nname = e2e\n"
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-volume", subnet: subnetVolume,
		// stderr into stdout: the log keeps the order of the lines.
		script: `exec 2>&1; echo ==content; cat /etc/app/app.conf; echo ==mode; stat -c %a /etc/app/app.conf
echo ==write
if echo x > /etc/app/new.conf; then echo create-succeeded; else echo create-failed; fi
if echo x >> /etc/app/app.conf; then echo append-succeeded; else echo append-failed; fi
echo ==end; sleep 3600`,
		extra: vals(
			"Volume.1.Name", "app-config",
			"Volume.1.Type", "ConfigFileVolume",
			"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Path", "app.conf",
			"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content", base64.StdEncoding.EncodeToString([]byte(content)),
			"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode", "0600",
			"Container.1.VolumeMount.1.Name", "app-config",
			"Container.1.VolumeMount.1.MountPath", "/etc/app",
		),
	})
	waitGroup(t, k, c, id, runningTimeout, "Running", running)
	out := waitLog(t, k, c, id, "==end", logTimeout)
	if got := section(out, "==content", "==mode"); got != content {
		t.Errorf("/etc/app/app.conf = %q, want %q; log:\n%s", got, content, out)
	}
	if got := strings.TrimSpace(section(out, "==mode", "==write")); got != "600" {
		t.Errorf("mode of /etc/app/app.conf = %q, want 600; log:\n%s", got, out)
	}
	w := section(out, "==write", "==end")
	if !strings.Contains(w, "create-failed") || !strings.Contains(w, "append-failed") {
		t.Errorf("the ConfigFileVolume mount is writable; log:\n%s", out)
	}
}

// TestUnauthenticatedRequest: the binary refuses unsigned requests with the
// gateway's error.
func TestUnauthenticatedRequest(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e)
	c := newClient(k)
	status, raw, err := c.send("DescribeContainerGroup", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if ae := parseError(status, raw); status != http.StatusForbidden || ae.Code != "MissingAuthenticationToken" {
		t.Errorf("unsigned request: HTTP %d %s; want 403 MissingAuthenticationToken; body %s", status, ae.Code, raw)
	}
	// A signed request with the wrong secret is refused too.
	bad := newClient(k)
	bad.sk = "not-the-secret-key"
	if err := bad.call("DescribeContainerGroup", nil, nil); err == nil {
		t.Errorf("request signed with a wrong secret was accepted")
	} else if ae, ok := err.(*apiError); !ok || ae.Status != http.StatusForbidden {
		t.Errorf("request signed with a wrong secret: %v; want HTTP 403", err)
	}
	// And the right key works.
	if err := c.call("DescribeContainerGroup", nil, nil); err != nil {
		t.Errorf("signed request: %v", err)
	}
}

// TestDeleteLeavesNothing: a deleted group is gone from Describe at once,
// and soon from the machine; its IP is then given to the next group.
func TestDeleteLeavesNothing(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetDelete)
	c := newClient(k)
	freeBefore := availableIPs(t, c, subnetDelete)
	id := createGroup(t, e, c, groupSpec{name: "e2e-delete", subnet: subnetDelete, script: "echo up; sleep 3600"})
	g := waitGroup(t, k, c, id, runningTimeout, "Running", running)
	ip := g.ip()
	waitHostPing(t, ip, 30*time.Second)
	// The checks see a live group (else they would pass vacuously).
	left, err := leftovers(k, id, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"containerd container ", "containerd task ", "netns ", "cgroup ", "file "} {
		if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, kind) }) {
			t.Fatalf("the leftover checks do not see the running group's %s; they see:\n  %s", strings.TrimSpace(kind), strings.Join(left, "\n  "))
		}
	}

	if err := c.call("DeleteContainerGroup", vals("ContainerGroupId", id), nil); err != nil {
		t.Fatalf("DeleteContainerGroup: %v", err)
	}
	if g, err := describe(c, id); err != nil || g != nil {
		t.Errorf("Describe by ID right after delete: %s, %v; want no group", dump(g), err)
	}
	var all describeResponse
	if err := c.call("DescribeContainerGroup", nil, &all); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(all.ContainerGroups, func(g group) bool { return g.ID == id }) {
		t.Errorf("Describe lists the group right after delete")
	}
	waitGone(t, k, id, true, goneTimeout)

	// The IP is released and reused.
	deadline := time.Now().Add(30 * time.Second)
	for availableIPs(t, c, subnetDelete) != freeBefore {
		if time.Now().After(deadline) {
			t.Fatalf("subnet's AvailableIpNumber is %s 30s after the group was cleaned up, want %s", availableIPs(t, c, subnetDelete), freeBefore)
		}
		time.Sleep(pollEvery)
	}
	id2 := createGroup(t, e, c, groupSpec{name: "e2e-delete-again", subnet: subnetDelete, script: "sleep 3600"})
	g2 := waitGroup(t, k, c, id2, runningTimeout, "Running", running)
	if g2.ip() != ip {
		t.Errorf("new group got IP %s, want the released %s", g2.ip(), ip)
	}
	waitHostPing(t, g2.ip(), 30*time.Second)
}

// TestKcidRestartReadopts: kcid killed with SIGKILL and started again on the
// same data dir re-adopts a running group without restarting it.
func TestKcidRestartReadopts(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetRestart)
	c := newClient(k)
	id := createGroup(t, e, c, groupSpec{name: "e2e-survivor", subnet: subnetRestart, script: "echo boot-marker; sleep 3600"})
	before := waitGroup(t, k, c, id, runningTimeout, "Running", running)
	waitLog(t, k, c, id, "boot-marker", logTimeout)
	startTime := mainContainer(t, before).CurrentState.StartTime

	k.kill()
	// The group runs on without kcid.
	waitHostPing(t, before.ip(), 30*time.Second)
	if len(k.containersOf(id)) == 0 {
		t.Fatalf("the running group's containers went with kcid")
	}

	if err := k.start(); err != nil {
		t.Fatalf("restart kcid: %v", err)
	}
	after := waitGroup(t, k, c, id, runningTimeout, "Running after the restart", running)
	ctr := mainContainer(t, after)
	if after.ID != id || after.ip() != before.ip() {
		t.Errorf("after restart: ID %s IP %s, want %s %s", after.ID, after.ip(), id, before.ip())
	}
	if ctr.RestartCount != 0 || ctr.PreviousState != nil {
		t.Errorf("after restart: RestartCount %d, PreviousState %s; want 0, none", ctr.RestartCount, dump(ctr.PreviousState))
	}
	if startTime == nil || ctr.CurrentState.StartTime == nil || *ctr.CurrentState.StartTime != *startTime {
		t.Errorf("container StartTime changed across the kcid restart: %v -> %v", deref(startTime), deref(ctr.CurrentState.StartTime))
	}
	out, err := logs(c, id, ctrName)
	if err != nil {
		t.Errorf("DescribeContainerLog after restart: %v", err)
	} else if n := strings.Count(out, "boot-marker"); n != 1 {
		t.Errorf("log after restart has %d boot-marker lines, want 1 (the process ran once):\n%s", n, out)
	}
	waitHostPing(t, after.ip(), 30*time.Second)

	if err := c.call("DeleteContainerGroup", vals("ContainerGroupId", id), nil); err != nil {
		t.Fatalf("delete %s: %v", id, err)
	}
	waitGone(t, k, id, true, goneTimeout)
}

// TestKcidKilledAfterCreate: groups created just before kcid is killed with
// SIGKILL (caught at different points of their set-up) are known after the
// restart, and deleting them leaves nothing behind.
func TestKcidKilledAfterCreate(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetOrphan)
	c := newClient(k)
	var ids []string
	for i := 1; i <= 3; i++ {
		ids = append(ids, createGroup(t, e, c, groupSpec{name: fmt.Sprintf("e2e-orphan-%d", i), subnet: subnetOrphan, script: "sleep 3600"}))
	}
	k.kill()
	if err := k.start(); err != nil {
		t.Fatalf("restart kcid: %v", err)
	}
	for _, id := range ids {
		g, err := describe(c, id)
		if err != nil || g == nil {
			t.Fatalf("group created before the kill: Describe = %v, %v", dump(g), err)
		}
		t.Logf("%s, created just before the kill, after the restart: status %s", g.Name, g.Status)
		if err := c.call("DeleteContainerGroup", vals("ContainerGroupId", id), nil); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
	}
	for _, id := range ids {
		waitGone(t, k, id, true, goneTimeout)
	}
}

// mainContainer returns the group's container, with a current state.
func mainContainer(t *testing.T, g *group) *container {
	t.Helper()
	c := g.container(ctrName)
	if c == nil || c.CurrentState == nil {
		t.Fatalf("group %s has no container %q with a CurrentState:\n%s", g.ID, ctrName, dump(g))
	}
	return c
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func validIn(ip string, p netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && p.Contains(a)
}

// TestServeHelp: kcid serve --help prints the flags.
func TestServeHelp(t *testing.T) {
	t.Parallel()
	if buildErr != nil {
		t.Fatalf("kcid binary: %v", buildErr)
	}
	out, code := runKcid(t, nil, "serve", "--help")
	if code != 0 {
		t.Errorf("kcid serve --help exited %d, want 0", code)
	}
	for _, flag := range []string{"-listen", "-data-dir", "-config", "-insecure-no-auth", "-containerd-address", "KCID_ACCESS_KEY_ID", "KCID_SECRET_ACCESS_KEY"} {
		if !strings.Contains(out, flag) {
			t.Errorf("kcid serve --help does not mention %s:\n%s", flag, out)
		}
	}
}

// TestServeBadConfig: kcid serve with a bad config file exits non-zero and
// says what is wrong, before touching containerd.
func TestServeBadConfig(t *testing.T) {
	t.Parallel()
	if buildErr != nil {
		t.Fatalf("kcid binary: %v", buildErr)
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string // in the output
	}{
		{"unknown vpc", "vpcs:\n  - {id: vpc-a, cidr: 10.78.0.0/16}\nsubnets:\n  - {id: subnet-a, vpc: vpc-nope, cidr: 10.78.1.0/24, zone: cn-beijing-6a}\n",
			[]string{"subnet-a", `unknown vpc "vpc-nope"`}},
		{"unknown field", "bogusSetting: true\n", []string{"bogusSetting"}},
		{"bad yaml", "vpcs: [unclosed\n", []string{"config"}},
		{"subnet outside vpc", "vpcs:\n  - {id: vpc-a, cidr: 10.78.0.0/16}\nsubnets:\n  - {id: subnet-a, vpc: vpc-a, cidr: 10.79.1.0/24, zone: cn-beijing-6a}\n",
			[]string{"subnet-a", "not inside vpc"}},
		{"missing file", "", []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.yaml")
			if tc.yaml != "" {
				if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Should the config be accepted, nothing answers on the socket
			// and no containerd can be found to start: kcid fails with
			// another message instead of touching the machine.
			env := []string{"PATH=/nonexistent", "HOME=" + dir}
			out, code := runKcid(t, env, "serve", "--listen", "127.0.0.1:0",
				"--data-dir", filepath.Join(dir, "data"), "--config", cfg,
				"--containerd-address", filepath.Join(dir, "containerd.sock"))
			if code == 0 {
				t.Fatalf("kcid serve with a bad config exited 0:\n%s", out)
			}
			for _, w := range append([]string{"kcid:", cfg}, tc.want...) {
				if !strings.Contains(out, w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "kcid serving") {
				t.Errorf("kcid served with a bad config:\n%s", out)
			}
		})
	}
}

// runKcid runs the binary to completion (30 s at most) and returns its
// combined output and exit code.
func runKcid(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcidBin, args...)
	cmd.Env = env
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("kcid %s did not exit within 30s:\n%s", strings.Join(args, " "), out)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("kcid %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}
