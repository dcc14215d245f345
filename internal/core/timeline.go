package core

import (
	"slices"
	"time"
)

// StartStep names one step of a group's first start, in the order a
// start usually passes them (the runtime decides which it can observe).
type StartStep string

// The steps of a group's start. Per-container steps carry the container's
// name; group steps carry none.
const (
	StepAccepted         StartStep = "Accepted"         // the API accepted the create (the group's CreatedAt)
	StepScheduled        StartStep = "Scheduled"        // bound to a node (Kubernetes only: the scheduler's Scheduled event)
	StepVolumesReady     StartStep = "VolumesReady"     // files, config volumes, disks and the group cgroup are in place
	StepNetworkReady     StartStep = "NetworkReady"     // network namespace made, CNI ADD done, rules applied (Kubernetes: PodReadyToStartContainers)
	StepImageReady       StartStep = "ImageReady"       // a container's image resolved: found present or pulled
	StepContainerCreated StartStep = "ContainerCreated" // a container (and its snapshot) created
	StepContainerStarted StartStep = "ContainerStarted" // a container's process started
	StepRunning          StartStep = "Running"          // the group reached Running
)

// startSteps is the order a start usually passes its steps.
var startSteps = []StartStep{StepAccepted, StepScheduled, StepVolumesReady, StepNetworkReady,
	StepImageReady, StepContainerCreated, StepContainerStarted, StepRunning}

// Rank is s's place in the usual order of a start: it orders steps
// recorded at the same time (a container's start before the Running it
// brings).
func (s StartStep) Rank() int { return slices.Index(startSteps, s) }

// StartMark is the time one step of a group's start was reached.
type StartMark struct {
	Step      StartStep
	Container string // "" for a group step
	At        time.Time
}

// StartTimeline is a group's first start, one mark per step (and
// container), in the order they were reached. Steps may overlap (the
// network is set up while a container is created), so a step's place is
// its time, not the order it was recorded in. Restarts add nothing: it
// says where the group's start time went.
type StartTimeline []StartMark

// Mark records step (of container) at t unless it is already recorded,
// after every mark at or before t, and reports whether it was added.
func (tl *StartTimeline) Mark(step StartStep, container string, t time.Time) bool {
	if tl.Has(step, container) {
		return false
	}
	i := len(*tl)
	for i > 0 && (*tl)[i-1].At.After(t) {
		i--
	}
	*tl = slices.Insert(*tl, i, StartMark{Step: step, Container: container, At: t})
	return true
}

// Has reports whether step (of container) is recorded.
func (tl StartTimeline) Has(step StartStep, container string) bool {
	for _, m := range tl {
		if m.Step == step && m.Container == container {
			return true
		}
	}
	return false
}
