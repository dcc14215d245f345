package kube

import (
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
)

// kubelet's messages, rewritten to the spec's shapes (lifecycle's Note*
// helpers: image names in backticks, no pull timings, no pod names) so that
// a group's events read the same on both runtimes and aggregate.
var (
	reQuotedImage  = `"([^"]+)"`
	rePulling      = regexp.MustCompile(`^Pulling image ` + reQuotedImage + `$`)
	rePulled       = regexp.MustCompile(`^Successfully pulled image ` + reQuotedImage)
	rePresent      = regexp.MustCompile(`^Container image ` + reQuotedImage + ` already present on machine`)
	rePullFailed   = regexp.MustCompile(`^Failed to pull image ` + reQuotedImage + `: (?s)(.*)$`)
	rePullBackOff  = regexp.MustCompile(`^Back-off pulling image ` + reQuotedImage)
	reCreated      = regexp.MustCompile(`^Created container:? (\S+)$`)
	reStarted      = regexp.MustCompile(`^Started container (\S+)$`)
	reRestartBack  = regexp.MustCompile(`^Back-off restarting failed container (\S+)( in pod .*)?$`)
	reStopping     = regexp.MustCompile(`^Stopping container (\S+)$`)
	reScheduledPod = regexp.MustCompile(`^Successfully assigned \S+ to (\S+)$`)
)

// normalize rewrites one kubelet/scheduler event message into the spec's
// shape; unknown messages pass unchanged.
func normalize(reason, msg string) string {
	if m := rePulling.FindStringSubmatch(msg); m != nil {
		return lifecycle.NotePulling(m[1]).Message
	}
	if m := rePulled.FindStringSubmatch(msg); m != nil {
		return lifecycle.NotePulled(m[1]).Message
	}
	if m := rePresent.FindStringSubmatch(msg); m != nil {
		return lifecycle.NoteImagePresent(m[1]).Message
	}
	if m := rePullFailed.FindStringSubmatch(msg); m != nil {
		return "Failed to pull image `" + m[1] + "`: " + m[2]
	}
	if m := rePullBackOff.FindStringSubmatch(msg); m != nil {
		return lifecycle.NotePullBackOff(m[1]).Message
	}
	if m := reCreated.FindStringSubmatch(msg); m != nil {
		return lifecycle.NoteCreated(m[1]).Message
	}
	if m := reStarted.FindStringSubmatch(msg); m != nil {
		return lifecycle.NoteStarted(m[1]).Message
	}
	if m := reRestartBack.FindStringSubmatch(msg); m != nil {
		return lifecycle.NoteRestartBackOff(m[1]).Message
	}
	if m := reStopping.FindStringSubmatch(msg); m != nil {
		return lifecycle.NoteKilling(m[1]).Message
	}
	if reason == "Scheduled" {
		if m := reScheduledPod.FindStringSubmatch(msg); m != nil {
			return "Successfully assigned container group to " + m[1]
		}
	}
	return msg
}

// eventTimes reads the first/last time and count of a core/v1 Event, which
// the events.k8s.io/v1 writers (scheduler) fill differently from the
// legacy ones (kubelet). The legacy times have whole seconds: each is
// refined with the moment kcid's watch delivered that occurrence when it
// lies within that second (seen; nil: none); the events.k8s.io times
// have microseconds. Times are in milliseconds.
func eventTimes(e *corev1.Event, seen *watchTimes) (first, last time.Time, count int) {
	seenFirst, seenLast := seen.eventSeenTimes(e.UID)
	first, last, count = within(e.FirstTimestamp.Time, seenFirst), within(e.LastTimestamp.Time, seenLast), int(e.Count)
	if e.FirstTimestamp.IsZero() {
		first = e.EventTime.Time
	}
	if e.Series != nil {
		if count == 0 {
			count = int(e.Series.Count)
		}
		if e.LastTimestamp.IsZero() {
			last = e.Series.LastObservedTime.Time
		}
	}
	if last.IsZero() {
		last = first
	}
	if first.IsZero() {
		first = within(e.CreationTimestamp.Time, seenFirst)
		last = first
	}
	if count == 0 {
		count = 1
	}
	return first.UTC().Truncate(time.Millisecond), last.UTC().Truncate(time.Millisecond), count
}

