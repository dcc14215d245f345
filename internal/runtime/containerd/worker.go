package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/lifecycle"
	"github.com/openkci/openkci/internal/record"
	"github.com/openkci/openkci/internal/runtime/containerd/containerlog"
)

// runcRuntime is the shim every container runs under.
const runcRuntime = "io.containerd.runc.v2"

// logCheckInterval is how often a worker checks its logs' sizes (a
// variable for tests).
var logCheckInterval = 5 * time.Second

// group is one group's worker: a goroutine that acts on what
// lifecycle.Group decides, and the state it persists.
type group struct {
	r      *Runtime
	spec   *core.Group // as given to Start, credentials included
	dir    string
	netns  string
	cgroup string

	// ctx ends the worker: on Remove (removing set) or Runtime.Close.
	ctx      context.Context
	cancel   context.CancelFunc
	removing chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	exits    chan exitEvent

	// attempt numbers the tasks started by this worker so that an exit
	// reported late for an older task is ignored. Worker-only.
	attempt map[string]uint64

	mu sync.Mutex
	st *groupState // guarded by mu; mutated by the worker only
	// probers run the probes of the running containers that have any,
	// by container name (prober.go). Guarded by mu.
	probers map[string]*prober

	// sawRunning: the observer was told this group reached Running.
	// Worker-only.
	sawRunning bool

	// attaching is the CNI ADD running beside the containers' creation
	// (nil when none runs); attachFailed is its failure, not yet handed
	// to setupWithRetries. Worker-only. background counts the ADD's
	// goroutine: the worker ends only after it.
	attaching    *netAttach
	attachFailed error
	background   sync.WaitGroup

	// fwMu serialises applies of the group's security-group rules;
	// fwStale: the last apply failed (resync retries it).
	fwMu    sync.Mutex
	fwStale bool // guarded by fwMu
}

// netAttach is a CNI ADD running in the background; done receives its
// result once.
type netAttach struct {
	done chan netAttached
}

type netAttached struct {
	err error
	at  time.Time // when the ADD and the rules were done
}

type exitEvent struct {
	name    string
	attempt uint64
	code    int
	lost    bool   // the task vanished without an exit status
	gone    string // how the task or container was removed outside kcid, if it was
}

// Why a container's attempt ended outside kcid's control (event messages).
const (
	goneTask      = "its task was removed outside kcid (deleted, or its shim died)"
	goneContainer = "its containerd container was deleted outside kcid"
)

func newGroup(r *Runtime, spec *core.Group) *group {
	ctx, cancel := context.WithCancel(r.ctx)
	return &group{
		r:        r,
		spec:     spec,
		dir:      r.groupDir(spec.ID),
		netns:    r.netnsPath(spec.ID),
		cgroup:   r.groupCgroup(spec.ID),
		ctx:      r.nsCtx(ctx),
		cancel:   cancel,
		removing: make(chan struct{}),
		done:     make(chan struct{}),
		exits:    make(chan exitEvent, len(spec.Containers)+len(spec.InitContainers)),
		attempt:  map[string]uint64{},
		probers:  map[string]*prober{},
	}
}

func (g *group) logf(msg string, args ...any) {
	g.r.log.Info(msg, append([]any{"group", g.spec.ID}, args...)...)
}

func (g *group) now() time.Time { return g.r.cfg.Clock.Now() }

// stop asks the worker to end for a Remove: no restarts from now on.
func (g *group) stop() {
	g.stopOnce.Do(func() {
		close(g.removing)
		g.cancel()
	})
}

func (g *group) container(name string) *core.Container {
	for _, list := range [][]core.Container{g.spec.InitContainers, g.spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func (g *group) logPath(name string) string {
	return filepath.Join(g.dir, logsDir, name+".log")
}

func (g *group) ctrCgroup(name string) string { return g.cgroup + "/" + name }

func (g *group) status() core.GroupStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.st == nil {
		return lifecycle.New(g.spec, g.r.cfg.Lifecycle).Status(g.now())
	}
	st := g.st.Life.Status(g.now())
	st.Timeline = slices.Clone(g.st.Timeline)
	for i := range st.Containers {
		cs := &st.Containers[i]
		cs.Ready = cs.Current != nil && cs.Current.State == core.StateRunning && g.ready(cs.Name)
	}
	return st
}

// started records that a container's task started and, in the same
// step (so no status shows Running without it), the Running mark when the
// group is Running for the first time.
func (g *group) started(name string) {
	var running time.Time
	_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
		err := l.Started(now, name)
		if c := l.Container(name); err == nil && c != nil && c.RestartCount() > 0 {
			// Counted under the lock that shows the restart: whoever
			// sees RestartCount grow sees the counter grown too.
			g.observeRestart()
		}
		if l.Status(now).Phase == core.PhaseRunning && g.st.Timeline.Mark(core.StepRunning, "", now) {
			running = now
		}
		return err
	})
	if !running.IsZero() {
		g.observeStep(core.StepRunning, "", running)
	}
}

