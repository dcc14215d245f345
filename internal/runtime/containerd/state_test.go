package containerd

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/core/coretest"
	"github.com/openkci/openkci/internal/lifecycle"
	"github.com/openkci/openkci/internal/record"
)

// TestStateUpgradeFromVersion1 reads the state.json files written by the
// release before versioned state (testdata/v1, made from coretest.Groups)
// and by the last version-2 and version-3 releases (testdata/v2 and v3, the
// same groups) and
// finds every group field, the network record and the lifecycle intact,
// and no start timeline; rewritten as the current version they read back
// the same.
func TestStateUpgradeFromVersion1(t *testing.T) {
	want := coretest.Groups()[:3]
	for _, version := range []string{"v1", "v2", "v3"} {
		for i, w := range want {
			t.Run(version+"/"+w.Name, func(t *testing.T) { checkStateUpgrade(t, version, i, *w) })
		}
	}
}

func checkStateUpgrade(t *testing.T, version string, i int, wg core.Group) {
	w := &wg
	st, err := readState(filepath.Join("testdata", version, w.ID))
	if err != nil {
		t.Fatal(err)
	}
	w.Credentials = nil // never written to state.json
	if !reflect.DeepEqual(&st.Group, w) {
		t.Fatalf("group:\n got %+v\nwant %+v", &st.Group, w)
	}
	if st.NetNS != "/run/netns/kci-fixture-"+w.Name || st.Life == nil || st.Timeline != nil {
		t.Fatalf("netns %q, life %v", st.NetNS, st.Life)
	}
	switch i {
	case 0:
		c := st.Life.Container("main")
		// Events are lifecycle's core.Event values, by Go field
		// names: a rename would lose them here.
		oom := false
		for _, ev := range st.Life.Events {
			oom = oom || (ev.Type == "Warning" && ev.Reason == "OOMKilling" && strings.Contains(ev.Message, "OOM") &&
				ev.Count == 1 && !ev.FirstTimestamp.IsZero() && !ev.LastTimestamp.IsZero())
		}
		if !oom {
			t.Fatalf("the OOM event did not survive: %+v", st.Life.Events)
		}
		if !st.NetworkUp || !strings.Contains(string(st.CNIConf), `"kci0"`) || c == nil || c.CrashCount != 1 || c.Previous == nil || len(st.Life.Events) == 0 {
			t.Fatalf("running group's state: up %v, conf %s, container %+v, events %v", st.NetworkUp, st.CNIConf, c, st.Life.Events)
		}
	case 1:
		if c := st.Life.Container("app"); c == nil || c.PullFailures != 1 {
			t.Fatalf("pulling group's container: %+v", c)
		}
	case 2:
		if st.CNIConf != nil || st.NetworkUp || !strings.Contains(st.Life.SetupError, "no such device") {
			t.Fatalf("failed group's state: conf %q, up %v, setup error %q", st.CNIConf, st.NetworkUp, st.Life.SetupError)
		}
	}

	b, err := marshalState(st)
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Version int }
	if err := json.Unmarshal(b, &head); err != nil || head.Version != stateVersion {
		t.Fatalf("rewritten version %d (%v)", head.Version, err)
	}
	again, err := unmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.CNIConf != nil { // json.Marshal compacts a RawMessage
		var c bytes.Buffer
		if err := json.Compact(&c, st.CNIConf); err != nil {
			t.Fatal(err)
		}
		st.CNIConf = c.Bytes()
	}
	if !reflect.DeepEqual(again, st) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", again, st)
	}
}

// TestStateTimelineRoundTrip: the start timeline survives state.json with
// its order, containers and nanoseconds.
func TestStateTimelineRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 7, 40, 0, 123456789, time.UTC)
	st := &groupState{Group: *coretest.Groups()[0], Timeline: core.StartTimeline{
		{Step: core.StepAccepted, At: at},
		{Step: core.StepNetworkReady, At: at.Add(12 * time.Millisecond)},
		{Step: core.StepImageReady, Container: "main", At: at.Add(13 * time.Millisecond)},
		{Step: core.StepRunning, At: at.Add(90 * time.Millisecond)},
	}}
	st.Group.Credentials = nil
	b, err := marshalState(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"timeline":[{"step":"Accepted","at":"2026-12-01T07:40:00.123456789Z"}`) {
		t.Fatalf("timeline not written in its record shape: %s", b)
	}
	again, err := unmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Timeline, st.Timeline) {
		t.Fatalf("timeline:\n got %+v\nwant %+v", again.Timeline, st.Timeline)
	}
}

func TestStateOfNewerKcidRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version":99,"group":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readState(dir)
	if !errors.Is(err, record.ErrNewerVersion) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("newer state: %v", err)
	}
}

// TestFirstStartOnly: state writes skip the fsync only while they hold
// nothing but a first start's progress in this run; an exit (a main or
// an init container's), a restart, Running, a setup failure shown, a stop
// or a state resumed from an earlier run make every write synced.
func TestFirstStartOnly(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	spec := &core.Group{ID: "g", RestartPolicy: core.RestartAlways,
		InitContainers: []core.Container{{Name: "i", Image: "busybox"}},
		Containers:     []core.Container{{Name: "a", Image: "busybox"}}}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, l *lifecycle.Group, name string) {
		must(t, l.PullStarted(t0, name))
		must(t, l.ImagePresent(t0, name))
		must(t, l.Created(t0, name))
		must(t, l.Started(t0, name))
	}
	for _, c := range []struct {
		name string
		to   func(t *testing.T, st *groupState)
		want bool
	}{
		{"new", func(*testing.T, *groupState) {}, true},
		{"init container running", func(t *testing.T, st *groupState) { run(t, st.Life, "i") }, true},
		{"init container done", func(t *testing.T, st *groupState) {
			run(t, st.Life, "i")
			_, err := st.Life.Exited(t0, "i", 0, false)
			must(t, err)
		}, false},
		{"started, group not marked Running", func(t *testing.T, st *groupState) {
			st.Life.InitContainers = nil
			run(t, st.Life, "a")
		}, true},
		{"Running", func(t *testing.T, st *groupState) {
			st.Life.InitContainers = nil
			run(t, st.Life, "a")
			st.Timeline.Mark(core.StepRunning, "", t0)
		}, false},
		{"container exited", func(t *testing.T, st *groupState) {
			st.Life.InitContainers = nil
			run(t, st.Life, "a")
			_, err := st.Life.Exited(t0, "a", 1, false)
			must(t, err)
		}, false},
		{"setup failure shown", func(_ *testing.T, st *groupState) { st.Life.SetupFailed(t0, errors.New("cni")) }, false},
		{"stopping", func(_ *testing.T, st *groupState) { st.Life.Stop(t0) }, false},
		{"resumed from an earlier run", func(_ *testing.T, st *groupState) { st.resumed = true }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &groupState{Life: lifecycle.New(spec, lifecycle.Config{})}
			st.Timeline.Mark(core.StepAccepted, "", t0)
			c.to(t, st)
			if got := st.firstStartOnly(); got != c.want {
				t.Errorf("firstStartOnly() = %v, want %v", got, c.want)
			}
		})
	}
}
