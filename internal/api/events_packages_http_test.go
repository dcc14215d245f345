package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/pkg/kci"
)

// decodeAs decodes an answer into pkg/kci's typed model, refusing fields
// the model does not declare.
func decodeAs[T any](t *testing.T, r *response) T {
	t.Helper()
	mustOK(t, r)
	var out T
	dec := json.NewDecoder(bytes.NewReader(r.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("the SDK's shape does not decode the answer: %v\n%s", err, r.Raw)
	}
	return out
}

func TestDescribeContainerGroupEvents(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig})
	alice, bob, aliceRO := tenants(s)
	p := createParams("events")
	p.Set("SecurityGroupId.1", "sg-a")
	r := alice.do("CreateContainerGroup", p)
	mustOK(t, r)
	id := r.Body["ContainerGroupId"].(string)

	t0 := time.Date(2026, 5, 1, 10, 0, 0, 700e6, time.FixedZone("UTC+8", 8*3600))
	t1 := t0.Add(90 * time.Second)
	s.rt.SetStatus(id, core.GroupStatus{Phase: core.PhaseRunning, Events: []core.Event{
		{FirstTimestamp: t0, LastTimestamp: t0, Count: 1, Type: "Normal", Reason: "Pulled", Message: "image nginx pulled"},
		{FirstTimestamp: t0, LastTimestamp: t1, Count: 3, Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container nginx-container"},
	}})

	for _, st := range []style{styleGET, stylePOSTForm, stylePOSTJSON} {
		alice.style = st
		got := decodeAs[kci.DescribeContainerGroupEventsResponse](t, alice.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id)))
		want := []kci.Event{
			{FirstTimestamp: t0.UTC().Truncate(time.Second), LastTimestamp: t0.UTC().Truncate(time.Second), Count: 1, Type: "Normal", Reason: "Pulled", Message: "image nginx pulled",
				FirstTimestampMs: t0.UnixMilli(), LastTimestampMs: t0.UnixMilli()},
			{FirstTimestamp: t0.UTC().Truncate(time.Second), LastTimestamp: t1.UTC().Truncate(time.Second), Count: 3, Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container nginx-container",
				FirstTimestampMs: t0.UnixMilli(), LastTimestampMs: t1.UnixMilli()},
		}
		if fmt.Sprint(got.Events) != fmt.Sprint(want) {
			t.Fatalf("%v: events\ngot  %v\nwant %v", st, got.Events, want)
		}
	}
	alice.style = stylePOSTForm
	// Times as DescribeContainerGroup writes them: RFC 3339 UTC, whole
	// seconds, and the extension's milliseconds since the epoch.
	if r := alice.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id)); !bytes.Contains(r.Raw, []byte(`"LastTimestamp":"2026-05-01T02:01:30Z"`)) ||
		!bytes.Contains(r.Raw, []byte(`"LastTimestampMs":1777600890700`)) {
		t.Fatalf("event times: %s", r.Raw)
	}
	// A read-only key may read them.
	decodeAs[kci.DescribeContainerGroupEventsResponse](t, aliceRO.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id)))

	// A group without events answers [] (not null).
	r = alice.do("CreateContainerGroup", func() map[string][]string { q := createParams("quiet"); q.Set("SecurityGroupId.1", "sg-a"); return q }())
	mustOK(t, r)
	quiet := r.Body["ContainerGroupId"].(string)
	s.rt.SetStatus(quiet, core.GroupStatus{Phase: core.PhasePending})
	if r := alice.do("DescribeContainerGroupEvents", vals("ContainerGroupId", quiet)); !bytes.Contains(r.Raw, []byte(`"Events":[]`)) {
		t.Fatalf("no events: %s", r.Raw)
	}

	// Tenancy and 404s as the other actions: Bob's view of Alice's group is
	// a missing one.
	mustErr(t, bob.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id)), http.StatusNotFound, "ContainerGroupNotFound", id)
	mustErr(t, alice.do("DescribeContainerGroupEvents", vals("ContainerGroupId", "no-such-group")), http.StatusNotFound, "ContainerGroupNotFound", "no-such-group")
	mustErr(t, alice.do("DescribeContainerGroupEvents", nil), http.StatusBadRequest, "MissingParameter", "ContainerGroupId")
	// DryRun checks the group exists, and the caller's right.
	mustErr(t, alice.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id, "DryRun", "true")), http.StatusPreconditionFailed, "DryRunOperation", "")
	mustErr(t, bob.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id, "DryRun", "true")), http.StatusNotFound, "ContainerGroupNotFound", id)
	// A deleted group is gone at once.
	mustOK(t, alice.do("DeleteContainerGroup", vals("ContainerGroupId", id)))
	mustErr(t, alice.do("DescribeContainerGroupEvents", vals("ContainerGroupId", id)), http.StatusNotFound, "ContainerGroupNotFound", id)
}

