package main

import (
	"context"
	"fmt"
	"github.com/openkci/openkci/internal/testenv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

// violationKind names an invariant.
type violationKind string

const (
	vLost        violationKind = "acknowledged-group-lost"
	vResurrected violationKind = "deleted-group-back"
	vUnknown     violationKind = "group-nobody-created"
	vStuck       violationKind = "group-in-final-error"
	vDuplicateIP violationKind = "duplicate-or-wrong-ip"
	vDiskTwice   violationKind = "disk-attached-twice"
	vOrphan      violationKind = "orphaned-host-resource"
	vNoStart     violationKind = "kcid-did-not-start"
	vExited      violationKind = "kcid-exited-by-itself"
	vNoCtrd      violationKind = "containerd-not-restarted"
	vUnsettled   violationKind = "group-never-settled"
	vLeftover    violationKind = "left-after-final-delete"
)

type violation struct {
	kind   violationKind
	detail string
	round  int
	// key identifies the violation across rounds (a group stuck in an
	// error is one violation however its last event changes); "" means
	// the detail.
	key string
}

func (v violation) id() string {
	if v.key != "" {
		return string(v.kind) + "\x00" + v.key
	}
	return string(v.kind) + "\x00" + v.detail
}

// Timeouts. They bound waits for what must happen; none is a performance
// threshold.
const (
	startTimeout    = 2 * time.Minute // kcid up and serving
	ctrdTimeout     = 2 * time.Minute // kcid's supervisor restarts containerd
	hostGrace       = 30 * time.Second
	settleTimeout   = 3 * time.Minute
	finalDelete     = 3 * time.Minute
	requestTimeout  = 30 * time.Second
	maxFaultDelay   = 1500 * time.Millisecond
	maxDiskFullHold = 3 * time.Second
)

// maxReported bounds the violations the report lists (one leaked group
// alone is a dozen: containers, tasks, shims, netns, cgroups, ...).
const maxReported = 40

// suite is one chaos run.
type suite struct {
	log    *slog.Logger
	opts   *options
	mix    *faultMix
	rng    *rand.Rand
	rig    *rig
	client *kci.Client
	model  *model
	work   *workload
	counts opCounts
	offset atomic.Int64 // the clock offset, ns

	started     time.Time
	rounds      int
	faults      map[faultKind]int
	skipped     map[faultKind]int // faults that found nothing to hit
	starts      int
	startTotal  time.Duration
	startMax    time.Duration
	violations  []violation
	seen        map[string]bool // violations already reported
	keepLogs    bool
	clockJumped int
}

func newSuite(log *slog.Logger, o *options, mix *faultMix) (*suite, error) {
	id := randomID()
	s := &suite{
		log: log.With("run", id), opts: o, mix: mix,
		rng:    rand.New(rand.NewPCG(o.seed, o.seed^0x6b6369)),
		model:  newModel(),
		faults: map[faultKind]int{}, skipped: map[faultKind]int{}, seen: map[string]bool{},
		started: time.Now(),
	}
	s.log.Info("chaos run", "seed", o.seed, "faults", o.n, "mix", mix.String(), "kcid", o.kcidBin)
	r, err := newRig(s.log, id, absPath(o.kcidBin), o.dataMiB)
	if r != nil {
		s.rig = r
	}
	if err != nil {
		return s, err
	}
	s.work = &workload{image: imageRef, subnet: subnetID, sg: sgID, disks: diskIDs, gpus: s.rig.gpus(), run: id}
	d, err := r.start(startTimeout)
	if err != nil {
		return s, fmt.Errorf("first kcid start: %w", err)
	}
	s.log.Info("kcid started", "dir", r.dir, "namespace", r.ns, "in", d.Round(time.Millisecond))
	if err := r.waitContainerd(context.Background(), ctrdTimeout); err != nil {
		return s, err
	}
	if err := r.importImage(); err != nil {
		return s, fmt.Errorf("import the busybox image: %w", err)
	}
	return s, s.connect()
}

// connect points the client at the current kcid.
func (s *suite) connect() error {
	c, err := kci.New(kci.Config{
		Endpoint: s.rig.URL(), AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey,
		HTTPClient: &http.Client{Timeout: requestTimeout},
		// One attempt: the suite judges every answer itself (a retry would
		// hide a lost one).
		MaxAttempts: 1,
		Clock:       func() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) },
	})
	if err != nil {
		return err
	}
	s.client = c
	return nil
}

