package api_test

import (
	"net/http"
	"testing"
	"time"
)

// gpuConfig declares two GPUs: /dev/null and /dev/zero stand for them (a
// GPU must only be a character device; the fake runtime opens nothing).
const gpuConfig = netsOnly + `
node: {cpu: 10000, memory: 100000, gpus: {type: test, devices: [/dev/null, /dev/zero], extraDevices: [/dev/full]}}
`

// TestGPUFields: with GPUs declared, Gpu and Container.N.Gpu are
// validated against the node's count, and a group asking for more than
// are free is refused 409 InsufficientResource saying how many are in
// use; a refused create takes nothing.
func TestGPUFields(t *testing.T) {
	s := startServer(t, serverOpts{config: gpuConfig})
	c := s.client()
	bad := []struct {
		name    string
		set     map[string]string
		message string
	}{
		{"fraction", map[string]string{"Gpu": "0.5"}, "parameter Gpu: must be a whole number"},
		{"negative", map[string]string{"Container.1.Gpu": "-1"}, "parameter Container.1.Gpu: must be a whole number"},
		{"more than the node has", map[string]string{"Gpu": "3"}, "parameter Gpu: 3 GPUs asked but this node has 2 (node.gpus.devices"},
		{"containers more than the node has", map[string]string{"Container.1.Gpu": "2", "Container.2.Name": "b", "Container.2.Image": "busybox", "Container.2.Gpu": "1"},
			"parameter Container.N.Gpu: the containers ask for 3 GPUs together but this node has 2"},
		{"group and containers disagree", map[string]string{"Gpu": "2", "Container.1.Gpu": "1"}, "parameter Gpu: the group's Gpu (2) must be the sum of its containers' Gpu (1)"},
		{"init container", map[string]string{"InitContainer.1.Name": "i", "InitContainer.1.Image": "busybox", "InitContainer.1.Gpu": "1"}, "parameter InitContainer.1.Gpu: init containers get no GPUs"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := createParams("bad", tc.set)
			mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue", tc.message)
		})
	}
	if n := total(t, c); n != 0 {
		t.Fatalf("refused creates left %d groups", n)
	}

	p := createParams("one")
	p.Set("Gpu", "1")
	r := c.do("CreateContainerGroup", p)
	mustOK(t, r)
	first := r.Body["ContainerGroupId"].(string)
	g := groups(c.do("DescribeContainerGroup", nil))[0]
	if g["Gpu"] != 1.0 {
		t.Errorf("Describe: group Gpu = %v, want 1", g["Gpu"])
	}
	if ctr := g["Containers"].([]any)[0].(map[string]any); ctr["Gpu"] != 1.0 {
		t.Errorf("Describe: container Gpu = %v, want 1 (the group's, given to its first container)", ctr["Gpu"])
	}

	p = createParams("two")
	p.Set("Container.1.Gpu", "2")
	mustErr(t, c.do("CreateContainerGroup", p), http.StatusConflict, "InsufficientResource",
		"Gpu 2 requested but 1 of this node's 2 GPUs are in use (by container groups "+first+")")
	p.Set("Container.1.Gpu", "1")
	mustOK(t, c.do("CreateContainerGroup", p))
	p = createParams("three")
	p.Set("Gpu", "1")
	mustErr(t, c.do("CreateContainerGroup", p), http.StatusConflict, "InsufficientResource", "2 of this node's 2 GPUs are in use")

	// The first group's GPU is free again once its deletion has finished.
	mustOK(t, c.do("DeleteContainerGroup", vals("ContainerGroupId", first)))
	deadline := time.Now().Add(10 * time.Second)
	for r = c.do("CreateContainerGroup", p); r.Status != http.StatusOK && time.Now().Before(deadline); r = c.do("CreateContainerGroup", p) {
		time.Sleep(20 * time.Millisecond)
	}
	mustOK(t, r)
}

// TestGPUsHeldAcrossRestart: which group holds which GPU is re-derived
// from the stored groups when kcid starts again, so a restarted kcid does
// not hand a held GPU out twice.
func TestGPUsHeldAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{config: gpuConfig, dataDir: dir})
	p := createParams("both")
	p.Set("Gpu", "2")
	mustOK(t, s.client().do("CreateContainerGroup", p))
	s.stop()

	s = startServer(t, serverOpts{config: gpuConfig, dataDir: dir})
	p = createParams("more")
	p.Set("Gpu", "1")
	mustErr(t, s.client().do("CreateContainerGroup", p), http.StatusConflict, "InsufficientResource", "2 of this node's 2 GPUs are in use")
}

// TestGPUsScheduledByTheCluster: with node.gpus.kubernetesResource the
// cluster's scheduler bounds GPUs, so kcid holds none back: two groups
// may each ask for more than any count kcid knows.
func TestGPUsScheduledByTheCluster(t *testing.T) {
	s := startServer(t, serverOpts{config: netsOnly + "node: {cpu: 10000, memory: 100000, gpus: {kubernetesResource: nvidia.com/gpu}}\n"})
	c := s.client()
	for _, name := range []string{"a", "b"} {
		p := createParams(name)
		p.Set("Container.1.Gpu", "8")
		mustOK(t, c.do("CreateContainerGroup", p))
	}
	p := createParams("half")
	p.Set("Gpu", "0.5")
	mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue", "parameter Gpu: must be a whole number")
}
