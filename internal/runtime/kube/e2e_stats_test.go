package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
)

// TestGroupStatsFromKubelet: on the real cluster, a group burning CPU
// gets its usage from the kubelet's summary through nodes/proxy: CPU
// rises between two readings, memory is there, and the busy container has
// the CPU.
func TestGroupStatsFromKubelet(t *testing.T) {
	e := newE2E(t)
	g := e.group(t, "stats")
	g.Containers = []core.Container{
		{Name: "burn", Image: e.image, Command: []string{"sh", "-c", "while :; do :; done"}},
		{Name: "idle", Image: e.image, Command: []string{"sh", "-c", "exec sleep 3600"}},
	}
	ctx := context.Background()
	if _, err := e.rt.GroupStats(ctx, g.ID); !errors.Is(err, kcierr.ErrNotFound) {
		t.Fatalf("stats of a group not started: %v, want not found", err)
	}
	e.start(ctx, t, g)
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseRunning })

	// The kubelet refreshes pod stats every 10-15 s: wait for a first
	// reading with CPU, then for a later one.
	read := func(after time.Time) core.GroupStats {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			st, err := e.rt.GroupStats(ctx, g.ID)
			if err == nil && st.CPUNanos > 0 && st.Time.After(after) && len(st.Containers) == 2 {
				return st
			}
			if err != nil && !errors.Is(err, kcierr.ErrNotFound) {
				t.Fatalf("GroupStats: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no kubelet reading after %v within 90 s (last: %+v, %v)", after, st, err)
			}
			time.Sleep(time.Second)
		}
	}
	first := read(time.Time{})
	second := read(first.Time)
	ctr := func(st core.GroupStats, name string) core.ContainerStats {
		for _, c := range st.Containers {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no container %s in %+v", name, st)
		return core.ContainerStats{}
	}
	b1, b2, i2 := ctr(first, "burn"), ctr(second, "burn"), ctr(second, "idle")
	rate := float64(b2.CPUNanos-b1.CPUNanos) / second.Time.Sub(first.Time).Seconds() / 1e9
	t.Logf("readings %s apart; burn %.2f cores; group working set %.1f MiB; interfaces %+v",
		second.Time.Sub(first.Time), rate, float64(second.Memory.WorkingSet)/(1<<20), second.Interfaces)
	if b2.CPUNanos <= b1.CPUNanos || second.CPUNanos <= first.CPUNanos {
		t.Errorf("CPU did not rise: burn %d then %d, group %d then %d", b1.CPUNanos, b2.CPUNanos, first.CPUNanos, second.CPUNanos)
	}
	if b2.CPUNanos <= i2.CPUNanos {
		t.Errorf("the busy container used no more CPU (%d ns) than the sleeping one (%d ns)", b2.CPUNanos, i2.CPUNanos)
	}
	if second.Memory.WorkingSet == 0 || b2.Memory.WorkingSet == 0 {
		t.Errorf("no memory figures: group %+v, burn %+v", second.Memory, b2.Memory)
	}
	// Network: the test cluster's kubelet (CRI stats, no cadvisor network
	// figures for the sandbox) reports none for pods; a kubelet that does
	// is read by TestPodStatsFromSummary's path.
}

// recorder counts what an Observer is told.
type recorder struct {
	mu        sync.Mutex
	restarts  map[string]int
	running   []time.Duration
	pulled    []int64 // sizes of the successful pulls
	pullTimes []time.Duration
	failed    int
}

func (r *recorder) ImagePulled(bytes int64, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		return
	}
	r.pulled = append(r.pulled, bytes)
	r.pullTimes = append(r.pullTimes, d)
}

func (r *recorder) ContainerRestarted(accountID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restarts[accountID]++
}

func (r *recorder) GroupRunning(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = append(r.running, d)
}

// TestObserverOnCluster: a runtime watching the real cluster tells its
// observer of a group's first Running, of its container's restarts and of
// the kubelet's pulls of its image, with their size and time.
func TestObserverOnCluster(t *testing.T) {
	e := newE2E(t)
	rec := &recorder{restarts: map[string]int{}}
	watcher, err := New(Config{Client: e.cs, Observer: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	g := e.group(t, "observed")
	// Always: the kubelet pulls at each start, so the pull is reported.
	g.Containers = []core.Container{{Name: "flap", Image: e.image, ImagePullPolicy: "Always", Command: []string{"sh", "-c", "sleep 2; exit 1"}}}
	ctx := context.Background()
	e.start(ctx, t, g)
	deadline := time.Now().Add(90 * time.Second)
	for {
		rec.mu.Lock()
		restarts, running, pulls := rec.restarts[e2eRun], len(rec.running), len(rec.pulled)
		rec.mu.Unlock()
		if restarts >= 2 && running >= 1 && pulls >= 1 {
			t.Logf("restarts %d, first Running after %v, pulls %v bytes in %v", restarts, rec.running[0], rec.pulled, rec.pullTimes)
			if rec.pulled[0] <= 0 || rec.pullTimes[0] <= 0 {
				t.Errorf("a pull without its size or time: %v bytes, %v", rec.pulled[0], rec.pullTimes[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 90 s: %d restarts of account %s, %d first Running, %d pulls (all restarts: %v)", restarts, e2eRun, running, pulls, rec.restarts)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