// violate records a violation once (the same one seen in later rounds is
// not repeated).
func (s *suite) violate(vs ...violation) {
	for _, v := range vs {
		key := v.id()
		if s.seen[key] {
			continue
		}
		s.seen[key] = true
		v.round = s.rounds
		s.violations = append(s.violations, v)
		s.keepLogs = true
		s.log.Error("VIOLATION", "invariant", v.kind, "round", v.round, "detail", v.detail, "seed", s.opts.seed)
	}
}

// allSeen reports whether every violation was reported before.
func (s *suite) allSeen(vs []violation) bool {
	for _, v := range vs {
		if !s.seen[v.id()] {
			return false
		}
	}
	return true
}

// run injects the faults, one per round.
func (s *suite) run(ctx context.Context) error {
	for s.rounds < s.opts.n {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d rounds", s.rounds)
		}
		s.rounds++
		if err := s.round(ctx); err != nil {
			return err
		}
		if s.rounds%10 == 0 || s.rounds == s.opts.n {
			s.log.Info("progress", "round", s.rounds, "of", s.opts.n, "faults", fmt.Sprint(s.faults),
				"live", len(s.model.pick(live)), "violations", len(s.violations), "elapsed", time.Since(s.started).Round(time.Second))
		}
	}
	return nil
}

// op is one planned request of a round.
type op struct {
	stagger time.Duration
	g       *group
	create  *kci.CreateContainerGroupRequest // nil: delete g
}

// round plans a batch of creates and deletes, runs it, injects one fault
// at a random moment, restarts what died and checks the invariants. Every
// random choice is drawn here, in order, from the seeded source.
func (s *suite) round(ctx context.Context) error {
	ops := s.plan()
	fault := s.mix.pick(s.rng)
	delay := time.Duration(s.rng.Int64N(int64(maxFaultDelay)))
	hold := time.Duration(s.rng.Int64N(int64(maxDiskFullHold)))
	jump := time.Hour
	if s.rng.IntN(2) == 0 {
		jump = -jump
	}
	s.log.Debug("round", "n", s.rounds, "ops", len(ops), "fault", fault, "after", delay)

	opCtx, cancel := context.WithTimeout(ctx, requestTimeout+maxFaultDelay+maxDiskFullHold)
	defer cancel()
	var wg sync.WaitGroup
	for _, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(o.stagger)
			if o.create != nil {
				s.create(opCtx, o.g, o.create)
			} else {
				s.delete(opCtx, o.g)
			}
		}()
	}
	time.Sleep(delay)
	if err := s.inject(ctx, fault, hold, jump); err != nil {
		wg.Wait()
		return err
	}
	wg.Wait()
	if err := s.recover(ctx); err != nil {
		return err
	}
	s.check(ctx)
	return nil
}

// plan draws one to four operations: deletes of live groups (or of groups
// whose delete answer was lost), creates while fewer than max-groups live.
func (s *suite) plan() []op {
	var candidates []*group
	for _, g := range s.model.pick(live, deleteLost) {
		if g.id != "" {
			candidates = append(candidates, g)
		}
	}
	inUse := s.model.disksInUse()
	alive := len(s.model.pick(live, createLost, deleteLost))
	n := 1 + s.rng.IntN(4)
	var ops []op
	for range n {
		stagger := time.Duration(s.rng.Int64N(int64(300 * time.Millisecond)))
		if len(candidates) > 0 && (s.rng.IntN(2) == 0 || alive >= s.opts.maxGroups) {
			i := s.rng.IntN(len(candidates))
			ops = append(ops, op{stagger: stagger, g: candidates[i]})
			candidates = append(candidates[:i], candidates[i+1:]...)
			continue
		}
		if alive >= s.opts.maxGroups {
			continue
		}
		g, req := s.work.newGroup(s.rng, inUse)
		if g.disk != "" {
			inUse[g.disk] = true
		}
		alive++
		ops = append(ops, op{stagger: stagger, g: g, create: req})
	}
	return ops
}

