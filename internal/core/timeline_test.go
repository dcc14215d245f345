package core

import (
	"testing"
	"time"
)

// TestStartTimelineMark: marks are kept in time order whatever order they
// are recorded in (a step that overlapped another is recorded when the
// worker learns of it), a step is recorded once, and marks of one instant
// keep the order they were recorded in.
func TestStartTimelineMark(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type mark struct {
		step      StartStep
		container string
		ms        int
	}
	for _, c := range []struct {
		name      string
		marks     []mark
		wantAdded []bool
		want      []mark
	}{
		{
			name:      "in order",
			marks:     []mark{{StepAccepted, "", 0}, {StepVolumesReady, "", 3}, {StepNetworkReady, "", 30}},
			wantAdded: []bool{true, true, true},
			want:      []mark{{StepAccepted, "", 0}, {StepVolumesReady, "", 3}, {StepNetworkReady, "", 30}},
		},
		{
			name: "network recorded after the container it overlapped",
			marks: []mark{{StepAccepted, "", 0}, {StepVolumesReady, "", 3}, {StepImageReady, "a", 6},
				{StepContainerCreated, "a", 20}, {StepNetworkReady, "", 18}, {StepContainerStarted, "a", 60}},
			wantAdded: []bool{true, true, true, true, true, true},
			want: []mark{{StepAccepted, "", 0}, {StepVolumesReady, "", 3}, {StepImageReady, "a", 6},
				{StepNetworkReady, "", 18}, {StepContainerCreated, "a", 20}, {StepContainerStarted, "a", 60}},
		},
		{
			name:      "a step recorded twice keeps its first time",
			marks:     []mark{{StepAccepted, "", 0}, {StepContainerStarted, "a", 50}, {StepContainerStarted, "a", 90}},
			wantAdded: []bool{true, true, false},
			want:      []mark{{StepAccepted, "", 0}, {StepContainerStarted, "a", 50}},
		},
		{
			name:      "same step of two containers",
			marks:     []mark{{StepContainerStarted, "b", 50}, {StepContainerStarted, "a", 40}},
			wantAdded: []bool{true, true},
			want:      []mark{{StepContainerStarted, "a", 40}, {StepContainerStarted, "b", 50}},
		},
		{
			name:      "one instant: order recorded",
			marks:     []mark{{StepContainerStarted, "a", 50}, {StepRunning, "", 50}},
			wantAdded: []bool{true, true},
			want:      []mark{{StepContainerStarted, "a", 50}, {StepRunning, "", 50}},
		},
		{
			name:      "earlier than every mark",
			marks:     []mark{{StepVolumesReady, "", 5}, {StepAccepted, "", 0}},
			wantAdded: []bool{true, true},
			want:      []mark{{StepAccepted, "", 0}, {StepVolumesReady, "", 5}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tl StartTimeline
			for i, m := range c.marks {
				if added := tl.Mark(m.step, m.container, at(m.ms)); added != c.wantAdded[i] {
					t.Errorf("Mark(%s, %q) added %v, want %v", m.step, m.container, added, c.wantAdded[i])
				}
			}
			if len(tl) != len(c.want) {
				t.Fatalf("timeline %+v, want %d marks", tl, len(c.want))
			}
			for i, w := range c.want {
				if tl[i].Step != w.step || tl[i].Container != w.container || !tl[i].At.Equal(at(w.ms)) {
					t.Errorf("mark %d is %s %q at %v, want %s %q at %v", i, tl[i].Step, tl[i].Container, tl[i].At, w.step, w.container, at(w.ms))
				}
			}
		})
	}
}
