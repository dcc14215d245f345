package lifecycle

import (
	"fmt"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// Event reasons, as kubelet names them.
const (
	EventReasonPulling     = "Pulling"
	EventReasonPulled      = "Pulled"
	EventReasonCreated     = "Created"
	EventReasonStarted     = "Started"
	EventReasonFailed      = "Failed"
	EventReasonBackOff     = "BackOff"
	EventReasonKilling     = "Killing"
	EventReasonOOMKilling  = "OOMKilling"
	EventReasonSetupFailed = "FailedCreatePodSandBox"
	EventReasonLost        = "ContainerLost"
)

// Note is an event before it is timed: the (Type, Reason, Message) key that
// events aggregate on. Build Notes with the Note* helpers so messages keep
// the API's shapes (image names in literal backticks).
type Note struct {
	Type    string // core.EventNormal or core.EventWarning
	Reason  string
	Message string
}

// NotePulling: Normal Pulling "Pulling image `IMAGE`".
func NotePulling(image string) Note {
	return Note{core.EventNormal, EventReasonPulling, fmt.Sprintf("Pulling image `%s`", image)}
}

// NotePulled: Normal Pulled "Successfully pulled image `IMAGE`".
func NotePulled(image string) Note {
	return Note{core.EventNormal, EventReasonPulled, fmt.Sprintf("Successfully pulled image `%s`", image)}
}

// NoteImagePresent: Normal Pulled "Container image `IMAGE` already present on machine".
func NoteImagePresent(image string) Note {
	return Note{core.EventNormal, EventReasonPulled, fmt.Sprintf("Container image `%s` already present on machine", image)}
}

// NoteImageFromCache: Normal Pulled "Container image `IMAGE` served from
// image cache CACHE, no registry contacted".
func NoteImageFromCache(image, cache string) Note {
	return Note{core.EventNormal, EventReasonPulled, fmt.Sprintf("Container image `%s` served from image cache %s, no registry contacted", image, cache)}
}

// NoteNotInCache: Normal Pulling "Image `IMAGE` is not in image cache
// CACHE; pulling it from its registry".
func NoteNotInCache(image, cache string) Note {
	return Note{core.EventNormal, EventReasonPulling, fmt.Sprintf("Image `%s` is not in image cache %s; pulling it from its registry", image, cache)}
}

// NotePullFailed: Warning Failed "Failed to pull image `IMAGE`: ERR".
func NotePullFailed(image string, err error) Note {
	return Note{core.EventWarning, EventReasonFailed, fmt.Sprintf("Failed to pull image `%s`: %s", image, errText(err))}
}

// NoteError: Warning Failed "Error: WHAT", e.g. "Error: ErrImagePull" or
// "Error: " plus a create error's text.
func NoteError(what string) Note {
	return Note{core.EventWarning, EventReasonFailed, "Error: " + what}
}

// NotePullBackOff: Warning BackOff "Back-off pulling image `IMAGE`".
func NotePullBackOff(image string) Note {
	return Note{core.EventWarning, EventReasonBackOff, fmt.Sprintf("Back-off pulling image `%s`", image)}
}

// NoteCreated: Normal Created "Created container NAME".
func NoteCreated(container string) Note {
	return Note{core.EventNormal, EventReasonCreated, "Created container " + container}
}

// NoteStarted: Normal Started "Started container NAME".
func NoteStarted(container string) Note {
	return Note{core.EventNormal, EventReasonStarted, "Started container " + container}
}

// NoteRestartBackOff: Warning BackOff "Back-off restarting failed container NAME".
func NoteRestartBackOff(container string) Note {
	return Note{core.EventWarning, EventReasonBackOff, "Back-off restarting failed container " + container}
}

// NoteKilling: Normal Killing "Stopping container NAME".
func NoteKilling(container string) Note {
	return Note{core.EventNormal, EventReasonKilling, "Stopping container " + container}
}

// NoteOOMKilled: Warning OOMKilling "Memory limit exceeded: container NAME was OOM-killed".
func NoteOOMKilled(container string) Note {
	return Note{core.EventWarning, EventReasonOOMKilling, "Memory limit exceeded: container " + container + " was OOM-killed"}
}

// NoteLost: Warning ContainerLost "Container NAME: WHAT", where what says
// how the running container was lost outside kcid's control, e.g. "its
// task was deleted outside kcid".
func NoteLost(container, what string) Note {
	return Note{core.EventWarning, EventReasonLost, "Container " + container + ": " + what}
}

// NoteSetupFailed: Warning FailedCreatePodSandBox "Failed to create container group sandbox: ERR".
func NoteSetupFailed(err error) Note {
	return Note{core.EventWarning, EventReasonSetupFailed, "Failed to create container group sandbox: " + errText(err)}
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// Record adds n at now to the group's events, Kubernetes style: an event
// with the same Type, Reason and Message gets Count+1 and LastTimestamp=now
// instead of a new entry. Events stay in order of first occurrence; beyond
// Config.MaxEvents distinct events the least recently seen one is dropped.
func (g *Group) Record(now time.Time, n Note) {
	for i := range g.Events {
		e := &g.Events[i]
		if e.Type == n.Type && e.Reason == n.Reason && e.Message == n.Message {
			e.Count++
			if now.After(e.LastTimestamp) {
				e.LastTimestamp = now
			}
			return
		}
	}
	g.Events = append(g.Events, core.Event{
		Type: n.Type, Reason: n.Reason, Message: n.Message,
		Count: 1, FirstTimestamp: now, LastTimestamp: now,
	})
	limit := g.Config.withDefaults().MaxEvents
	for len(g.Events) > limit {
		oldest := 0
		for i, e := range g.Events {
			if e.LastTimestamp.Before(g.Events[oldest].LastTimestamp) {
				oldest = i
			}
		}
		g.Events = append(g.Events[:oldest], g.Events[oldest+1:]...)
	}
}
