package kcictl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// run --label, get -l (the API's label:KEY filter), labels in describe, and
// kcictl events (DescribeContainerGroupEvents).
func TestLabelsAndEvents(t *testing.T) {
	h := newHarness(t)
	web := h.create("web", "--image", "nginx:1.27", "-l", "cluster-id=c1", "--label", "tier=web")
	h.create("db", "--image", "busybox:1.36", "-l", "cluster-id=c1", "-l", "tier=db")
	h.create("other", "--image", "busybox:1.36", "-l", "cluster-id=c2", "-l", "example.com/empty=")
	h.clock.Advance(time.Minute)

	for _, tc := range []struct{ golden, args string }{
		{"labels/get-one-key.txt", "get -l cluster-id=c1 -o id"},
		{"labels/get-or.txt", "get -l tier=web -l tier=db -o id"},
		{"labels/get-and.txt", "get -l cluster-id=c1 -l tier=db -o id"},
		{"labels/get-empty-value.txt", "get -l example.com/empty= -o id"},
		{"labels/get-bad.txt", "get -l tier"},
		{"labels/get-api-error.txt", "get -l a/b/c=x"},
		{"labels/run-bad.txt", "run x --image busybox -l =v"},
		{"labels/run-api-error.txt", "run x --image busybox -l tier=-bad"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			h.t = t
			h.golden(tc.golden, transcript(h.run(strings.Fields(tc.args)...)))
		})
	}
	h.t = t
	if d := h.run("describe", "web").stdout; !strings.Contains(d, "Labels:           cluster-id=c1, tier=web\n") {
		t.Errorf("describe does not show the labels:\n%s", d)
	}

	h.srv.Runtime.SetStatus(web, core.GroupStatus{Phase: core.PhaseRunning, Events: []core.Event{
		h.ev("Normal", "Pulled", "Successfully pulled image `nginx:1.27`", 1),
		h.ev("Warning", "BackOff", "Back-off restarting failed container web", 3),
	}})
	h.clock.Advance(30 * time.Second)
	h.golden("labels/events.txt", transcript(h.run("events", "web")))
	h.srv.Runtime.SetStatus(web, core.GroupStatus{Phase: core.PhasePending})
	h.golden("labels/events-none.txt", transcript(h.run("events", web)))
	h.golden("labels/events-unknown.txt", transcript(h.run("events", "nope")))
}
