package awsquery

import (
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

// BenchmarkDecodeCreate decodes a realistic CreateContainerGroup request:
// two containers with probes, env vars, ports and mounts, four volumes, DNS,
// credentials, as pkg/kci's client sends them.
func BenchmarkDecodeCreate(b *testing.B) {
	vals := kci.Flatten(fullRequest())
	vals.Set("Action", "CreateContainerGroup")
	vals.Set("Version", "2020-07-02")
	vals.Set("Service", "kci")
	b.ReportAllocs()
	for b.Loop() {
		var r createRequest
		if err := Decode(vals, &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(vals)), "params")
}
