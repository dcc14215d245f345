// Package lifecycle is the pure decision layer of container groups: per
// container restart tracking with kubelet's back-off, container states with
// kubelet's reasons, the group phase, and aggregated events. Runtimes
// (containerd, later Kubernetes) report what they observe; lifecycle says
// what that means and what to do next.
//
// It does no I/O, starts no goroutines and never reads the clock: every
// method takes now, so decisions and tests are exact. There is no jitter.
// It imports only the standard library and internal/core.
//
// # Driving it
//
// One worker goroutine per group owns a *Group (it is not safe for
// concurrent use) and reports each observation as it happens:
//
//	PullStarted, PullFailed, Pulled, ImagePresent   image
//	Created, CreateFailed, Started                  an attempt
//	Exited, Lost                                    the attempt ended
//	Killing, Stop                                   stopping (deletion)
//	SetupFailed                                     the group cannot be set up
//
// Failures and exits return a Decision: what to do (ActionPull,
// ActionStart or nothing) and at what time. Next(now) is the
// level-triggered form of the same answer for the whole group, including
// after a daemon restart: the containers due now and when to wake next.
// Status(now) converts to core.GroupStatus for Describe.
//
// Probes are kubelet's prober logic for one running attempt of a
// container (Due says which probes to run when, Record what a result
// means: readiness, a kill, Unhealthy events); ProbeKilling records the
// kill. A runtime that runs probes itself (containerd) keeps one per
// attempt; Kubernetes runs them in the kubelet. Persist the Group
// with encoding/json after each observation; on recovery decode it, set
// Config, reconcile with the engine (a container recorded Running whose
// task is gone is reported with Lost) and call Next.
//
// Observations impossible in the container's stage return an error
// wrapping ErrInvalidTransition and change nothing: they are runtime bugs.
//
// # Container state machine
//
// Stage is what transitions are checked against (the table is
// transitions, asserted by CanMove). Each stage shows as the API state
// and reason on its right.
//
//	stage           shown as                          left by
//	-------------   -------------------------------   ------------------------------------------
//	New             waiting ContainerCreating         PullStarted, ImagePresent, Created, Started,
//	                                                  CreateFailed
//	Pulling         waiting ContainerCreating (*)     Pulled/ImagePresent → Pulled
//	                                                  PullFailed → PullBackOff
//	PullBackOff     waiting ErrImagePull, after       PullStarted at NextAt → Pulling
//	                PullErrorHold ImagePullBackOff
//	Pulled          waiting ContainerCreating         Created, Started, CreateFailed
//	Created         waiting ContainerCreating         Started → Running, CreateFailed
//	CreateBackOff   waiting CreateContainerError      Created/Started (or a re-pull) at NextAt
//	Running         running                           Exited/Lost → CrashBackOff or Terminated
//	CrashBackOff    waiting CrashLoopBackOff,         PullStarted/Created/Started at NextAt:
//	                Previous = terminated attempt     a new attempt, RestartCount+1
//	Terminated      terminated Completed, Error,      nothing: final
//	                OOMKilled, ContainerStatusUnknown
//
//	(*) a retry after a failed pull keeps showing the pull error.
//
//	 New ──PullStarted──▶ Pulling ──Pulled──▶ Pulled ──Created──▶ Created ──Started──▶ Running
//	                       ▲    │                 │                  │                    │
//	          PullStarted  │    │ PullFailed      └──CreateFailed──┬─┘          Exited/Lost
//	          at NextAt    │    ▼                                  ▼                      ▼
//	                     PullBackOff                        CreateBackOff      restart by policy,
//	                                                        (retry at NextAt)   not stopping?
//	                                                                           yes │       │ no
//	                                                                               ▼       ▼
//	                      new attempt at NextAt ◀────────────────────── CrashBackOff    Terminated
//	                      (PullStarted/Created/Started)                              (final)
//
// One-way rules: Terminated has no way out; Running is left only by an
// exit; a terminated attempt never runs again, a restart is a new attempt
// (Attempts+1 and, after the first, RestartCount+1 at Started).
//
// # Restart policy and back-off
//
// Always restarts every exit, also exit 0 (as kubelet, with back-off and
// CrashLoopBackOff); OnFailure restarts non-zero exits, OOM kills and lost
// containers; Never restarts nothing; Killing/Stop suppress all restarts.
// The n-th consecutive crash waits Config.BackOff(n-1): 10s, 20s, 40s, 80s,
// 160s, 300s, 300s, ... An attempt that ran Config.BackOffReset (10 min)
// before exiting resets the sequence to 10s. Failed pulls and failed
// creates have their own counters with the same curve, reset by a
// successful pull or start.
//
// # Timeline (kubelet style): policy Always, one container, seconds
//
//	now       0            1        2        3        63           73         74       134          154
//	call      PullStarted  Pulled   Created  Started  Exited(1)    Created    Started  Exited(1)    Started
//	stage     Pulling      Pulled   Created  Running  CrashBackOff Created    Running  CrashBackOff Running
//	current   waiting      waiting  waiting  running  waiting      waiting    running  waiting      running
//	          Container-   Cont.    Cont.             CrashLoop-   Container-          CrashLoop-
//	          Creating     Creat.   Creat.            BackOff      Creating            BackOff
//	previous  -            -        -        -        terminated Error, exit 1, 3→63 ... then 74→134
//	restarts  0            0        0        0        0            0          1        1            2
//	phase     ImagePulling ImagePulling Pending Running Running    Running    Running  Running      Running
//	decision                                          Start@73 (10s)                   Start@154 (20s)
//
// # Timeline: image pull failures (PullErrorHold 10s)
//
//	now       0            0            10           10           20           30           30
//	call      PullStarted  PullFailed   PullStarted  PullFailed   -            PullStarted  Pulled
//	shown     Container-   ErrImagePull ImagePull-   ErrImagePull ImagePull-   ImagePull-   Container-
//	          Creating                  BackOff                   BackOff      BackOff      Creating
//	decision               Pull@10 (10s)             Pull@30 (20s)
//	phase     ImagePulling throughout
//
// # Init containers
//
// Group.InitContainers run one after another, each to completion, before
// any container: Next offers only the first init container that has not
// completed, and the containers once all have. Each goes through the same
// state machine, but a completed one (exit 0) is final under every policy,
// and a failed one is retried with the crash back-off unless the policy is
// Never, which leaves it terminated and the group Failed. Meanwhile the
// group is Pending (ImagePulling while it pulls) and the containers wait
// with reason PodInitializing, as kubelet shows them.
//
// # Group phase
//
// See Group.Phase: CreateError, then Pending/ImagePulling while a container
// never ran, Running while one runs or will restart, then Succeeded or
// Failed. SucceededTime is the last FinishedAt of a Succeeded group.
// StatusFilterValues maps a phase to the API's `status` filter values.
//
// # Events
//
// Every observation records its kubelet-shaped events (Note* helpers),
// aggregated on (Type, Reason, Message): a repeat increments Count and
// LastTimestamp. At most Config.MaxEvents distinct events are kept, the
// least recently seen dropped first. Record adds a runtime's own Note.
package lifecycle
