package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openkci/openkci/internal/console"
)

// fakeGroups answers DescribeContainerGroup with n made-up groups, paged
// as kcid pages them (MaxResults, Marker, TotalCount). It stands in for
// kcid only to measure the page's rendering; nothing is signed or checked.
func fakeGroups(n int) http.Handler {
	statuses := []string{"Running", "Running", "Running", "Pending", "Succeeded", "Failed"}
	groups := make([]map[string]any, n)
	for i := range groups {
		groups[i] = map[string]any{
			"ContainerGroupId": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "ContainerGroupName": fmt.Sprintf("web-%d", i),
			"Status": statuses[i%len(statuses)], "AvailabilityZone": []string{"cn-beijing-6a", "cn-beijing-6b"}[i%2],
			"Cpu": 0.5, "Memory": 1, "CreateTime": "2026-12-01 17:00:00",
			"NetworkInterfaceAttributes": []map[string]any{{"PrivateIpAddress": fmt.Sprintf("10.88.%d.%d", i/250, i%250+2)}},
			"Containers":                 []map[string]any{{"Name": "app", "RestartCount": i % 3}},
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ MaxResults, Marker int }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		if r.URL.Query().Get("Action") != "DescribeContainerGroup" {
			w.Write([]byte(`{"RequestId":"bench","Regions":[]}`))
			return
		}
		end := min(req.Marker+req.MaxResults, n)
		next := end
		if end == n {
			next = 0
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"RequestId": "bench", "MaxResults": req.MaxResults, "Marker": next, "TotalCount": n, "ContainerGroups": groups[req.Marker:end]})
	})
}

// BenchmarkGroupsSearch500 measures, in chromium, the time from a
// keystroke in the groups list's search box to the end of the frame that
// shows the filtered rows, with 500 groups (docs/console.md). Report:
// ms/keystroke.
func BenchmarkGroupsSearch500(b *testing.B) {
	mux := http.NewServeMux()
	mux.Handle("GET /console/", console.Handler())
	mux.Handle("/", fakeGroups(500))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := newPage(b)
	p.do("open the console", 30*time.Second, chromedp.Navigate(srv.URL+"/console/"))
	eval[chromedp.Void](p, `sessionStorage.setItem("kci.console.credentials", JSON.stringify({accessKeyId: "AKLTbench", secret: "x", region: "cn-beijing-6"})); location.hash = "#/groups"`)
	p.waitFor("500 groups", `document.querySelector(".pager .summary") && document.querySelector(".pager .summary").textContent.includes("of 500 groups")`, 30*time.Second)
	queries := []string{"w", "we", "web-4", "web-42", "10.88.1", "", "web-49", "3"}
	var total float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := queries[i%len(queries)]
		ms := eval[float64](p, fmt.Sprintf(`new Promise((done) => {
			const s = document.querySelector("#group-search");
			const t0 = performance.now();
			s.value = %q;
			s.dispatchEvent(new Event("input", {bubbles: true}));
			requestAnimationFrame(() => done(performance.now() - t0));
		})`, q))
		total += ms
	}
	b.ReportMetric(total/float64(b.N), "ms/keystroke")
}
