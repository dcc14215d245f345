package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/metrics/metricstest"
	"github.com/openkci/openkci/internal/service"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fakeSource struct {
	counts []service.GroupCount
	err    error
	usage  []service.GroupUsageSample
}

func (f *fakeSource) CountGroups(context.Context) ([]service.GroupCount, error) {
	return f.counts, f.err
}
func (f *fakeSource) LatestUsage() []service.GroupUsageSample { return f.usage }

func TestHandlerToken(t *testing.T) {
	tests := []struct {
		name, token, header string
		want                int
	}{
		{"no token configured", "", "", http.StatusOK},
		{"no token configured, any header", "", "Bearer whatever", http.StatusOK},
		{"token, none sent", "s3cret", "", http.StatusUnauthorized},
		{"token, wrong one", "s3cret", "Bearer s3cre", http.StatusUnauthorized},
		{"token, not as a bearer", "s3cret", "s3cret", http.StatusUnauthorized},
		{"token, right one", "s3cret", "Bearer s3cret", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New().Handler(tc.token, quiet))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestScrape(t *testing.T) {
	r := New()
	src := &fakeSource{
		counts: []service.GroupCount{{AccountID: "1", Phase: core.PhaseRunning, Count: 2}, {AccountID: "2", Phase: core.PhasePending, Count: 1}},
		usage: []service.GroupUsageSample{{GroupID: "g-1", AccountID: "1", Stats: core.GroupStats{
			CPUNanos: 2_500_000_000, Memory: core.MemoryStats{WorkingSet: 4096, RSS: 2048},
			Interfaces: []core.InterfaceStats{{Name: "eth0", RxBytes: 10, TxBytes: 20, RxPackets: 1, TxPackets: 2}},
			Containers: []core.ContainerStats{{Name: "app", CPUNanos: 1_000_000_000, Memory: core.MemoryStats{WorkingSet: 1024}}},
		}}},
	}
	r.Watch(src, quiet)
	r.APIRequest("CreateContainerGroup", "", "1", 3*time.Millisecond)
	r.APIRequest("CreateContainerGroup", "", "1", 5*time.Millisecond)
	r.APIRequest("CreateContainerGroup", "InvalidParameterValue", "1", time.Millisecond)
	r.APIRequest("", "SignatureDoesNotMatch", "", time.Millisecond)
	r.ImagePulled(1234, 2*time.Second, nil)
	r.ImagePulled(0, time.Second, errors.New("401"))
	r.ContainerRestarted("1")
	r.GroupRunning(3 * time.Second)
	r.GroupStartStep(core.StepNetworkReady, "", 30*time.Millisecond)
	r.GroupStartStep(core.StepContainerStarted, "a", 100*time.Millisecond)
	r.GroupStartStep(core.StepContainerStarted, "b", 120*time.Millisecond)
	r.GroupDeleted(time.Second)
	srv := httptest.NewServer(r.Handler("", quiet))
	defer srv.Close()
	fams := metricstest.Scrape(t, srv.URL, "")

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kcid_api_requests_total", map[string]string{"action": "CreateContainerGroup", "code": "", "account": "1"}, 2},
		{"kcid_api_requests_total", map[string]string{"action": "CreateContainerGroup", "code": "InvalidParameterValue", "account": "1"}, 1},
		{"kcid_api_requests_total", map[string]string{"action": "", "code": "SignatureDoesNotMatch", "account": ""}, 1},
		{"kcid_api_request_duration_seconds", map[string]string{"action": "CreateContainerGroup"}, 3},
		{"kcid_image_pulls_total", map[string]string{"result": "success"}, 1},
		{"kcid_image_pulls_total", map[string]string{"result": "error"}, 1},
		{"kcid_image_pull_bytes_total", nil, 1234},
		{"kcid_image_pull_duration_seconds", nil, 2},
		{"kcid_container_restarts_total", map[string]string{"account": "1"}, 1},
		{"kcid_group_start_duration_seconds", nil, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "NetworkReady"}, 1},
		{"kcid_group_start_step_seconds", map[string]string{"step": "ContainerStarted"}, 2},
		{"kcid_group_delete_duration_seconds", nil, 1},
		{"kcid_groups", map[string]string{"account": "1", "status": "Running"}, 2},
		{"kcid_groups", map[string]string{"account": "2", "status": "Pending"}, 1},
		{"kcid_group_cpu_seconds_total", map[string]string{"account": "1", "group_id": "g-1"}, 2.5},
		{"kcid_group_memory_working_set_bytes", map[string]string{"account": "1", "group_id": "g-1"}, 4096},
		{"kcid_group_memory_rss_bytes", map[string]string{"account": "1", "group_id": "g-1"}, 2048},
		{"kcid_container_cpu_seconds_total", map[string]string{"account": "1", "group_id": "g-1", "container": "app"}, 1},
		{"kcid_container_memory_working_set_bytes", map[string]string{"account": "1", "group_id": "g-1", "container": "app"}, 1024},
		{"kcid_group_network_receive_bytes_total", map[string]string{"account": "1", "group_id": "g-1", "interface": "eth0"}, 10},
		{"kcid_group_network_transmit_bytes_total", map[string]string{"account": "1", "group_id": "g-1", "interface": "eth0"}, 20},
		{"kcid_group_network_receive_packets_total", map[string]string{"account": "1", "group_id": "g-1", "interface": "eth0"}, 1},
		{"kcid_group_network_transmit_packets_total", map[string]string{"account": "1", "group_id": "g-1", "interface": "eth0"}, 2},
		{"kcid_metrics_source_errors_total", nil, 0},
	}
	for _, tc := range tests {
		if got, ok := metricstest.Value(fams, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s: the Go runtime and process collectors are missing", name)
		}
	}

	// A store that cannot be read: counted, and the rest is still served.
	src.err = errors.New("store closed")
	fams = metricstest.Scrape(t, srv.URL, "")
	if got, _ := metricstest.Value(fams, "kcid_metrics_source_errors_total", nil); got != 1 {
		t.Errorf("kcid_metrics_source_errors_total = %v after a failed count, want 1", got)
	}
	if _, ok := metricstest.Value(fams, "kcid_group_cpu_seconds_total", map[string]string{"account": "1", "group_id": "g-1"}); !ok {
		t.Error("usage series missing when counting groups failed")
	}
}

// TestNilRecorder: layers given no recorder record nothing and do not
// fail.
func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.APIRequest("a", "", "", time.Second)
	r.ImagePulled(1, time.Second, nil)
	r.ContainerRestarted("1")
	r.GroupRunning(time.Second)
	r.GroupStartStep(core.StepRunning, "", time.Second)
	r.GroupDeleted(time.Second)
}