// mark records a step of the group's first start (once) at the current
// time; the next persist writes it.
func (g *group) mark(step core.StartStep, container string) {
	now := g.now()
	g.mu.Lock()
	added := g.st.Timeline.Mark(step, container, now)
	g.mu.Unlock()
	if added {
		g.observeStep(step, container, now)
	}
}

// observe runs fn on the lifecycle tracker under the lock and persists:
// synced, unless the state holds only the progress of the first start.
func (g *group) observe(fn func(l *lifecycle.Group, now time.Time) error) error {
	g.mu.Lock()
	err := fn(g.st.Life, g.now())
	b, merr := marshalState(g.st)
	write := writeFileAtomic
	if g.st.firstStartOnly() {
		write = writeFileUnsynced
	}
	g.mu.Unlock()
	if err != nil {
		g.r.log.Error("lifecycle", "group", g.spec.ID, "err", err)
	}
	if merr != nil {
		g.r.log.Error("encode state", "group", g.spec.ID, "err", merr)
	} else {
		if werr := write(filepath.Join(g.dir, stateFile), b, 0o600); werr != nil && g.ctx.Err() == nil {
			g.r.log.Error("persist state", "group", g.spec.ID, "err", werr)
		}
	}
	return err
}

func (g *group) persist() { _ = g.observe(func(*lifecycle.Group, time.Time) error { return nil }) }

// load takes the state file of an earlier run (re-adoption) or starts a
// fresh one, and writes it before anything else is created.
func (g *group) load() error {
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return err
	}
	st, err := readState(g.dir)
	if errors.Is(err, record.ErrNewerVersion) {
		return err // never overwrite what a newer kcid wrote
	}
	if err != nil || st.Life == nil {
		st = &groupState{Life: lifecycle.New(g.spec, g.r.cfg.Lifecycle)}
	} else {
		st.resumed = true
	}
	st.Life.Config = g.r.cfg.Lifecycle
	st.Timeline.Mark(core.StepAccepted, "", g.spec.CreatedAt)
	st.Group = *g.spec
	st.Group.Credentials = nil
	g.mu.Lock()
	g.st = st
	g.mu.Unlock()
	g.persist()
	return nil
}