// inject applies one fault.
func (s *suite) inject(ctx context.Context, f faultKind, hold, jump time.Duration) error {
	s.faults[f]++
	switch f {
	case kcidKill:
		s.rig.killKcid()
	case containerdKill:
		if !s.rig.killContainerd() {
			s.skipped[f]++
			return nil
		}
		// kcid's supervisor restarts it (back-off from 1 s).
		if err := s.rig.waitContainerd(ctx, ctrdTimeout); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted after %d rounds", s.rounds)
			}
			s.violate(violation{kind: vNoCtrd, detail: err.Error()})
			return err
		}
	case diskFull:
		s.model.markDiskFull()
		path, err := fill(s.rig.dataDir)
		s.rig.note("=== chaos: data dir full for %v ===", hold)
		if err != nil {
			os.Remove(path)
			return fmt.Errorf("fill the data dir: %w", err)
		}
		time.Sleep(hold)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("free the data dir: %w", err)
		}
	case clockJump:
		cur := time.Duration(s.offset.Load())
		next := cur + jump
		if next > time.Hour || next < -time.Hour {
			next = cur - jump
		}
		s.rig.note("=== chaos: clock offset %v -> %v ===", cur, next)
		if err := s.rig.setClockOffset(next); err != nil {
			return err
		}
		s.offset.Store(int64(next))
		s.clockJumped++
	}
	return nil
}

// recover starts kcid again if it is down, and records it if it went down
// by itself.
func (s *suite) recover(ctx context.Context) error {
	dead, why := s.rig.dead()
	if why != nil {
		s.violate(violation{kind: vExited, detail: fmt.Sprintf("%v; kcid log %s, last lines:\n%s", why, s.rig.logPath, testenv.TailFile(s.rig.logPath, 30))})
	}
	if !dead {
		return nil
	}
	d, err := s.rig.start(startTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d rounds", s.rounds)
		}
		s.violate(violation{kind: vNoStart, detail: err.Error()})
		return fmt.Errorf("kcid did not start again: %w", err)
	}
	s.starts++
	s.startTotal += d
	s.startMax = max(s.startMax, d)
	if err := s.connect(); err != nil {
		return err
	}
	if err := s.rig.waitContainerd(ctx, ctrdTimeout); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d rounds", s.rounds)
		}
		s.violate(violation{kind: vNoCtrd, detail: err.Error()})
		return err
	}
	return nil
}

// check compares kcid's listing with the model and the host, again and
// again until they agree or hostGrace passes (teardown of deleted groups
// runs in the background), and records what still disagrees.
func (s *suite) check(ctx context.Context) {
	deadline := time.Now().Add(hostGrace)
	for {
		vs, err := s.observe(ctx)
		if err == nil && s.allSeen(vs) {
			return // nothing new: what persists was reported in an earlier round
		}
		if ctx.Err() != nil {
			return // interrupted: what was seen is not a finding
		}
		if time.Now().After(deadline) {
			if err != nil {
				vs = append(vs, violation{kind: vExited, detail: fmt.Sprintf("kcid does not answer DescribeContainerGroup: %v", err)})
			}
			s.violate(vs...)
			return
		}
		time.Sleep(time.Second)
	}
}

