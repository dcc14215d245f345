package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// DescribeContainerGroupMetric over HTTP: bad input is a 400 naming the
// parameter, another account's group is not found, and the samples the
// service took come back with the group's limits and CPU rates.
func TestDescribeContainerGroupMetric(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig})
	alice, bob := s.client(), s.client()
	alice.ak, alice.sk = "AKLTalice", "alice-secret-1"
	bob.ak, bob.sk = "AKLTbob", "bob-secret-123"
	p := createParams("alice-web")
	p.Set("SecurityGroupId.1", "sg-a")
	r := alice.do("CreateContainerGroup", p)
	mustOK(t, r)
	id := r.Body["ContainerGroupId"].(string)

	now := time.Now().UTC().Truncate(time.Second)
	for i, at := range []time.Time{now.Add(-30 * time.Second), now.Add(-15 * time.Second)} {
		s.rt.SetStats(id, core.GroupStats{Time: at, CPUNanos: uint64(i) * 15e9, Memory: core.MemoryStats{WorkingSet: 1 << 20}})
		s.app.Service().SampleUsage(context.Background(), s.rt)
	}

	bad := []struct {
		name, param string
		set         []string
		code        string
	}{
		{"no group", "ContainerGroupId", nil, "MissingParameter"},
		{"start not RFC 3339", "StartTime", []string{"ContainerGroupId", id, "StartTime", "yesterday"}, "InvalidParameterValue"},
		{"end not RFC 3339", "EndTime", []string{"ContainerGroupId", id, "EndTime", "1700000000"}, "InvalidParameterValue"},
		{"start after end", "StartTime", []string{"ContainerGroupId", id, "StartTime", "2026-12-01T08:00:00Z", "EndTime", "2026-12-01T07:00:00Z"}, "InvalidParameterValue"},
		{"period 20", "Period", []string{"ContainerGroupId", id, "Period", "20"}, "InvalidParameterValue"},
		{"period not a number", "Period", []string{"ContainerGroupId", id, "Period", "x"}, "InvalidParameterValue"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			mustErr(t, alice.do("DescribeContainerGroupMetric", vals(tc.set...)), http.StatusBadRequest, tc.code, tc.param)
		})
	}
	mustErr(t, bob.do("DescribeContainerGroupMetric", vals("ContainerGroupId", id)), http.StatusNotFound, "ContainerGroupNotFound", id)
	mustErr(t, alice.do("DescribeContainerGroupMetric", vals("ContainerGroupId", "nope")), http.StatusNotFound, "ContainerGroupNotFound", "nope")
	mustErr(t, alice.do("DescribeContainerGroupMetric", vals("ContainerGroupId", "nope", "DryRun", "true")), http.StatusNotFound, "ContainerGroupNotFound", "nope")
	mustErr(t, alice.do("DescribeContainerGroupMetric", vals("ContainerGroupId", id, "DryRun", "true")), http.StatusPreconditionFailed, "DryRunOperation", "DryRun")

	r = alice.do("DescribeContainerGroupMetric", vals("ContainerGroupId", id))
	mustOK(t, r)
	recs := r.Body["Records"].([]any)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2: %s", len(recs), r.Raw)
	}
	last := recs[1].(map[string]any)
	cpu := last["CPU"].(map[string]any)
	// 15 s of CPU in 15 s: one core.
	if cpu["UsageNanoCores"].(float64) != 1e9 || cpu["Limit"].(float64) != 2000 {
		t.Errorf("CPU of the last record = %v, want UsageNanoCores 1e9, Limit 2000 (Cpu 2)", cpu)
	}
	if ws := last["Memory"].(map[string]any)["WorkingSet"].(float64); ws != 1<<20 {
		t.Errorf("WorkingSet = %v, want %d", ws, 1<<20)
	}
	// Period 60 keeps the last sample of each minute.
	r = alice.do("DescribeContainerGroupMetric", vals("ContainerGroupId", id, "Period", "60",
		"StartTime", now.Add(-time.Minute).Format(time.RFC3339), "EndTime", now.Format(time.RFC3339)))
	mustOK(t, r)
	if n := len(r.Body["Records"].([]any)); n < 1 || n > 2 {
		t.Errorf("Period 60 over one minute gave %d records", n)
	}

	// The requests above are counted on /metrics, by action, code and
	// account; the group has its usage series.
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`kcid_api_requests_total{account="1001",action="DescribeContainerGroupMetric",code="InvalidParameterValue"} 5`,
		`kcid_api_requests_total{account="1002",action="DescribeContainerGroupMetric",code="ContainerGroupNotFound"} 1`,
		`kcid_api_requests_total{account="1001",action="CreateContainerGroup",code=""} 1`,
		`kcid_groups{account="1001",status="Running"} 1`,
		`kcid_group_cpu_seconds_total{account="1001",group_id="` + id + `"} 15`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