func (g *group) run() {
	defer func() {
		g.background.Wait() // an ADD cut short by the ctx: teardown comes after it
		close(g.done)
	}()
	if !g.setupWithRetries(nil) {
		return
	}
	g.adopt()

	logTick := time.NewTimer(logCheckInterval)
	defer logTick.Stop()
	resync := time.NewTicker(g.r.cfg.ResyncInterval)
	defer resync.Stop()
	for spins := 0; ; {
		if g.ctx.Err() != nil {
			g.finish()
			return
		}
		if err := g.attachFailed; err != nil {
			g.attachFailed = nil
			if !g.setupWithRetries(err) {
				g.finish()
				return
			}
		}
		g.mu.Lock()
		plan := g.st.Life.Next(g.now())
		g.mu.Unlock()
		if len(plan.Due) > 0 && spins < 4*len(g.spec.Containers)+4 {
			spins++
			for _, d := range plan.Due {
				if g.ctx.Err() != nil {
					break
				}
				g.act(d)
			}
			continue
		}
		spins = 0
		var wake <-chan time.Time
		var timer *time.Timer
		if !plan.WakeAt.IsZero() {
			timer = time.NewTimer(max(plan.WakeAt.Sub(g.now()), 10*time.Millisecond))
		} else if len(plan.Due) > 0 {
			// Decisions that did not progress: a runtime bug; do not spin.
			timer = time.NewTimer(time.Second)
		}
		if timer != nil {
			wake = timer.C
		}
		var attached <-chan netAttached
		if g.attaching != nil {
			attached = g.attaching.done
		}
		select {
		case <-g.ctx.Done():
		case res := <-attached:
			g.attachFailed = g.networkAttached(res)
		case ev := <-g.exits:
			g.exited(ev)
		case <-wake:
		case <-logTick.C:
			logTick.Reset(g.rotateLogs())
		case <-resync.C:
			g.resync()
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// rotateLogs caps the log files of tasks started by earlier releases, which
// the shim writes directly (see logs.go), and returns when to check again:
// logCheckInterval, or a twentieth of it (250ms) while such a task writes
// fast enough to exceed the cap between checks. Logs written by
// containerlog never exceed the cap, so for them this is a stat per
// container.
func (g *group) rotateLogs() time.Duration {
	next := logCheckInterval
	for _, c := range g.spec.AllContainers() {
		rotated, err := rotateLog(g.logPath(c.Name), g.r.cfg.LogMaxBytes)
		if err != nil {
			g.r.log.Warn("rotate log", "group", g.spec.ID, "container", c.Name, "err", err)
		}
		if rotated {
			next = logCheckInterval / 20
		}
	}
	return next
}

// finish records a Remove's stop; on Runtime.Close nothing is recorded and
// the containers keep running.
func (g *group) finish() {
	select {
	case <-g.removing:
		_ = g.observe(func(l *lifecycle.Group, now time.Time) error { l.Stop(now); return nil })
	default:
	}
}

// Setup retries: the first failures are retried quietly (a Warning event
// each), then the group shows CreateError while retries go on with a
// growing delay; a later success clears it. Variables for tests.
var (
	setupRetryBase     = time.Second
	setupRetryMax      = time.Minute
	setupFailuresShown = 3 // failures before the group shows CreateError
)

// setupWithRetries runs setup until it succeeds (true) or the worker ends
// (false). Setup is idempotent, and what it fails on is often transient (a
// busy xtables lock, a leftover from a crash being cleaned). failed, if
// set, is a failure of the last setup found since (its CNI ADD, which
// runs in the background): it counts as the first failure.
//
// The first attempt attaches the network in the background, beside the
// containers' creation (a task starts only once it is attached); retries
// attach it before they return, so that a success clears CreateError
// only when the group really is set up.
func (g *group) setupWithRetries(failed error) bool {
	delay := setupRetryBase
	loaded := g.st != nil
	failures := 0
	retry := func(err error) bool {
		if g.ctx.Err() != nil {
			return false
		}
		failures++
		g.r.log.Error("group setup failed; retrying", "group", g.spec.ID, "failures", failures, "retry_in", delay, "err", err)
		_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
			if failures >= setupFailuresShown {
				l.SetupFailed(now, err)
			} else {
				l.Record(now, lifecycle.NoteSetupFailed(err))
			}
			return nil
		})
		select {
		case <-g.ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, setupRetryMax)
		return true
	}
	if failed != nil && !retry(failed) {
		return false
	}
	for {
		// Loading writes the state file first: it fails on a full disk too.
		var err error
		if !loaded {
			err = g.load()
		}
		if err == nil {
			loaded = true
			err = g.setup(failures == 0 && g.status().Phase != core.PhaseCreateError)
		} else {
			err = fmt.Errorf("group state: %w", err)
			g.mu.Lock()
			if g.st == nil {
				g.st = &groupState{Life: lifecycle.New(g.spec, g.r.cfg.Lifecycle)}
			}
			g.mu.Unlock()
		}
		if err == nil {
			if failures > 0 || g.status().Phase == core.PhaseCreateError {
				g.logf("group set up after failures", "failures", failures)
				_ = g.observe(func(l *lifecycle.Group, _ time.Time) error { l.SetupSucceeded(); return nil })
			}
			return true
		}
		if !retry(err) {
			return false
		}
	}
}

// setup prepares what the containers share: files and volumes, the parent
// cgroup and the network. It is idempotent: a re-adopted group keeps its
// namespace when CNI ADD had completed. With inBackground, the CNI ADD
// runs on after setup returns (see attachNetwork).
func (g *group) setup(inBackground bool) error {
	if err := writeGroupFiles(g.dir, g.spec, g.r.cfg.HostResolvConf); err != nil {
		return err
	}
	for _, v := range g.spec.Volumes {
		if v.Type == core.VolumeEBS {
			if err := g.r.mountEBS(g.ctx, g.spec, v, filepath.Join(g.dir, volumesDir, v.Name)); err != nil {
				return err
			}
		}
		if v.Type == core.VolumeNFS {
			if err := g.r.mountNFS(g.ctx, v, filepath.Join(g.dir, volumesDir, v.Name)); err != nil {
				return err
			}
		}
	}
	if err := setupGroupCgroup(g.cgroup, g.spec.CPU, gib(g.spec.Memory)); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	g.mark(core.StepVolumesReady, "")
	g.mu.Lock()
	st := g.st
	up := st.NetworkUp && st.NetNS == g.netns && isNetNS(g.netns)
	old, oldNS := st.CNIConf, st.NetNS
	g.mu.Unlock()
	if oldNS == "" {
		oldNS = g.netns
	}
	vpc := g.spec.Network.VpcID
	if vpc == "" {
		vpc = g.spec.Network.SubnetID
	}
	if up {
		if err := g.r.cni.adopted(g.ctx, old, vpc, g.spec.Network.VpcCIDR); err != nil {
			return err
		}
		// Re-applied from the store: a change that kcid died in the middle
		// of is completed here.
		if err := g.applyFirewall(g.ctx); err != nil {
			return err
		}
		g.mark(core.StepNetworkReady, "")
		return nil
	}
	// A half-done attach from a crash: undo it first.
	if len(old) > 0 {
		if err := g.r.cni.del(g.ctx, old, g.spec.ID, oldNS); err != nil {
			return err
		}
	}
	for _, p := range []string{oldNS, g.netns} {
		if err := removeNetNS(p); err != nil {
			return err
		}
	}
	conf, err := netConfList(g.r.in, g.spec)
	if err != nil {
		return err
	}
	g.mu.Lock()
	st.NetNS, st.CNIConf, st.NetworkUp = g.netns, conf, false
	g.mu.Unlock()
	g.persist() // write-ahead: teardown can DEL what ADD may leave
	if err := createNetNS(g.netns); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	g.attachNetwork(conf, vpc)
	if inBackground {
		return nil
	}
	return g.awaitNetwork()
}

// attachNetwork starts the CNI ADD of the group's namespace and then the
// application of its security-group rules in the background: together
// they take about as long as creating a container and its task, which
// need only the namespace, not its interface. A task starts only after
// awaitNetwork, so no container runs without its network or its rules.
// (With the rules applied after awaitNetwork, a start waited 20-40 ms for
// their two nsenter processes after its task was created:
// docs/benchmarks.md.)
func (g *group) attachNetwork(conf []byte, vpc string) {
	a := &netAttach{done: make(chan netAttached, 1)}
	g.attaching = a
	g.background.Add(1)
	go func() {
		defer g.background.Done()
		err := g.r.cni.add(g.ctx, conf, g.spec.ID, g.netns, vpc, g.spec.Network.VpcCIDR)
		if err == nil {
			// A change of the rules from now on re-applies them too (the
			// netns exists); applies are serialised and read the rules
			// when they run.
			err = g.applyFirewall(g.ctx)
		}
		a.done <- netAttached{err: err, at: g.now()}
	}()
}

// awaitNetwork waits for the background CNI ADD, if one runs, and
// records its result.
func (g *group) awaitNetwork() error {
	if g.attaching == nil {
		return nil
	}
	select {
	case res := <-g.attaching.done:
		return g.networkAttached(res)
	case <-g.ctx.Done():
		return g.ctx.Err()
	}
}

// networkAttached records the end of the background CNI ADD and rules
// (attachNetwork). The network is persisted up before any task starts, so
// that a kcid restarted later re-adopts it rather than attaching it again
// under running containers. A failure is returned: the caller hands it to
// setupWithRetries.
func (g *group) networkAttached(res netAttached) error {
	g.attaching = nil
	if res.err != nil {
		return res.err
	}
	g.mu.Lock()
	g.st.NetworkUp = true
	added := g.st.Timeline.Mark(core.StepNetworkReady, "", res.at)
	g.mu.Unlock()
	if added {
		g.observeStep(core.StepNetworkReady, "", res.at)
	}
	g.persist()
	return nil
}

// adopt reconciles containers recorded Running with containerd after a
// restart of kcid: a live task is watched again, a task that exited
// meanwhile is reported by the watch at once, a vanished one is Lost.
func (g *group) adopt() {
	for _, c := range g.spec.AllContainers() {
		g.mu.Lock()
		lc := g.st.Life.Container(c.Name)
		var stage lifecycle.Stage
		if lc != nil {
			stage = lc.Stage
		}
		g.mu.Unlock()
		// Created: kcid may have died between starting the task and
		// saving that it did; a task that ran is adopted, not replaced.
		if stage != lifecycle.StageRunning && stage != lifecycle.StageCreated {
			continue
		}
		cont, err := g.r.client.LoadContainer(g.ctx, ctrID(g.spec.ID, c.Name))
		var task containerd.Task
		if err == nil {
			task, err = cont.Task(g.ctx, nil)
		}
		if stage == lifecycle.StageCreated {
			if err != nil || !taskStarted(g.ctx, task) {
				continue // never started: the normal path starts it
			}
			g.logf("adopting a container started just before kcid stopped", "container", c.Name)
			g.started(c.Name)
		} else if err != nil {
			if !isNotFound(err) {
				g.r.log.Error("adopt", "group", g.spec.ID, "container", c.Name, "err", err)
			}
			g.logf("container lost while kcid was away", "container", c.Name)
			_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
				l.Record(now, lifecycle.NoteLost(c.Name, "its task or container was gone when kcid started again"))
				_, err := l.Lost(now, c.Name)
				return err
			})
			continue
		}
		g.logf("re-adopted container", "container", c.Name)
		g.watch(c.Name, cont, task, nil)
	}
}