// observe lists kcid's groups, reconciles the model and scans the host.
func (s *suite) observe(ctx context.Context) ([]violation, error) {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	listed, err := s.client.ListContainerGroups(reqCtx, nil)
	if err != nil {
		return nil, err
	}
	vs := s.model.reconcile(observation{groups: listed, gen: s.rig.generation()})
	h, err := s.rig.scanHost(ctx)
	if err != nil {
		return vs, err
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		statuses := map[string]int{}
		for _, g := range listed {
			statuses[g.Status]++
		}
		chains := 0
		for _, id := range s.model.knownIDs() {
			if h.chains[cniChain(s.rig.cniNetwork(), id)] {
				chains++
			}
		}
		s.log.Debug("observed", "groups", fmt.Sprint(statuses), "containers", len(h.containers), "tasks", len(h.tasks),
			"shims", len(h.shims), "netns", len(h.netns), "cgroups", len(h.cgroups), "nat_groups", len(h.natRules),
			"chains", chains, "mounts", len(h.mounts), "loops", len(h.loops), "ips", len(h.ips))
	}
	vs = append(vs, s.rig.hostIssues(h, listed, s.model.knownIDs())...)
	bvs, err := s.rig.bridgeRuleIssues(ctx)
	if err != nil {
		// Not kcid's answer: the rules are looked at again next time.
		s.log.Warn("could not read the host's rules", "err", err)
	}
	return append(vs, bvs...), nil
}

// final lets the groups settle without faults, checks that each reached
// the status its kind ends in, deletes them all and checks that nothing of
// the run is left on the host.
func (s *suite) final(ctx context.Context) {
	if s.rig == nil || s.rig.generation() == 0 || ctx.Err() != nil {
		return // interrupted: teardown only
	}
	if dead, _ := s.rig.dead(); dead {
		if err := s.recover(ctx); err != nil {
			return
		}
	}
	if err := s.rig.setClockOffset(0); err == nil {
		s.offset.Store(0)
	}
	s.log.Info("settling: no more faults; waiting for every group to reach its final status")
	deadline := time.Now().Add(settleTimeout)
	for {
		_, _ = s.observe(ctx)
		left := s.model.unsettled()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			for _, g := range left {
				s.violate(violation{kind: vUnsettled, detail: fmt.Sprintf("group %s (%s) is %s, %v after the last fault; a %s ends %s%s",
					g.id, g.name, g.status, settleTimeout, g.kind, g.kind.settled(), diskFullNote(g))})
			}
			break
		}
		time.Sleep(2 * time.Second)
	}
	s.check(ctx)
	s.log.Info("deleting every group")
	deadline = time.Now().Add(finalDelete)
	for {
		listed, err := s.client.ListContainerGroups(ctx, nil)
		if err == nil && len(listed) == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.violate(violation{kind: vLeftover, detail: fmt.Sprintf("groups still listed %v after deleting them all (err %v)", finalDelete, err)})
			return
		}
		for _, g := range listed {
			_, _ = s.client.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: g.ContainerGroupID})
		}
		time.Sleep(2 * time.Second)
	}
	s.model.mu.Lock()
	for _, g := range s.model.groups {
		if g.fate == live || g.fate == deleteLost {
			g.fate = deleted
		}
	}
	s.model.mu.Unlock()
	deadline = time.Now().Add(hostGrace)
	for {
		vs, err := s.observe(ctx)
		vs = append(vs, s.leftovers(ctx)...)
		if err == nil && len(vs) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			for i := range vs {
				vs[i].kind = vLeftover
			}
			if err != nil {
				vs = append(vs, violation{kind: vLeftover, detail: err.Error()})
			}
			s.violate(vs...)
			return
		}
		time.Sleep(time.Second)
	}
}

// leftovers: with no group left, nothing that carries the run's kcid's
// identity may be on the host but what it keeps for its whole life
// (identity.go).
func (s *suite) leftovers(ctx context.Context) []violation {
	objs, err := s.rig.identityObjects(ctx)
	if err != nil {
		return []violation{{kind: vLeftover, detail: "scanning the host for the run's objects: " + err.Error()}}
	}
	s.log.Info("end-of-run host check", "objects_of_the_identity", len(objs), "kept_for_life", len(objs)-len(testenv.Leaks(objs, s.rig.identity())))
	var vs []violation
	for _, o := range testenv.Leaks(objs, s.rig.identity()) {
		vs = append(vs, violation{kind: vLeftover, detail: o.String() + ", with no group left"})
	}
	return vs
}