func TestDescribeKciPackages(t *testing.T) {
	// The default sizes, those that fit a node of 4 cores and 12 GiB.
	s := startServer(t, serverOpts{config: netsOnly + "node: {cpu: 4, memory: 12}\n"})
	c := s.client()
	got := decodeAs[kci.DescribeKciPackagesResponse](t, c.do("DescribeKciPackages", nil))
	want := []kci.KciPackage{
		{CPU: 0.25, Mem: []float64{0.5, 1, 2}}, {CPU: 0.5, Mem: []float64{1, 2, 4}}, {CPU: 1, Mem: []float64{2, 4, 8}},
		{CPU: 2, Mem: []float64{4, 8}}, {CPU: 4, Mem: []float64{8}},
	}
	if fmt.Sprint(got.Packages) != fmt.Sprint(want) {
		t.Fatalf("default packages on a 4-core 12 GiB node:\ngot  %v\nwant %v", got.Packages, want)
	}
	for _, q := range [][]string{
		{"ChargeType", "HourlyInstantSettlement", "KciType", "RBKCI", "AvailabilityZone", "cn-beijing-6a"},
		{"AvailabilityZone", "cn-beijing-6b"},
	} {
		if g := decodeAs[kci.DescribeKciPackagesResponse](t, c.do("DescribeKciPackages", vals(q...))); fmt.Sprint(g.Packages) != fmt.Sprint(want) {
			t.Fatalf("%v: %v", q, g.Packages)
		}
	}
	// Spot is not offered: no packages (not an error, as a zone without it).
	if r := c.do("DescribeKciPackages", vals("ChargeType", "Spot")); !bytes.Contains(r.Raw, []byte(`"Packages":[]`)) {
		t.Fatalf("spot: %s", r.Raw)
	}
	mustErr(t, c.do("DescribeKciPackages", vals("ChargeType", "Monthly")), http.StatusBadRequest, "InvalidParameterValue", "parameter ChargeType:")
	mustErr(t, c.do("DescribeKciPackages", vals("KciType", "EKCI")), http.StatusBadRequest, "InvalidParameterValue", "parameter KciType:")
	mustErr(t, c.do("DescribeKciPackages", vals("AvailabilityZone", "cn-shanghai-2a")), http.StatusBadRequest, "InvalidParameterValue", "parameter AvailabilityZone:")

	// Sizes from the config.
	s = startServer(t, serverOpts{config: netsOnly + "node: {cpu: 64, memory: 256}\npackages: [{cpu: 3, memory: [6, 1.5]}, {cpu: 1.5, memory: [3]}]\n"})
	got = decodeAs[kci.DescribeKciPackagesResponse](t, s.client().do("DescribeKciPackages", nil))
	if fmt.Sprint(got.Packages) != fmt.Sprint([]kci.KciPackage{{CPU: 1.5, Mem: []float64{3}}, {CPU: 3, Mem: []float64{1.5, 6}}}) {
		t.Fatalf("configured packages: %v", got.Packages)
	}
	// The wire says Mem, and numbers are plain JSON numbers.
	if r := s.client().do("DescribeKciPackages", nil); !bytes.Contains(r.Raw, []byte(`{"Cpu":1.5,"Mem":[3]}`)) {
		t.Fatalf("wire shape: %s", r.Raw)
	}
}
