package containerd

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// TestStartLatency measures Start to Running with a cached image (a new
// netns, CNI bridge attach, cgroup, container and task) next to `ctr run
// -d` of the same image (no network setup), and logs both medians.
func TestStartLatency(t *testing.T) {
	e := newEnv(t)
	cidr, gw, ip, sid := subnet()
	const n = 5
	// Warm: the image is pulled and unpacked once.
	warm := e.group("warm", ip(150), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
	e.start(warm)
	e.waitStatus(warm.ID, 30*time.Second, allRunning)

	var ours, ctr []time.Duration
	for i := 0; i < n; i++ {
		g := e.group("lat", ip(151+i), cidr, gw, sid, core.Container{Name: "c", Image: e.image, Command: sleeper("")})
		start := time.Now()
		if err := e.rt.Start(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		for {
			st, _ := e.rt.Status(context.Background(), g.ID)
			if allRunning(st) {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("not running: %s", runtimetest.Dump(st))
			}
			time.Sleep(2 * time.Millisecond)
		}
		ours = append(ours, time.Since(start))
		if err := e.rt.Remove(context.Background(), g); err != nil {
			t.Fatal(err)
		}

		id := "ctr-lat-" + randHex(4)
		start = time.Now()
		testenv.Ctr(t, e.addr, testNS, "run", "-d", e.image, id, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
		ctr = append(ctr, time.Since(start))
		testenv.RemoveContainer(e.addr, testNS, id)
	}
	slices.Sort(ours)
	slices.Sort(ctr)
	t.Logf("Start→Running, cached image: median %v (min %v, max %v); ctr run -d: median %v (min %v, max %v)",
		ours[n/2], ours[0], ours[n-1], ctr[n/2], ctr[0], ctr[n-1])
	if ours[n/2] > 5*time.Second {
		t.Errorf("Start→Running median %v", ours[n/2])
	}
}
