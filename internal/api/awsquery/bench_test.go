package awsquery

import "testing"

// BenchmarkDecodeCreate decodes a realistic CreateContainerGroup request:
// two containers with probes, env vars, ports and mounts, four volumes, DNS,
// credentials; 171 parameters, as sdk-go would send them.
func BenchmarkDecodeCreate(b *testing.B) {
	vals := Encode(fullRequest(), 0)
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