// report prints the run's figures and violations.
func (s *suite) report(w io.Writer, runErr error) {
	fmt.Fprintf(w, "\nchaos run %s: seed %d, %d rounds in %v\n", s.rig.id, s.opts.seed, s.rounds, time.Since(s.started).Round(time.Second))
	kinds := make([]string, 0, len(s.faults))
	for k, n := range s.faults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		if sk := s.skipped[k]; sk > 0 {
			kinds[len(kinds)-1] += fmt.Sprintf(" (%d found nothing to hit)", sk)
		}
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "  faults:   %s\n", strings.Join(kinds, ", "))
	avg := time.Duration(0)
	if s.starts > 0 {
		avg = s.startTotal / time.Duration(s.starts)
	}
	fmt.Fprintf(w, "  kcid restarts: %d (to healthy: mean %v, max %v)\n", s.starts, avg.Round(time.Millisecond), s.startMax.Round(time.Millisecond))
	c := &s.counts
	fmt.Fprintf(w, "  creates:  %d acknowledged (%d disks made on demand, %d groups with a GPU), %d refused, %d answers lost (then %d existed, %d did not)\n",
		c.createAcked.Load(), c.madeDisks.Load(), c.gpuGroups.Load(), c.createRefused.Load(), c.createLost.Load(), s.model.lostCreated, s.model.lostNotCreated)
	fmt.Fprintf(w, "  deletes:  %d acknowledged, %d refused, %d answers lost\n", c.deleteAcked.Load(), c.deleteRefused.Load(), c.deleteLost.Load())
	if codes := c.refusedCodes.String(); codes != "" {
		fmt.Fprintf(w, "  refusals: %s\n", codes)
	}
	byKind := map[violationKind]int{}
	for _, v := range s.violations {
		byKind[v.kind]++
	}
	fmt.Fprintf(w, "  violations: %d %v\n", len(s.violations), byKind)
	for i, v := range s.violations {
		if i == maxReported {
			fmt.Fprintf(w, "    ... and %d more (each is in the log, level ERROR)\n", len(s.violations)-i)
			break
		}
		fmt.Fprintf(w, "    round %d: %s: %s\n", v.round, v.kind, v.detail)
	}
	if runErr != nil {
		fmt.Fprintf(w, "  stopped: %v\n", runErr)
	}
	if runErr != nil || len(s.violations) > 0 {
		fmt.Fprintf(w, "  replay:   make chaos N=%d SEED=%d FAULTS=%s (same choices; the machine's timing differs)\n", s.opts.n, s.opts.seed, s.mix)
		fmt.Fprintf(w, "  logs:     %s\n", s.logDir())
	}
}

// hostLockDir is where kcid keeps its host locks (the containerd
// runtime's LockDir, which kcid does not change).
const hostLockDir = "/run/kcid"

func (s *suite) logDir() string { return s.rig.dir + "-logs" }