// convertEvents turns the cluster's events of one pod into the group's
// events: spec-shaped messages, aggregated on (Type, Reason, Message) as
// Kubernetes does, in order of first occurrence, at most max; times as
// eventTimes reads them.
func convertEvents(in []*corev1.Event, max int, seen *watchTimes) []core.Event {
	var out []core.Event
	idx := map[[3]string]int{}
	for _, e := range in {
		first, last, count := eventTimes(e, seen)
		typ := e.Type
		if typ == "" {
			typ = core.EventNormal
		}
		msg := normalize(e.Reason, strings.TrimSpace(e.Message))
		k := [3]string{typ, e.Reason, msg}
		if i, ok := idx[k]; ok {
			o := &out[i]
			o.Count += count
			if first.Before(o.FirstTimestamp) {
				o.FirstTimestamp = first
			}
			if last.After(o.LastTimestamp) {
				o.LastTimestamp = last
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, core.Event{Type: typ, Reason: e.Reason, Message: msg, Count: count, FirstTimestamp: first, LastTimestamp: last})
	}
	// By second, then in the natural sequence, then by the milliseconds:
	// times of one second are whole seconds or refined ones (eventTimes).
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := out[i].FirstTimestamp.Truncate(time.Second), out[j].FirstTimestamp.Truncate(time.Second)
		if !si.Equal(sj) {
			return si.Before(sj)
		}
		if ri, rj := eventRank(out[i].Reason), eventRank(out[j].Reason); ri != rj {
			return ri < rj
		}
		return out[i].FirstTimestamp.Before(out[j].FirstTimestamp)
	})
	if max > 0 && len(out) > max {
		// Keep the most recently seen, as lifecycle does.
		sort.SliceStable(out, func(i, j int) bool { return out[i].LastTimestamp.After(out[j].LastTimestamp) })
		out = out[:max]
		sort.SliceStable(out, func(i, j int) bool { return out[i].FirstTimestamp.Before(out[j].FirstTimestamp) })
	}
	return out
}

// eventRank orders events of the same second in their natural sequence.
func eventRank(reason string) int {
	switch reason {
	case "Scheduled", "FailedScheduling":
		return 0
	case "Pulling":
		return 1
	case "Pulled":
		return 2
	case "Created":
		return 3
	case "Started":
		return 4
	}
	return 5
}

// pullingFromEvents reports a container as pulling when its image's latest
// Pulling event is newer than any Pulled or pull failure of that image:
// pod status says only ContainerCreating meanwhile, the containerd runtime
// says ImagePulling.
func pullingFromEvents(evs []core.Event, g *core.Group) pullingNow {
	images := map[string]string{}
	for _, c := range g.AllContainers() {
		images[c.Name] = c.Image
	}
	return func(name string) bool {
		img, ok := images[name]
		if !ok {
			return false
		}
		var pulling, done time.Time
		for _, e := range evs {
			switch {
			case e.Message == lifecycle.NotePulling(img).Message:
				pulling = e.LastTimestamp
			case e.Message == lifecycle.NotePulled(img).Message,
				e.Message == lifecycle.NoteImagePresent(img).Message,
				strings.HasPrefix(e.Message, "Failed to pull image `"+img+"`"):
				if e.LastTimestamp.After(done) {
					done = e.LastTimestamp
				}
			}
		}
		// In whole seconds: either time may be refined (eventTimes).
		return !pulling.IsZero() && pulling.Truncate(time.Second).After(done.Truncate(time.Second))
	}
}
