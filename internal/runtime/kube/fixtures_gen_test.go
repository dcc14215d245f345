package kube

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/openkci/openkci/internal/core/coretest"
)

// TestWriteV1Fixtures writes testdata/v1/pods.json, the pods this
// release's code makes of the fixture groups (run once with
// OPENKCI_WRITE_FIXTURES=1; the upgrade test reads them).
func TestWriteV1Fixtures(t *testing.T) {
	if os.Getenv("OPENKCI_WRITE_FIXTURES") == "" {
		t.Skip("set OPENKCI_WRITE_FIXTURES=1 to write the fixtures")
	}
	var pods []any
	for _, g := range coretest.Groups() {
		o, err := mapping{namespacePrefix: "kci-", grace: 30, resources: ResourcesContainers}.build(g)
		if err != nil {
			t.Fatal(err)
		}
		if g.DeletedAt != nil {
			o.Pod.Annotations[AnnotationDeletedAt] = g.DeletedAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
		}
		o.Pod.UID = types.UID("uid-" + g.ID)
		o.Pod.Status.PodIP = g.Network.PrivateIP
		pods = append(pods, o.Pod)
	}
	b, err := json.MarshalIndent(pods, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "v1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pods.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