// teardown removes everything the run made, whatever state it is in:
// kcid and its containerd stopped, shims killed, the run's network
// namespaces, cgroups, NAT rules and chains, isolation chain and bridge
// removed, mounts and loop devices undone, the directory removed (its logs
// kept beside it when something went wrong).
func (s *suite) teardown() {
	r := s.rig
	if r == nil {
		return
	}
	if s.keepLogs {
		r.dumpKcid()
	}
	r.stopKcid()
	if pid := r.containerdPid(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && r.containerdPid() != 0; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if pid := r.containerdPid(); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for pid := range r.shims() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// kcid's host lock files outlive it (docs/host.md); the run's go with
	// the run, now that no kcid of it holds them.
	if id := r.instanceID(); id != "" {
		_ = os.Remove(filepath.Join(hostLockDir, "instance-"+id+".lock"))
	}
	_ = os.Remove(filepath.Join(hostLockDir, "containerd-ns-"+r.ns+".lock"))
	ctx := context.Background()
	if netns, _, err := r.netnsOf(ctx); err == nil {
		for name := range netns {
			_ = exec.Command("ip", "netns", "delete", name).Run()
		}
	}
	// Container processes outlive their shims: kill what is left in the
	// run's cgroups (a stray "runc init" too), then remove the cgroups.
	cgs := sortedKeys(r.cgroupsOf())
	for _, d := range cgs {
		killCgroup(d)
	}
	for i := len(cgs) - 1; i >= 0; i-- {
		removeCgroup(cgs[i])
	}
	for _, root := range append(globAll("/sys/fs/cgroup/*/"+r.ns), "/sys/fs/cgroup/"+r.ns) {
		removeCgroup(root)
	}
	s.removeNAT(ctx)
	testenv.RemoveRuntimeChains(r.instanceID())
	_ = exec.Command("ip", "link", "delete", bridgeName(r.instanceID(), subnetID)).Run()
	if mounts, err := mountsUnder(r.dir, ""); err == nil {
		mps := sortedKeys(mounts)
		for i := len(mps) - 1; i >= 0; i-- { // deepest first
			if mps[i] != r.dataDir {
				_ = syscall.Unmount(mps[i], syscall.MNT_DETACH)
			}
		}
	}
	if loops, err := loopsUnder(r.dir, r.img); err == nil {
		for dev := range loops {
			_ = exec.Command("losetup", "-d", dev).Run()
		}
	}
	if s.keepLogs {
		if err := os.MkdirAll(s.logDir(), 0o755); err == nil {
			copyFile(r.logPath, filepath.Join(s.logDir(), "kcid.log"))
			copyFile(filepath.Join(r.dataDir, "containerd", "containerd.log"), filepath.Join(s.logDir(), "containerd.log"))
		}
	}
	if err := syscall.Unmount(r.dataDir, 0); err != nil {
		_ = syscall.Unmount(r.dataDir, syscall.MNT_DETACH)
	}
	if r.loopDev != "" {
		if out, err := exec.Command("losetup", "-d", r.loopDev).CombinedOutput(); err != nil {
			s.log.Warn("detach the data dir's loop device", "device", r.loopDev, "err", err, "out", strings.TrimSpace(string(out)))
		}
	}
	if err := os.RemoveAll(r.dir); err != nil {
		s.log.Warn("remove the run directory", "dir", r.dir, "err", err)
	}
}

// removeNAT deletes the NAT rules commented with the run's CNI network and
// the chains of the run's groups.
func (s *suite) removeNAT(ctx context.Context) {
	rules, chains, err := s.rig.natOf(ctx)
	if err != nil {
		return
	}
	for _, rs := range rules {
		for _, rule := range rs {
			if spec, ok := strings.CutPrefix(rule, "-A "); ok {
				args := append([]string{"-w", "10", "-t", "nat", "-D"}, testenv.SplitRule(spec)...)
				_ = exec.Command("iptables", args...).Run()
			}
		}
	}
	targets := map[string]bool{}
	for _, rs := range rules {
		for _, rule := range rs {
			if _, c, ok := strings.Cut(rule, " -j "); ok && strings.HasPrefix(c, "CNI-") {
				targets[c] = true
			}
		}
	}
	for _, id := range s.model.knownIDs() {
		targets[cniChain(s.rig.cniNetwork(), id)] = true
	}
	for c := range targets {
		if chains[c] {
			_ = exec.Command("iptables", "-w", "10", "-t", "nat", "-F", c).Run()
			_ = exec.Command("iptables", "-w", "10", "-t", "nat", "-X", c).Run()
		}
	}
}

// killCgroup SIGKILLs every process in the cgroup and its children.
func killCgroup(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscanf(f, "%d", &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // let them go before rmdir
}

func removeCgroup(dir string) {
	children, _ := filepath.Glob(dir + "/*")
	for _, c := range children {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			removeCgroup(c)
		}
	}
	_ = syscall.Rmdir(dir)
}

func globAll(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

func copyFile(from, to string) {
	b, err := os.ReadFile(from)
	if err == nil {
		_ = os.WriteFile(to, b, 0o644)
	}
}