// taskStarted reports whether a task's process was started (it runs or
// has exited), as opposed to only created.
func taskStarted(ctx context.Context, task containerd.Task) bool {
	st, err := task.Status(ctx)
	return err == nil && (st.Status == containerd.Running || st.Status == containerd.Stopped || st.Status == containerd.Paused)
}

// act carries out one due decision: pull if needed, then create and start
// a new attempt.
func (g *group) act(d lifecycle.Decision) {
	c := g.container(d.Container)
	if c == nil {
		return
	}
	g.mu.Lock()
	stage := g.st.Life.Container(c.Name).Stage
	g.mu.Unlock()

	var img containerd.Image
	if stage == lifecycle.StagePulled || stage == lifecycle.StageCreated {
		if name, err := normalize(c.Image); err == nil {
			img, _ = g.r.images.present(g.ctx, name)
		}
	}
	if img == nil && g.spec.ImageCacheID != "" {
		img = g.imageFromCache(c)
		if g.ctx.Err() != nil {
			return
		}
	}
	if img == nil {
		var pulled bool
		var err error
		pullStarted := false
		startPull := func() {
			pullStarted = true
			_ = g.observe(func(l *lifecycle.Group, now time.Time) error { return l.PullStarted(now, c.Name) })
		}
		pullBegan := time.Now()
		img, pulled, err = g.r.images.ensure(g.ctx, c.Image, c.ImagePullPolicy, g.spec.AccountID, g.spec.Credentials, startPull)
		g.observePull(img, pulled, pullStarted, time.Since(pullBegan), err)
		if err != nil && !pullStarted {
			// Refused before any pull (policy Never, a bad name): the
			// lifecycle still goes through Pulling, so the failure gets
			// its back-off instead of an immediate retry.
			startPull()
		}
		if g.ctx.Err() != nil {
			return
		}
		if err != nil {
			g.logf("pull failed", "image", c.Image, "err", err)
			_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
				_, err2 := l.PullFailed(now, c.Name, err)
				return err2
			})
			return
		}
		g.mark(core.StepImageReady, c.Name)
		_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
			if pulled {
				return l.Pulled(now, c.Name)
			}
			return l.ImagePresent(now, c.Name)
		})
	}
	if err := g.startContainer(c, img); err != nil {
		if g.ctx.Err() != nil {
			return
		}
		var ae *attachError
		if errors.As(err, &ae) {
			// Not the container's failure: setup is retried (run).
			g.attachFailed = ae.err
			return
		}
		g.logf("start failed", "container", c.Name, "err", err)
		_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
			_, err2 := l.CreateFailed(now, c.Name, err)
			return err2
		})
		return
	}
	g.observeStarted(c.Name)
}

