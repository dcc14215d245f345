package containerd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
	"github.com/openkci/openkci/internal/record"
)

// stateFile is the per-group record kept for recovery. It is written before
// anything is created (so that a crash mid-create can be undone) and
// removed last by teardown.
//
// Versions (docs/state.md):
//
//	1  no "version" key; "group" is encoding/json of core.Group of then.
//	2  "version": 2; "group" is a record.Group (explicit field names, no
//	   registry passwords).
//	3  as 2, plus "timeline": the group's first start, step by step
//	   ([{"step", "container", "at"}], at in RFC 3339 with nanoseconds).
//	4  as 3, "group" a record.Group of version 3 (GPUs held and probes,
//	   which a kcid of state version 3 must not read as absent).
//
// A file of an older version is read and rewritten as the current one
// when its group is loaded; one of a newer version is refused.
const (
	stateFile    = "state.json"
	stateVersion = 4
)

// groupRecordVersions is the record.Group version of "group" in each
// state version.
var groupRecordVersions = map[int]int{1: 1, 2: 2, 3: 2, 4: 3}

// groupState is what survives a kcid restart. Credentials are never
// written: Sync hands the group again.
type groupState struct {
	Group core.Group
	// NetNS is the pinned network namespace; CNIConf the configuration it
	// was attached with, kept so that DEL uses exactly what ADD did.
	NetNS   string
	CNIConf json.RawMessage
	// NetworkUp: CNI ADD completed for NetNS.
	NetworkUp bool
	// Life is the lifecycle tracker: container stages, restart counts,
	// back-offs and events.
	Life *lifecycle.Group
	// Timeline is the group's first start, step by step.
	Timeline core.StartTimeline
	// resumed: the state was read from an earlier run's file (not
	// persisted).
	resumed bool
}

// firstStartOnly reports whether the state records nothing but the
// progress of the group's first start in this run: not resumed from an
// earlier run, not Running yet, no attempt of a container ended, no
// setup failure shown, no stop. A crash of the
// machine loses nothing of such a state that matters: every task, netns
// and CNI attachment dies with the machine, and the group starts afresh
// from its spec (kept by the service). Its writes skip the fsync; once
// it records more, every write is synced.
func (st *groupState) firstStartOnly() bool {
	l := st.Life
	if l == nil || st.resumed || l.Stopping || l.SetupError != "" || st.Timeline.Has(core.StepRunning, "") {
		return false
	}
	for _, list := range [][]*lifecycle.Container{l.InitContainers, l.Containers} {
		for _, c := range list {
			if c.Attempts > 1 || c.Previous != nil || c.Stage == lifecycle.StageTerminated {
				return false
			}
		}
	}
	return true
}

// timelineMark is one step of state.json's "timeline" (version 3).
type timelineMark struct {
	Step      string    `json:"step"`
	Container string    `json:"container,omitempty"`
	At        time.Time `json:"at"`
}

func timelineRecord(tl core.StartTimeline) []timelineMark {
	out := make([]timelineMark, 0, len(tl))
	for _, m := range tl {
		out = append(out, timelineMark{Step: string(m.Step), Container: m.Container, At: m.At})
	}
	return out
}

func timelineFromRecord(ms []timelineMark) core.StartTimeline {
	var out core.StartTimeline
	for _, m := range ms {
		out = append(out, core.StartMark{Step: core.StartStep(m.Step), Container: m.Container, At: m.At})
	}
	return out
}

// stateRecord is a state file of any version: Group is decoded by version.
type stateRecord struct {
	Version   int              `json:"version,omitempty"`
	Group     json.RawMessage  `json:"group"`
	NetNS     string           `json:"netns"`
	CNIConf   json.RawMessage  `json:"cniConf,omitempty"`
	NetworkUp bool             `json:"networkUp"`
	Life      *lifecycle.Group `json:"life"`
	Timeline  []timelineMark   `json:"timeline,omitempty"`
}

// marshalState encodes st as a current state file.
func marshalState(st *groupState) ([]byte, error) {
	g, err := record.FromGroup(&st.Group, nil)
	if err != nil {
		return nil, err
	}
	gb, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	return json.Marshal(stateRecord{Version: stateVersion, Group: gb, NetNS: st.NetNS, CNIConf: st.CNIConf, NetworkUp: st.NetworkUp, Life: st.Life, Timeline: timelineRecord(st.Timeline)})
}

func readState(dir string) (*groupState, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := unmarshalState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func unmarshalState(b []byte) (*groupState, error) {
	var r stateRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	version := max(r.Version, 1)
	if version > stateVersion {
		return nil, fmt.Errorf("state version %d (this kcid knows up to %d): %w; run that kcid or a newer one", version, stateVersion, record.ErrNewerVersion)
	}
	st := &groupState{NetNS: r.NetNS, CNIConf: r.CNIConf, NetworkUp: r.NetworkUp, Life: r.Life, Timeline: timelineFromRecord(r.Timeline)}
	if len(r.Group) > 0 && string(r.Group) != "null" {
		g, err := record.DecodeGroup(groupRecordVersions[version], r.Group, nil)
		if err != nil {
			return nil, err
		}
		st.Group = *g
	}
	// A state saved before the network was configured may hold a JSON null
	// here (older kcid wrote it so): that means "no configuration", and
	// must not reach CNI as one.
	if string(st.CNIConf) == "null" {
		st.CNIConf = nil
	}
	return st, nil
}

// writeFileAtomic writes through a temporary file and a rename so that a
// crash leaves either the old or the new content, and syncs the file
// before the rename so that the new content survives a crash of the
// machine too.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	return replaceFile(path, b, mode, true)
}

// writeFileUnsynced is writeFileAtomic without the sync: a crash of kcid
// still leaves the old or the new content (what was written is the
// kernel's), but a crash of the machine may leave neither. It is for
// files rebuilt from durable records when the group is set up again,
// and for state a restarted machine has no use for (see
// groupState.firstStartOnly).
func writeFileUnsynced(path string, b []byte, mode os.FileMode) error {
	return replaceFile(path, b, mode, false)
}

func replaceFile(path string, b []byte, mode os.FileMode, sync bool) error {
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
	if sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
