package containerd

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core/coretest"
	"github.com/openkci/openkci/internal/lifecycle"
)

// TestWriteV1Fixtures writes testdata/v1/<group>/state.json with this
// release's code (run once with OPENKCI_WRITE_FIXTURES=1; the upgrade test
// reads them).
func TestWriteV1Fixtures(t *testing.T) {
	if os.Getenv("OPENKCI_WRITE_FIXTURES") == "" {
		t.Skip("set OPENKCI_WRITE_FIXTURES=1 to write the fixtures")
	}
	root := filepath.Join("testdata", "v1")
	os.RemoveAll(root)
	for i, g := range coretest.Groups()[:3] {
		now := g.CreatedAt.Add(time.Second)
		life := lifecycle.New(g, lifecycle.DefaultConfig())
		st := &groupState{Life: life, NetNS: "/run/netns/kci-fixture-" + g.Name}
		st.Group = *g
		st.Group.Credentials = nil // as group.load does
		switch i {
		case 0: // running after one crash
			c := g.Containers[0].Name
			must(t, life.PullStarted(now, c))
			must(t, life.Pulled(now, c))
			must(t, life.Created(now, c))
			must(t, life.Started(now, c))
			if _, err := life.Exited(now.Add(time.Minute), c, 137, true); err != nil {
				t.Fatal(err)
			}
			st.NetworkUp = true
			st.CNIConf = json.RawMessage(`{"cniVersion":"1.0.0","name":"kci-fixture","plugins":[{"type":"bridge","bridge":"kci0"}]}`)
		case 1: // pulling, one pull failure
			for _, c := range g.Containers {
				must(t, life.PullStarted(now, c.Name))
			}
			if _, err := life.PullFailed(now, g.Containers[0].Name, errors.New("pull registry.example.com/team/app:1.2: 401 Unauthorized")); err != nil {
				t.Fatal(err)
			}
		case 2: // saved before the network was set up (older kcid wrote a JSON null)
			life.SetupFailed(now, errors.New("mount disk-1: no such device"))
		}
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			var m map[string]json.RawMessage
			must(t, json.Unmarshal(b, &m))
			m["cniConf"] = json.RawMessage("null")
			b, _ = json.MarshalIndent(m, "", "  ")
		}
		dir := filepath.Join(root, g.ID)
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, stateFile), append(b, '\n'), 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
