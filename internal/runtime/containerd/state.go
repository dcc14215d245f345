package containerd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
)

// stateFile is the per-group record kept for recovery. It is written before
// anything is created (so that a crash mid-create can be undone) and
// removed last by teardown.
const stateFile = "state.json"

// groupState is what survives a kcid restart. Credentials are never
// written: Sync hands the group again.
type groupState struct {
	Group core.Group `json:"group"`
	// NetNS is the pinned network namespace; CNIConf the configuration it
	// was attached with, kept so that DEL uses exactly what ADD did.
	NetNS   string          `json:"netns"`
	CNIConf json.RawMessage `json:"cniConf,omitempty"`
	// NetworkUp: CNI ADD completed for NetNS.
	NetworkUp bool `json:"networkUp"`
	// Life is the lifecycle tracker: container stages, restart counts,
	// back-offs and events.
	Life *lifecycle.Group `json:"life"`
}

func readState(dir string) (*groupState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st groupState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	// A state saved before the network was configured may hold a JSON null
	// here (older kcid wrote it so): that means "no configuration", and
	// must not reach CNI as one.
	if string(st.CNIConf) == "null" {
		st.CNIConf = nil
	}
	return &st, nil
}

// writeFileAtomic writes through a temporary file and a rename so that a
// crash leaves either the old or the new content.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