// imageFromCache returns the container's image from the group's image
// cache, recording that it was served from there, or nil (recording that
// the cache does not hold it, so the caller pulls it as usual).
func (g *group) imageFromCache(c *core.Container) containerd.Image {
	cache := g.spec.ImageCacheID
	img, err := g.r.fromCache(g.ctx, g.spec, c.Image)
	if err != nil {
		if !errors.Is(err, errNotCached) {
			g.logf("image cache not usable; pulling", "image", c.Image, "image_cache", cache, "err", err)
		}
		_ = g.observe(func(l *lifecycle.Group, now time.Time) error { return l.NotInCache(now, c.Name, cache) })
		return nil
	}
	g.mark(core.StepImageReady, c.Name)
	_ = g.observe(func(l *lifecycle.Group, now time.Time) error { return l.ImageFromCache(now, c.Name, cache) })
	return img
}

// startContainer replaces the container's previous attempt with a new
// containerd container (fresh snapshot, as Kubernetes gives each attempt a
// fresh writable layer) and starts its task.
func (g *group) startContainer(c *core.Container, img containerd.Image) error {
	id := ctrID(g.spec.ID, c.Name)
	if err := g.r.deleteContainer(g.ctx, id, time.Now()); err != nil {
		return err
	}
	opts, err := specOpts(g.ctx, img, g.spec, c, g.dir, g.netns, g.ctrCgroup(c.Name), g.r.cfg.NodeName, g.r.cfg.GPUExtraDevices)
	if err != nil {
		return err
	}
	lctx, release, err := g.r.client.WithLease(g.ctx, leases.WithID(leaseID(id)), leases.WithExpiration(time.Hour))
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	defer func() { _ = release(context.WithoutCancel(g.ctx)) }()
	cont, err := g.r.client.NewContainer(lctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(g.r.cfg.Snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithRuntime(runcRuntime, runtimeOptions()),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(map[string]string{
			labelGroup:     g.spec.ID,
			labelAccount:   g.spec.AccountID,
			labelContainer: c.Name,
		}),
		// After the labels, which it adds to: the image's StopSignal is
		// what Remove sends first.
		containerd.WithImageStopSignal(img, "SIGTERM"))
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	g.mark(core.StepContainerCreated, c.Name)
	_ = g.observe(func(l *lifecycle.Group, now time.Time) error { return l.Created(now, c.Name) })
	newTask := func() (containerd.Task, error) {
		return cont.NewTask(g.ctx, cio.BinaryIO(g.r.cfg.LogBinary, containerlog.Args(g.logPath(c.Name), g.r.cfg.LogMaxBytes)))
	}
	task, err := newTask()
	if err != nil && g.r.removeLeftoverBundle(g.ctx, id, err) {
		task, err = newTask()
	}
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	exitC, err := task.Wait(g.ctx)
	if err != nil {
		_, _ = task.Delete(context.WithoutCancel(g.ctx), containerd.WithProcessKill)
		return fmt.Errorf("wait task: %w", err)
	}
	if err := g.awaitNetwork(); err != nil {
		_, _ = task.Delete(context.WithoutCancel(g.ctx), containerd.WithProcessKill)
		return &attachError{err}
	}
	if err := task.Start(g.ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(g.ctx), containerd.WithProcessKill)
		return fmt.Errorf("start task: %w", err)
	}
	g.mark(core.StepContainerStarted, c.Name)
	g.started(c.Name)
	g.watch(c.Name, cont, task, exitC)
	return nil
}

