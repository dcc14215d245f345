package lifecycle_test

import (
	"fmt"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
)

// A runtime worker reports what it observes and sleeps until the decision
// says to act. Here the container crashes twice and is restarted after
// 10 s, then 20 s.
func Example() {
	spec := &core.Group{RestartPolicy: core.RestartAlways,
		Containers: []core.Container{{Name: "web", Image: "nginx"}}}
	g := lifecycle.New(spec, lifecycle.DefaultConfig())
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	for _, d := range g.Next(now).Due { // web: Pull
		_ = g.PullStarted(now, d.Container) // ... pull ...
		_ = g.Pulled(now, d.Container)
		_ = g.Created(now, d.Container) // ... create, start ...
		_ = g.Started(now, d.Container)
	}
	for range 2 {
		now = now.Add(time.Minute)                // ... wait for the task to exit ...
		d, _ := g.Exited(now, "web", 1, false)    // exit code 1
		fmt.Println(d.Restart, d.Delay, d.Reason) // sleep until d.At, then:
		now = d.At
		_ = g.Started(now, "web")
	}
	st := g.Status(now)
	fmt.Println(st.Phase, st.Containers[0].RestartCount, st.Containers[0].Previous.Reason)
	for _, e := range st.Events {
		fmt.Printf("%s %s %q x%d\n", e.Type, e.Reason, e.Message, e.Count)
	}
	// Output:
	// true 10s CrashLoopBackOff
	// true 20s CrashLoopBackOff
	// Running 2 Error
	// Normal Pulling "Pulling image `nginx`" x1
	// Normal Pulled "Successfully pulled image `nginx`" x1
	// Normal Created "Created container web" x1
	// Normal Started "Started container web" x3
	// Warning BackOff "Back-off restarting failed container web" x2
}
