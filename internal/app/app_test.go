package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/core/coretest"
	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/internal/store"
)

func TestNodeCapacity(t *testing.T) {
	cpu, mem := nodeCapacity(config.Node{})
	if cpu != float64(runtime.NumCPU()) || mem < 0.1 {
		t.Fatalf("machine capacity: cpu %v, memory %v GiB", cpu, mem)
	}
	cpu, mem = nodeCapacity(config.Node{CPU: 1.5, Memory: 3})
	if cpu != 1.5 || mem != 3 {
		t.Fatalf("configured capacity: %v %v", cpu, mem)
	}
}

// TestUpgradeDataDir starts kcid on a data dir of the release before
// versioned state: it keeps the generated key and the default network
// (prints neither again), re-adopts the live groups with their registry
// passwords and resumes the interrupted deletion.
func TestUpgradeDataDir(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "store", "testdata", "v1", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	rt := fake.New()
	var out bytes.Buffer
	var logs bytes.Buffer
	a, err := New(context.Background(), Options{DataDir: dir, Runtime: rt, Out: &out, Config: &config.Config{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if l := logs.String(); !strings.Contains(l, "upgraded the state") || !strings.Contains(l, filepath.Join(dir, "state.db.schema1.bak")) {
		t.Errorf("the upgrade is not logged with its backup:\n%s", l)
	}
	if out.Len() != 0 {
		t.Fatalf("an upgraded data dir printed:\n%s", &out)
	}
	fixtures := coretest.Groups()
	for _, g := range fixtures {
		if g.DeletedAt != nil {
			if !slices.Contains(rt.Removed(), g.ID) {
				t.Errorf("deletion of %s not resumed", g.ID)
			}
			continue
		}
		if !rt.Running(g.ID) {
			t.Errorf("group %s not re-adopted", g.ID)
		}
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if g, err := st.Group(context.Background(), fixtures[1].ID); err != nil || g.Credentials[0].Password != "s3cret-p@ss" {
		t.Fatalf("registry password after upgrade: %+v", g)
	}
	if id, _, _, _ := st.GeneratedKey(); id != "AKLTfixtureFixture0000" {
		t.Fatalf("generated key after upgrade: %q", id)
	}
}