// attachError is a failure of the group's CNI ADD found by a container's
// start, which waits for it.
type attachError struct{ err error }

func (e *attachError) Error() string { return "network: " + e.err.Error() }
func (e *attachError) Unwrap() error { return e.err }

// watch reports the task's exit to the worker. It rides out a containerd
// restart (the shim keeps the task) by waiting again; a task that is gone
// is reported lost.
func (g *group) watch(name string, cont containerd.Container, task containerd.Task, exitC <-chan containerd.ExitStatus) {
	g.attempt[name]++
	attempt := g.attempt[name]
	g.startProber(name)
	go func() {
		ev := exitEvent{name: name, attempt: attempt}
		for {
			if exitC == nil {
				var err error
				if task == nil {
					task, err = cont.Task(g.ctx, nil)
				}
				if err == nil {
					exitC, err = task.Wait(g.ctx)
				}
				if err != nil {
					if g.ctx.Err() != nil {
						return
					}
					if isNotFound(err) {
						ev.lost, ev.gone = true, goneTask
						break
					}
					task = nil
					time.Sleep(500 * time.Millisecond)
					continue
				}
			}
			var st containerd.ExitStatus
			select {
			case st = <-exitC:
			case <-g.ctx.Done():
				return
			}
			if err := st.Error(); err != nil {
				if g.ctx.Err() != nil {
					return
				}
				g.r.log.Warn("waiting for task failed, retrying", "group", g.spec.ID, "container", name, "err", err)
				exitC, task = nil, nil
				time.Sleep(500 * time.Millisecond)
				continue
			}
			ev.code = int(st.ExitCode())
			break
		}
		select {
		case g.exits <- ev:
		case <-g.ctx.Done():
		}
	}()
}

