package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/metrics/metricstest"
	dto "github.com/prometheus/client_model/go"
)

const metricsToken = "e2e-metrics-token"

// metricResponse is DescribeContainerGroupMetric's answer, as the wire
// shows it.
type metricResponse struct {
	Records []struct {
		Timestamp string
		CPU       cpuMetric
		Memory    memMetric
		Network   struct {
			Interfaces []struct {
				Name                 string
				RxPackets, TxPackets uint64
			}
		}
		Containers []struct {
			Name   string
			CPU    cpuMetric
			Memory memMetric
		}
	}
}

type cpuMetric struct{ Limit, UsageCoreNanoSeconds, UsageNanoCores uint64 }
type memMetric struct{ WorkingSet, UsageBytes uint64 }

// TestMetricsAndUsage: after known activity on real containerd (a refused
// create, signed creates and describes, a group burning CPU in one
// container and holding 48 MiB of tmpfs in another, pings to it),
// DescribeContainerGroupMetric shows the busy container's CPU rising and
// the memory the other allocated, and /metrics (bearer token) has the
// series with their labels, counters that move between two scrapes, a
// flapping group's restarts, and the group's series gone after its
// deletion.
func TestMetricsAndUsage(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcidWith(t, e, "metrics:\n  token: "+metricsToken+"\n  usageResolution: 1s\n", subnetMetrics)
	c := newClient(k)

	// A refused create: nothing is made, the refusal is counted.
	refused := vals("ContainerGroupName", "bad", "SubnetId", subnetMetrics, "SecurityGroupId.1", sgID,
		"ChargeType", "HourlyInstantSettlement", "Cpu", "0.001", "Memory", "0.5",
		"Container.1.Name", "main", "Container.1.Image", e.image)
	if err := c.call("CreateContainerGroup", refused, nil); err == nil || err.(*apiError).Code != "InvalidParameterValue" {
		t.Fatalf("create with Cpu 0.001: %v, want InvalidParameterValue", err)
	}

	const fillMiB = 48
	id := createGroup(t, e, c, groupSpec{
		name: "e2e-metrics", subnet: subnetMetrics,
		script: "while :; do :; done", // burns CPU (the group's 0.5 core)
		extra: vals(
			"Container.2.Name", "mem", "Container.2.Image", e.image,
			"Container.2.Command.1", "sh", "Container.2.Command.2", "-c",
			"Container.2.Arg.1", "dd if=/dev/zero of=/dev/shm/fill bs=1048576 count=48 && echo filled; sleep 3600"),
	})
	// A container that exits at once, restarted by policy (after the
	// lifecycle's back-off), for kcid_container_restarts_total.
	flap := createGroup(t, e, c, groupSpec{name: "e2e-metrics-flap", subnet: subnetMetrics, script: "exit 1"})
	g := waitGroup(t, k, c, id, runningTimeout, "Running", running)
	deadline := time.Now().Add(logTimeout)
	for {
		out, err := logs(c, id, "mem")
		if err == nil && strings.Contains(out, "filled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container mem did not fill /dev/shm: %q %v", out, err)
		}
		time.Sleep(pollEvery)
	}
	waitHostPing(t, g.ip(), 30*time.Second)
	filledAt := time.Now().UTC().Truncate(time.Second)

	// Wait for three samples after the fill: CPU then has two rates.
	var m metricResponse
	deadline = time.Now().Add(60 * time.Second)
	for {
		err := c.call("DescribeContainerGroupMetric", vals("ContainerGroupId", id, "StartTime", filledAt.Add(time.Second).Format(time.RFC3339)), &m)
		if err != nil {
			t.Fatalf("DescribeContainerGroupMetric: %v", err)
		}
		if len(m.Records) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 samples after 60 s at a 1 s resolution: %s", dump(m))
		}
		time.Sleep(500 * time.Millisecond)
	}
	first, last := m.Records[0], m.Records[len(m.Records)-1]
	ctr := func(i int, name string) (cpuMetric, memMetric) {
		for _, ct := range m.Records[i].Containers {
			if ct.Name == name {
				return ct.CPU, ct.Memory
			}
		}
		t.Fatalf("record %d has no container %s: %s", i, name, dump(m.Records[i]))
		return cpuMetric{}, memMetric{}
	}
	burn0, _ := ctr(0, ctrName)
	burn1, _ := ctr(len(m.Records)-1, ctrName)
	idle1, mem1 := ctr(len(m.Records)-1, "mem")
	t.Logf("%d records; busy container %.2f cores, sleeping one %.2f; mem container working set %.1f MiB (filled %d); group %.1f MiB",
		len(m.Records), float64(burn1.UsageNanoCores)/1e9, float64(idle1.UsageNanoCores)/1e9, float64(mem1.WorkingSet)/(1<<20), fillMiB, float64(last.Memory.WorkingSet)/(1<<20))
	if burn1.UsageCoreNanoSeconds <= burn0.UsageCoreNanoSeconds || burn1.UsageNanoCores == 0 {
		t.Errorf("the busy container's CPU did not rise: first %+v, last %+v", burn0, burn1)
	}
	if burn1.UsageNanoCores <= idle1.UsageNanoCores {
		t.Errorf("the busy container uses no more CPU than the sleeping one: %+v vs %+v", burn1, idle1)
	}
	if last.CPU.UsageCoreNanoSeconds < burn1.UsageCoreNanoSeconds || last.CPU.Limit != 500 || first.CPU.UsageCoreNanoSeconds > last.CPU.UsageCoreNanoSeconds {
		t.Errorf("group CPU %+v (first %+v) against the busy container's %+v; want the sum, rising, limit 500 millicores", last.CPU, first.CPU, burn1)
	}
	// The tmpfs pages are charged to the container that wrote them; the
	// rest is the shell, sleep and page tables: a few MiB.
	if ws := mem1.WorkingSet >> 20; ws < fillMiB || ws > fillMiB+16 {
		t.Errorf("container mem's working set is %d MiB; it filled %d MiB", ws, fillMiB)
	}
	if last.Memory.WorkingSet < mem1.WorkingSet {
		t.Errorf("group working set %d below its container's %d", last.Memory.WorkingSet, mem1.WorkingSet)
	}
	if n := last.Network.Interfaces; len(n) != 1 || n[0].Name != "eth0" || n[0].RxPackets == 0 || n[0].TxPackets == 0 {
		t.Errorf("interfaces after pings: %+v, want eth0 with packets both ways", n)
	}

	// /metrics wants the token.
	if code := getStatus(t, k.URL()+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	before := metricstest.Scrape(t, k.URL()+"/metrics", metricsToken)
	acct := map[string]string{"account": "2000000001"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	grp := with(acct, "group_id", id)
	atLeast := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"kcid_api_requests_total", with(acct, "action", "CreateContainerGroup", "code", ""), 1},
		{"kcid_api_requests_total", with(acct, "action", "CreateContainerGroup", "code", "InvalidParameterValue"), 1},
		{"kcid_api_requests_total", with(acct, "action", "DescribeContainerGroup", "code", ""), 1},
		{"kcid_api_requests_total", with(acct, "action", "DescribeContainerGroupMetric", "code", ""), 1},
		{"kcid_api_request_duration_seconds", map[string]string{"action": "DescribeContainerGroup"}, 1},
		{"kcid_groups", with(acct, "status", "Running"), 1},
		{"kcid_image_pulls_total", map[string]string{"result": "success"}, 1},
		{"kcid_image_pull_bytes_total", nil, 1},
		{"kcid_image_pull_duration_seconds", nil, 1},
		{"kcid_group_start_duration_seconds", nil, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "VolumesReady"}, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "NetworkReady"}, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "ImageReady"}, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "ContainerCreated"}, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "ContainerStarted"}, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "Running"}, 1},
		{"kcid_group_cpu_seconds_total", grp, 1e-9},
		{"kcid_group_memory_working_set_bytes", grp, fillMiB << 20},
		{"kcid_container_cpu_seconds_total", with(grp, "container", ctrName), 1e-9},
		{"kcid_container_memory_working_set_bytes", with(grp, "container", "mem"), fillMiB << 20},
		{"kcid_group_network_receive_packets_total", with(grp, "interface", "eth0"), 1},
		{"kcid_group_network_transmit_bytes_total", with(grp, "interface", "eth0"), 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, w := range atLeast {
		if v, ok := metricstest.Value(before, w.name, w.labels); !ok || v < w.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", w.name, w.labels, v, ok, w.min)
		}
	}
	live := 0.0
	for _, st := range []string{"Pending", "ImagePulling", "Running", "Succeeded", "Failed", "CreateError"} {
		v, _ := metricstest.Value(before, "kcid_groups", with(acct, "status", st))
		live += v
	}
	if live != 2 {
		t.Errorf("kcid_groups sums to %v over the statuses, want the 2 live groups", live)
	}
	if v, _ := metricstest.Value(before, "kcid_api_requests_total", with(acct, "action", "CreateContainerGroup", "code", "InvalidParameterValue")); v != 1 {
		t.Errorf("refused creates counted %v, want 1", v)
	}

	// Counters move: more describes, and the group burns on.
	for range 3 {
		if _, err := describe(c, id); err != nil {
			t.Fatal(err)
		}
	}
	var after map[string]*dto.MetricFamily
	deadline = time.Now().Add(30 * time.Second)
	for {
		after = metricstest.Scrape(t, k.URL()+"/metrics", metricsToken)
		cpu0, _ := metricstest.Value(before, "kcid_group_cpu_seconds_total", grp)
		cpu1, _ := metricstest.Value(after, "kcid_group_cpu_seconds_total", grp)
		if cpu1 > cpu0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kcid_group_cpu_seconds_total did not move in 30 s: %v then %v", cpu0, cpu1)
		}
		time.Sleep(500 * time.Millisecond)
	}
	d := with(acct, "action", "DescribeContainerGroup", "code", "")
	if n0, _ := metricstest.Value(before, "kcid_api_requests_total", d); func() bool { n1, _ := metricstest.Value(after, "kcid_api_requests_total", d); return n1 < n0+3 }() {
		t.Errorf("3 more describes did not move kcid_api_requests_total%v from %v", d, n0)
	}

	// The flapping group's restarts are counted for its account.
	waitGroup(t, k, c, flap, runningTimeout, "restarted", func(g *group) bool {
		return len(g.Containers) == 1 && g.Containers[0].RestartCount >= 1
	})
	if n, _ := metricstest.Value(metricstest.Scrape(t, k.URL()+"/metrics", metricsToken), "kcid_container_restarts_total", acct); n < 1 {
		t.Errorf("kcid_container_restarts_total%v = %v after a restart", acct, n)
	}
	if err := c.call("DeleteContainerGroup", vals("ContainerGroupId", flap), nil); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, flap, false, goneTimeout)

	// Deleted: the delete is timed, the group's series go.
	if err := c.call("DeleteContainerGroup", vals("ContainerGroupId", id), nil); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, id, false, goneTimeout)
	deadline = time.Now().Add(30 * time.Second)
	for {
		fams := metricstest.Scrape(t, k.URL()+"/metrics", metricsToken)
		_, present := metricstest.Value(fams, "kcid_group_cpu_seconds_total", grp)
		deletes, _ := metricstest.Value(fams, "kcid_group_delete_duration_seconds", nil)
		if !present && deletes == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the delete: group series present %v, deletes timed %v", present, deletes)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := c.call("DescribeContainerGroupMetric", vals("ContainerGroupId", id), nil); err == nil || err.(*apiError).Status != http.StatusNotFound {
		t.Errorf("usage of a deleted group: %v, want 404", err)
	}
}

func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
