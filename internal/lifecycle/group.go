package lifecycle

import (
	"fmt"
	"slices"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// Action is what a worker should do for one container.
type Action string

const (
	// ActionNone: nothing to do; wait for the container to exit.
	ActionNone Action = ""
	// ActionPull: pull the image, then create and start the container.
	ActionPull Action = "Pull"
	// ActionStart: create and start a new attempt of the container (pulling
	// first if the image pull policy says so).
	ActionStart Action = "Start"
)

// Decision tells a worker what to do about one container and when.
type Decision struct {
	Container string
	// Action is to be done at At. ActionNone means nothing is scheduled.
	Action Action
	// At is when Action is due; zero when Action is ActionNone.
	At time.Time
	// Delay is the back-off: At minus the time of the observation.
	Delay time.Duration
	// Restart is set by Exited and Lost when the container will be
	// restarted (at At); false means the exit is final.
	Restart bool
	// Reason is the container's state reason after the observation:
	// a waiting reason while backing off (CrashLoopBackOff, ErrImagePull,
	// CreateContainerError), the terminated reason of a final exit.
	Reason string
}

// Plan is what Next found: the containers whose action is due now, and
// when the next back-off ends (zero if none is pending).
type Plan struct {
	Due    []Decision
	WakeAt time.Time
}

// Group tracks one container group: per-container state machines and the
// group's events. All fields are exported and JSON-friendly so a runtime can
// persist a Group and decode it after a daemon restart; Config is not
// persisted (set it again after decoding; zero fields mean defaults).
//
// A Group is not safe for concurrent use: one worker owns it, others read
// Status snapshots the worker publishes (or guard it with a mutex).
type Group struct {
	Config        Config             `json:"-"`
	RestartPolicy core.RestartPolicy `json:"restartPolicy"`
	Containers    []*Container       `json:"containers"`
	// InitContainers run one after another, each to completion, before
	// any of Containers starts (see the package documentation).
	InitContainers []*Container `json:"initContainers,omitempty"`
	Events         []core.Event `json:"events,omitempty"`
	// SetupError, once set by SetupFailed, makes the group CreateError.
	SetupError string `json:"setupError,omitempty"`
	// Stopping is set by Stop: no container restarts or retries any more.
	Stopping bool `json:"stopping,omitempty"`
}

// New returns the tracker of a freshly created group: every container in
// StageNew, waiting ContainerCreating. An empty RestartPolicy means Always.
func New(spec *core.Group, cfg Config) *Group {
	g := &Group{Config: cfg, RestartPolicy: spec.RestartPolicy}
	if g.RestartPolicy == "" {
		g.RestartPolicy = core.RestartAlways
	}
	// The first init container is being created; the others, and the
	// containers, wait for the init containers before them.
	for i, sc := range spec.InitContainers {
		reason := ReasonPodInitializing
		if i == 0 {
			reason = ReasonContainerCreating
		}
		g.InitContainers = append(g.InitContainers, &Container{
			Name: sc.Name, Image: sc.Image, Stage: StageNew, Init: true,
			Current: waiting(reason, ""),
		})
	}
	first := ReasonContainerCreating
	if len(spec.InitContainers) > 0 {
		first = ReasonPodInitializing
	}
	for _, sc := range spec.Containers {
		g.Containers = append(g.Containers, &Container{
			Name:    sc.Name,
			Image:   sc.Image,
			Stage:   StageNew,
			Current: waiting(first, ""),
		})
	}
	return g
}

// all returns the init containers, then the containers.
func (g *Group) all() []*Container {
	return append(slices.Clone(g.InitContainers), g.Containers...)
}

// initPending returns the first init container that has not completed,
// or nil once all have (or there are none). Containers start only then.
func (g *Group) initPending() *Container {
	for _, c := range g.InitContainers {
		if c.Stage != StageTerminated || c.Current.failed() {
			return c
		}
	}
	return nil
}

func (g *Group) cfg() Config { return g.Config.withDefaults() }

// Container returns the tracker of the named container or init
// container, or nil.
func (g *Group) Container(name string) *Container {
	for _, c := range g.all() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// get returns the named container, checking that it may move to stage to.
func (g *Group) get(name string, to Stage) (*Container, error) {
	c := g.Container(name)
	if c == nil {
		return nil, fmt.Errorf("container %q: %w", name, ErrUnknownContainer)
	}
	if !CanMove(c.Stage, to) {
		return nil, fmt.Errorf("container %q: %s → %s: %w", name, c.Stage, to, ErrInvalidTransition)
	}
	return c, nil
}

// PullStarted records that the image pull of a container began (Normal
// Pulling). A first pull, or a re-pull before a restart, shows
// ContainerCreating; a retry after a failed pull keeps showing the pull
// error until its outcome is known.
func (g *Group) PullStarted(now time.Time, name string) error {
	c, err := g.get(name, StagePulling)
	if err != nil {
		return err
	}
	if c.Stage != StagePullBackOff && c.Stage != StagePulling {
		c.Current = waiting(ReasonContainerCreating, "")
	}
	c.Stage = StagePulling
	g.Record(now, NotePulling(c.Image))
	return nil
}

// PullFailed records a failed pull (Warning Failed twice, Warning BackOff)
// and returns when to pull again: the pull back-off, doubling per
// consecutive failure. The container shows ErrImagePull, then
// ImagePullBackOff once Config.PullErrorHold has passed.
func (g *Group) PullFailed(now time.Time, name string, pullErr error) (Decision, error) {
	c, err := g.get(name, StagePullBackOff)
	if err != nil {
		return Decision{}, err
	}
	delay := g.backOff(now, c, &c.PullFailures, StagePullBackOff, ReasonErrImagePull, errText(pullErr))
	g.Record(now, NotePullFailed(c.Image, pullErr))
	g.Record(now, NoteError(ReasonErrImagePull))
	g.Record(now, NotePullBackOff(c.Image))
	return Decision{Container: name, Action: ActionPull, At: c.NextAt, Delay: delay, Reason: ReasonErrImagePull}, nil
}

// backOff puts c, which failed at now, into stage until a back-off that
// doubles with the failures counted by *failures (then one more) has
// passed, waiting with reason and message; it returns the back-off.
func (g *Group) backOff(now time.Time, c *Container, failures *int, stage Stage, reason, message string) time.Duration {
	delay := g.cfg().BackOff(*failures)
	*failures++
	c.Stage = stage
	c.Current = waiting(reason, message)
	c.FailedAt = now
	c.NextAt = now.Add(delay)
	return delay
}

// Pulled records a successful pull (Normal Pulled) and resets the pull
// back-off.
func (g *Group) Pulled(now time.Time, name string) error {
	return g.pulled(now, name, NotePulled)
}

// ImagePresent records that the image was already there, so no pull was
// needed (Normal Pulled "... already present on machine").
func (g *Group) ImagePresent(now time.Time, name string) error {
	return g.pulled(now, name, NoteImagePresent)
}

// ImageFromCache records that the image was served from an image cache
// (Normal Pulled "... served from image cache CACHE ...").
func (g *Group) ImageFromCache(now time.Time, name, cache string) error {
	return g.pulled(now, name, func(image string) Note { return NoteImageFromCache(image, cache) })
}

// NotInCache records that the group's image cache does not hold the
// container's image, which is pulled as usual.
func (g *Group) NotInCache(now time.Time, name, cache string) error {
	c, err := g.get(name, StagePulling)
	if err != nil {
		return err
	}
	g.Record(now, NoteNotInCache(c.Image, cache))
	return nil
}

func (g *Group) pulled(now time.Time, name string, note func(string) Note) error {
	c, err := g.get(name, StagePulled)
	if err != nil {
		return err
	}
	c.Stage = StagePulled
	c.PullFailures = 0
	c.NextAt = time.Time{}
	c.Current = waiting(ReasonContainerCreating, "")
	g.Record(now, note(c.Image))
	return nil
}

// Created records that an attempt of the container was created (Normal
// Created). Created again for an attempt already created (e.g. re-created
// after a daemon restart) is allowed.
func (g *Group) Created(now time.Time, name string) error {
	c, err := g.get(name, StageCreated)
	if err != nil {
		return err
	}
	c.Stage = StageCreated
	c.NextAt = time.Time{}
	c.Current = waiting(ReasonContainerCreating, "")
	g.Record(now, NoteCreated(name))
	return nil
}

// CreateFailed records that creating or starting an attempt failed
// (Warning Failed "Error: ...") and returns when to try again, with the
// same doubling back-off. The container shows CreateContainerError.
// For a group that cannot be set up at all, use SetupFailed instead.
func (g *Group) CreateFailed(now time.Time, name string, createErr error) (Decision, error) {
	c, err := g.get(name, StageCreateBackOff)
	if err != nil {
		return Decision{}, err
	}
	delay := g.backOff(now, c, &c.CreateFailures, StageCreateBackOff, ReasonCreateContainerError, errText(createErr))
	g.Record(now, NoteError(errText(createErr)))
	return Decision{Container: name, Action: ActionStart, At: c.NextAt, Delay: delay, Reason: ReasonCreateContainerError}, nil
}

// Started records that a new attempt of the container is running (Normal
// Started); Created need not have been reported. Every attempt started
// after the first is a restart and counts in RestartCount.
func (g *Group) Started(now time.Time, name string) error {
	c, err := g.get(name, StageRunning)
	if err != nil {
		return err
	}
	c.Attempts++
	c.Stage = StageRunning
	c.CreateFailures = 0
	c.NextAt = time.Time{}
	c.Current = State{Kind: core.StateRunning, StartedAt: now}
	g.Record(now, NoteStarted(name))
	return nil
}

// Exited records that the running attempt exited and decides, from the
// restart policy, whether it restarts: Always restarts every exit,
// OnFailure non-zero exits and OOM kills, Never nothing; a container or
// group being stopped never restarts. The terminated reason is OOMKilled
// if oom, else Completed for exit code 0, else Error.
//
// A restart waits the crash back-off (Config.BackOff of the consecutive
// crashes; an attempt that ran Config.BackOffReset or longer resets it).
// Meanwhile the container is waiting CrashLoopBackOff with the terminated
// state as Previous, and a Warning BackOff is recorded. Without a restart
// the terminated state becomes Current and is final.
func (g *Group) Exited(now time.Time, name string, exitCode int, oom bool) (Decision, error) {
	reason := ReasonError
	switch {
	case oom:
		reason = ReasonOOMKilled
	case exitCode == 0:
		reason = ReasonCompleted
	}
	return g.exit(now, name, exitCode, reason)
}

// Lost records that a running attempt vanished without an exit status
// (e.g. found missing after a daemon restart): terminated
// ContainerStatusUnknown with exit code 137, a failure. It then decides
// like Exited.
func (g *Group) Lost(now time.Time, name string) (Decision, error) {
	return g.exit(now, name, LostExitCode, ReasonContainerStatusUnknown)
}

func (g *Group) exit(now time.Time, name string, code int, reason string) (Decision, error) {
	c := g.Container(name)
	if c == nil {
		return Decision{}, fmt.Errorf("container %q: %w", name, ErrUnknownContainer)
	}
	if c.Stage != StageRunning {
		return Decision{}, fmt.Errorf("container %q: exit in %s: %w", name, c.Stage, ErrInvalidTransition)
	}
	term := State{
		Kind: core.StateTerminated, Reason: reason, ExitCode: code,
		StartedAt: c.Current.StartedAt, FinishedAt: now,
	}
	if reason == ReasonOOMKilled {
		g.Record(now, NoteOOMKilled(name))
	}
	if !g.restarts(c, term) {
		c.Stage = StageTerminated
		c.Current = term
		c.NextAt = time.Time{}
		return Decision{Container: name, Reason: reason}, nil
	}
	cfg := g.cfg()
	if !term.StartedAt.IsZero() && now.Sub(term.StartedAt) >= cfg.BackOffReset {
		c.CrashCount = 0
	}
	delay := cfg.BackOff(c.CrashCount)
	c.CrashCount++
	c.Stage = StageCrashBackOff
	c.Previous = &term
	c.Current = waiting(ReasonCrashLoopBackOff,
		fmt.Sprintf("back-off %s restarting failed container %s", delay, name))
	c.NextAt = now.Add(delay)
	g.Record(now, NoteRestartBackOff(name))
	return Decision{Container: name, Action: ActionStart, At: c.NextAt, Delay: delay, Restart: true, Reason: ReasonCrashLoopBackOff}, nil
}

// restarts reports whether the policy restarts a container that ended in
// term. An init container that completed is done under every policy; one
// that failed is retried unless the policy is Never (as kubelet does).
func (g *Group) restarts(c *Container, term State) bool {
	if g.Stopping || c.Stopping {
		return false
	}
	if c.Init {
		return g.RestartPolicy != core.RestartNever && term.failed()
	}
	switch g.RestartPolicy {
	case core.RestartNever:
		return false
	case core.RestartOnFailure:
		return term.failed()
	default:
		return true
	}
}

// Killing records that the runtime is stopping the container (Normal
// Killing, if it runs): it will not be restarted or retried; its coming
// exit is final. Killing a terminated container is a no-op.
func (g *Group) Killing(now time.Time, name string) error {
	c := g.Container(name)
	if c == nil {
		return fmt.Errorf("container %q: %w", name, ErrUnknownContainer)
	}
	if c.Stage == StageTerminated {
		return nil
	}
	c.Stopping = true
	c.NextAt = time.Time{}
	if c.Stage == StageRunning {
		g.Record(now, NoteKilling(name))
	}
	return nil
}

// Stop marks the whole group as stopping (deletion): Killing for every
// container; no restarts or retries any more.
func (g *Group) Stop(now time.Time) {
	g.Stopping = true
	for _, c := range g.all() {
		_ = g.Killing(now, c.Name) // c exists: cannot fail
	}
}

// SetupFailed records that the group could not be set up at all (sandbox,
// network or volumes failed permanently): Warning FailedCreatePodSandBox;
// the group's phase is CreateError from now on.
func (g *Group) SetupFailed(now time.Time, setupErr error) {
	g.SetupError = errText(setupErr)
	g.Record(now, NoteSetupFailed(setupErr))
}

// SetupSucceeded records that setting the group up worked after all (a
// retry after SetupFailed, or after a restart): the group leaves
// CreateError and its containers go on from where they are.
func (g *Group) SetupSucceeded() { g.SetupError = "" }

// Next returns what is to be done at now, level-triggered: call it from the
// worker whenever it wakes (start-up, after each observation, at
// Plan.WakeAt, on resync, after a daemon restart) and while no operation is
// in flight. New and Pulling containers are due for ActionPull (an
// interrupted pull is redone); Pulled and Created ones for ActionStart;
// back-off stages once their NextAt has come. Running and terminated
// containers, stopping ones and a CreateError group have nothing due.
// While an init container has not completed, it is the only one
// considered: init containers run one at a time, in order, and the
// containers only after the last one completed; an init container that
// failed for good (policy Never) leaves nothing due.
func (g *Group) Next(now time.Time) Plan {
	var p Plan
	if g.SetupError != "" || g.Stopping {
		return p
	}
	cfg := g.cfg()
	candidates := g.Containers
	if c := g.initPending(); c != nil {
		candidates = []*Container{c}
	}
	for _, c := range candidates {
		if c.Stopping {
			continue
		}
		var act Action
		at := now
		switch c.Stage {
		case StageNew, StagePulling:
			act = ActionPull
		case StagePulled, StageCreated:
			act = ActionStart
		case StagePullBackOff:
			act, at = ActionPull, c.NextAt
		case StageCreateBackOff, StageCrashBackOff:
			act, at = ActionStart, c.NextAt
		default:
			continue
		}
		// No back-off is longer than BackOffMax (plus the pull error's
		// hold): a retry further ahead was timed before the wall clock
		// jumped back, and is due now (else a jump back by an hour made
		// it wait an extra hour; the chaos suite found it).
		if at.Sub(now) > cfg.BackOffMax+cfg.PullErrorHold {
			at = now
		}
		if now.Before(at) {
			if p.WakeAt.IsZero() || at.Before(p.WakeAt) {
				p.WakeAt = at
			}
			continue
		}
		p.Due = append(p.Due, Decision{Container: c.Name, Action: act, At: at, Reason: c.view(now, cfg).Reason})
	}
	return p
}

// Status converts the group for Describe as seen at now: phase,
// SucceededTime, container states (deep copies) and events.
func (g *Group) Status(now time.Time) core.GroupStatus {
	cfg := g.cfg()
	st := core.GroupStatus{
		Phase:         g.Phase(),
		SucceededTime: g.SucceededTime(),
		Events:        slices.Clone(g.Events),
	}
	for _, c := range g.Containers {
		st.Containers = append(st.Containers, c.ContainerStatus(now, cfg))
	}
	for _, c := range g.InitContainers {
		st.InitContainers = append(st.InitContainers, c.ContainerStatus(now, cfg))
	}
	return st
}