// resync compares the containers recorded running with containerd, so that
// what the watches cannot report is still found within ResyncInterval: a
// task or container missing is the attempt lost, a task stopped is its
// exit. Either ends the attempt (a late report of its watch is then
// ignored), with an event, and the restart policy decides what follows.
func (g *group) resync() {
	g.retryFirewall()
	for _, c := range g.spec.AllContainers() {
		g.mu.Lock()
		lc := g.st.Life.Container(c.Name)
		running := lc != nil && lc.Stage == lifecycle.StageRunning
		g.mu.Unlock()
		if !running || g.ctx.Err() != nil {
			continue
		}
		ev := exitEvent{name: c.Name}
		cont, err := g.r.client.LoadContainer(g.ctx, ctrID(g.spec.ID, c.Name))
		if isNotFound(err) {
			ev.lost, ev.gone = true, goneContainer
		} else if err == nil {
			var task containerd.Task
			task, err = cont.Task(g.ctx, nil)
			if isNotFound(err) {
				ev.lost, ev.gone = true, goneTask
			} else if err == nil {
				st, serr := task.Status(g.ctx)
				if serr != nil || st.Status != containerd.Stopped {
					continue // running, or not known now: the watch reports it
				}
				ev.code = int(st.ExitStatus)
			}
		}
		if err != nil && !ev.lost {
			g.r.log.Warn("resync: containerd did not answer; the task's watch reports its exit", "group", g.spec.ID, "container", c.Name, "err", err)
			continue
		}
		g.logf("resync found a container no longer running", "container", c.Name, "code", ev.code, "gone", ev.gone)
		g.attempt[c.Name]++ // the watch of this attempt is stale from now on
		ev.attempt = g.attempt[c.Name]
		g.exited(ev)
	}
}

// exited records an exit: OOM is read from the container's cgroup before
// the task (and with it the cgroup) is deleted. A task or container found
// missing when the exit is cleaned up was removed outside kcid: the event
// says so.
func (g *group) exited(ev exitEvent) {
	if ev.attempt != g.attempt[ev.name] {
		return
	}
	g.stopProber(ev.name)
	oom := false
	var task containerd.Task
	if !ev.lost {
		oom = oomKilled(g.ctrCgroup(ev.name))
		cont, err := g.r.client.LoadContainer(g.ctx, ctrID(g.spec.ID, ev.name))
		if isNotFound(err) && ev.gone == "" {
			ev.gone = goneContainer
		}
		if err == nil {
			task, err = cont.Task(g.ctx, nil)
			if isNotFound(err) && ev.gone == "" {
				ev.gone = goneTask
			}
			if err != nil {
				task = nil
			}
		}
	}
	// The exit is persisted before the task that holds its status is
	// deleted: a kcid killed in between would otherwise find the task gone
	// and call the container lost (a job that exited 0 ended Failed).
	defer func() {
		if task == nil {
			return
		}
		if _, err := task.Delete(g.ctx); err != nil && !isNotFound(err) {
			g.r.log.Warn("delete task", "group", g.spec.ID, "container", ev.name, "err", err)
		}
		_ = step(g.spec.ID, "task-deleted")
	}()
	g.logf("container exited", "container", ev.name, "code", ev.code, "oom", oom, "lost", ev.lost, "gone", ev.gone)
	_ = g.observe(func(l *lifecycle.Group, now time.Time) error {
		if ev.gone != "" {
			if c := l.Container(ev.name); c != nil && c.Stage == lifecycle.StageRunning {
				l.Record(now, lifecycle.NoteLost(ev.name, ev.gone))
			}
		}
		var err error
		if ev.lost {
			_, err = l.Lost(now, ev.name)
		} else {
			_, err = l.Exited(now, ev.name, ev.code, oom)
		}
		if errors.Is(err, lifecycle.ErrInvalidTransition) {
			return nil
		}
		return err
	})
}
