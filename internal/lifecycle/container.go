package lifecycle

import (
	"errors"
	"fmt"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// Waiting and terminated reasons of a container state, as kubelet names them.
const (
	ReasonContainerCreating      = "ContainerCreating"
	ReasonPodInitializing        = "PodInitializing" // a container waits for the init containers
	ReasonErrImagePull           = "ErrImagePull"
	ReasonImagePullBackOff       = "ImagePullBackOff"
	ReasonCrashLoopBackOff       = "CrashLoopBackOff"
	ReasonCreateContainerError   = "CreateContainerError"
	ReasonCompleted              = "Completed"
	ReasonError                  = "Error"
	ReasonOOMKilled              = "OOMKilled"
	ReasonContainerStatusUnknown = "ContainerStatusUnknown"
)

// LostExitCode is the exit code recorded by Group.Lost, as kubelet records
// for a container whose status could not be found.
const LostExitCode = 137

// Errors of the observation methods. They leave the group unchanged.
var (
	// ErrInvalidTransition: the observation is impossible in the container's
	// stage (e.g. Started for a terminated container): a runtime bug.
	ErrInvalidTransition = errors.New("invalid lifecycle transition")
	// ErrUnknownContainer: the group has no container of that name.
	ErrUnknownContainer = errors.New("unknown container")
)

// Stage is the position of a container in the state machine drawn in the
// package documentation. It is finer than the API's waiting/running/
// terminated and is what transitions are checked against.
type Stage string

const (
	StageNew           Stage = "New"           // nothing observed yet
	StagePulling       Stage = "Pulling"       // image pull in flight
	StagePullBackOff   Stage = "PullBackOff"   // pull failed; retry at NextAt
	StagePulled        Stage = "Pulled"        // image present, not created
	StageCreated       Stage = "Created"       // attempt created, not started
	StageCreateBackOff Stage = "CreateBackOff" // create/start failed; retry at NextAt
	StageRunning       Stage = "Running"       // attempt running
	StageCrashBackOff  Stage = "CrashBackOff"  // attempt exited, restart at NextAt
	StageTerminated    Stage = "Terminated"    // exited, no restart: final
)

// transitions is the table of legal stage moves; anything else is
// ErrInvalidTransition. Terminated has no way out: a finished attempt never
// runs again, a restart is a new attempt that starts from CrashBackOff.
var transitions = map[Stage][]Stage{
	StageNew:           {StagePulling, StagePulled, StageCreated, StageCreateBackOff, StageRunning},
	StagePulling:       {StagePulling, StagePulled, StagePullBackOff},
	StagePullBackOff:   {StagePulling, StagePulled},
	StagePulled:        {StagePulling, StageCreated, StageCreateBackOff, StageRunning},
	StageCreated:       {StageCreated, StageCreateBackOff, StageRunning},
	StageCreateBackOff: {StagePulling, StagePulled, StageCreated, StageCreateBackOff, StageRunning},
	StageRunning:       {StageCrashBackOff, StageTerminated},
	StageCrashBackOff:  {StagePulling, StagePulled, StageCreated, StageCreateBackOff, StageRunning},
	StageTerminated:    nil,
}

// CanMove reports whether the state machine allows from → to.
func CanMove(from, to Stage) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// State is one state of a container, the lifecycle's JSON-friendly form of
// core.ContainerState.
type State struct {
	Kind    string `json:"kind"`              // core.StateWaiting, StateRunning or StateTerminated
	Reason  string `json:"reason,omitempty"`  // Reason* constant; empty for running
	Message string `json:"message,omitempty"` // error text behind a waiting reason
	// ExitCode is meaningful for terminated states only.
	ExitCode   int       `json:"exitCode,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// Core converts s for Describe. Zero times become nil; ExitCode is set for
// terminated states only.
func (s State) Core() *core.ContainerState {
	cs := &core.ContainerState{State: s.Kind, Reason: s.Reason}
	if s.Kind == core.StateTerminated {
		code := s.ExitCode
		cs.ExitCode = &code
	}
	if !s.StartedAt.IsZero() {
		t := s.StartedAt
		cs.StartTime = &t
	}
	if !s.FinishedAt.IsZero() {
		t := s.FinishedAt
		cs.FinishTime = &t
	}
	return cs
}

// failed reports whether a terminated state counts as a failure.
func (s State) failed() bool {
	return s.ExitCode != 0 || s.Reason == ReasonOOMKilled || s.Reason == ReasonContainerStatusUnknown
}

func waiting(reason, msg string) State {
	return State{Kind: core.StateWaiting, Reason: reason, Message: msg}
}

// Container tracks one container of a group. All fields are exported for
// persistence; change them only through Group's methods.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	Stage Stage  `json:"stage"`
	// Init marks an init container: it runs to completion before the
	// containers start, and a completed one is never restarted.
	Init bool `json:"init,omitempty"`
	// Attempts counts attempts started; RestartCount is Attempts-1.
	Attempts int `json:"attempts,omitempty"`
	// Current is the stored current state. ContainerStatus may refine a
	// waiting reason with the time (ErrImagePull → ImagePullBackOff).
	Current State `json:"current"`
	// Previous is the terminated state of the last finished attempt
	// before Current.
	Previous *State `json:"previous,omitempty"`
	// CrashCount counts consecutive crashes for the restart back-off; an
	// attempt that ran Config.BackOffReset resets it.
	CrashCount int `json:"crashCount,omitempty"`
	// PullFailures and CreateFailures count consecutive failures for their
	// back-offs; a success resets them.
	PullFailures   int `json:"pullFailures,omitempty"`
	CreateFailures int `json:"createFailures,omitempty"`
	// FailedAt is when the last pull or create failed.
	FailedAt time.Time `json:"failedAt,omitzero"`
	// NextAt is when the retry of a back-off stage is due.
	NextAt time.Time `json:"nextAt,omitzero"`
	// Stopping is set by Killing: no restart, no retry any more.
	Stopping bool `json:"stopping,omitempty"`
}

// RestartCount is the number of restarts: attempts started after the first.
func (c *Container) RestartCount() int {
	return max(c.Attempts-1, 0)
}

// move checks and performs a stage transition.
func (c *Container) move(to Stage) error {
	if !CanMove(c.Stage, to) {
		return fmt.Errorf("container %q: %s → %s: %w", c.Name, c.Stage, to, ErrInvalidTransition)
	}
	c.Stage = to
	return nil
}

// view is c's current state as seen at now.
func (c *Container) view(now time.Time, cfg Config) State {
	s := c.Current
	if s.Kind == core.StateWaiting && s.Reason == ReasonErrImagePull &&
		!now.Before(c.FailedAt.Add(cfg.PullErrorHold)) {
		s.Reason = ReasonImagePullBackOff
	}
	return s
}

// ContainerStatus converts c for Describe as seen at now.
func (c *Container) ContainerStatus(now time.Time, cfg Config) core.ContainerStatus {
	cs := core.ContainerStatus{
		Name:         c.Name,
		RestartCount: c.RestartCount(),
		Current:      c.view(now, cfg.withDefaults()).Core(),
	}
	if c.Previous != nil {
		cs.Previous = c.Previous.Core()
	}
	return cs
}
