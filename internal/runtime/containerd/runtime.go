// Package containerd runs OpenKCI container groups on one machine with
// containerd, runc and CNI: it implements service.Runtime.
//
// What it owns:
//
//   - a containerd namespace (Config.Namespace, "openkci" by default) with
//     one containerd container per group container (ID <group>_<name>,
//     recreated with a fresh snapshot for every attempt), labelled
//     kci.openkci.io/{group-id,account-id,container-name}; images pulled
//     there are shared by all groups, each labelled
//     kci.openkci.io/account.<account> for every account that pulled it
//     with its own credentials (another account pulls it again, see
//     images.ensure);
//   - per group, a network namespace pinned at <NetNSDir>/kci-<hash of
//     namespace>-<group>
//     and attached by CNI, the CRI pattern (netns, CNI ADD, then tasks join
//     the namespace): a bridge per subnet with the group's static IP,
//     gateway, NAT egress and MAC, bandwidth for limits;
//   - the filter chain KCI-ISO-<hash of namespace>, jumped to from FORWARD,
//     that drops traffic between bridges of different VPCs;
//   - inside each group's netns, its security-group filter (chains
//     KCI-IN/KCI-OUT-<instance>, IPv6 closed) when the service has it
//     enforce rules (firewall.go, docs/networking.md);
//   - a parent cgroup /<namespace>/<group> holding the group's CPU and
//     memory limit, the containers' cgroups inside it;
//   - under DataDir/groups/<group>: state.json (what recovery needs), hosts,
//     resolv.conf, hostname, volumes/ (EmptyDir, ConfigFile, EBS mount
//     points) and logs/ (stdout and stderr, written by a logging process
//     the shim runs for each task, package containerlog: capped, and
//     flowing while kcid is down);
//   - DataDir/disks: the sparse files behind EBS volumes (kept across
//     groups) and the records of disks made on demand (ebs.go), with the
//     loop devices attached to those files, and DataDir/cni-cache:
//     libcni's result cache.
//
// One worker goroutine per group drives it: internal/lifecycle decides
// (restart policy, back-off, phase, events), the worker acts and persists
// the lifecycle state after each observation. CNI calls of different
// groups run in parallel (see cniNet). Every teardown step is idempotent
// and works from the group ID alone, so that Remove and Sync clean up
// after a crash at any point.
package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/identifiers"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/lifecycle"
)

// Labels stamped on every containerd container of ours.
const (
	labelPrefix    = "kci.openkci.io/"
	labelGroup     = labelPrefix + "group-id"
	labelAccount   = labelPrefix + "account-id"
	labelContainer = labelPrefix + "container-name"
)

// Config configures a Runtime. Zero fields take the defaults shown.
type Config struct {
	// Address is containerd's socket (/run/containerd/containerd.sock).
	Address string
	// Namespace is the containerd namespace of kcid's containers (openkci).
	// It also scopes the bridges, netns names and cgroups of this runtime.
	Namespace string
	// DataDir holds state, logs, volumes and the CNI cache (/var/lib/openkci).
	DataDir string
	// CNIBinDirs are searched for CNI plugins (/opt/cni/bin, /usr/lib/cni).
	CNIBinDirs []string
	// NetNSDir is where network namespaces are pinned (/run/netns).
	NetNSDir string
	// Snapshotter for images and containers (containerd's default).
	Snapshotter string
	// StopGrace is how long Remove waits after SIGTERM before SIGKILL (30s).
	StopGrace time.Duration
	// InsecureRegistries are registry hosts (host or host:port) reached over
	// plain HTTP; localhost and 127.0.0.1 always are.
	InsecureRegistries []string
	// LogMaxBytes caps a container's current log file (10 MiB); one rotated
	// file of at most the same size is kept (see package containerlog).
	LogMaxBytes int64
	// LogBinary is the executable containerd's shim runs as each task's
	// logger (this process's own, os.Executable): any binary that links
	// this package, whose containerlog init recognises the logger's
	// arguments.
	LogBinary string
	// ResyncInterval is how often each group's worker compares the
	// containers it recorded running with containerd (30s), besides
	// watching their tasks: a task or container removed outside kcid is
	// found within this time even if its watch missed it.
	ResyncInterval time.Duration
	// HostResolvConf is copied for groups without DnsConfig (/etc/resolv.conf).
	HostResolvConf string
	// Disks are the EBS volumes groups may mount, backed by sparse files
	// under DataDir/disks.
	Disks []core.Disk
	// Lifecycle tunes back-offs and events (kubelet's defaults).
	Lifecycle lifecycle.Config
	// LockDir holds the host locks of all runtimes on this machine
	// (/run/kcid): see ClaimHost.
	LockDir string
	// OwnerDataDir is the data dir of the kcid this runtime serves, named
	// in host lock messages (DataDir if empty).
	OwnerDataDir string
	// Claim, if set, is the claim ClaimHost made for this Config (kcid
	// claims the host before it starts a containerd); New takes it over.
	// Otherwise New claims the host itself.
	Claim *HostClaim
	// NodeName is what an environment variable from the field
	// spec.nodeName holds (the host name if empty).
	NodeName string
	// GPUExtraDevices are added, besides its own GPU devices
	// (core.Container.GPUDevices), to every container given a GPU: the
	// driver's control devices (config node.gpus.extraDevices).
	GPUExtraDevices []string
	// Observer, if set, is told of pulls, restarts and start-up times
	// (metrics).
	Observer Observer
	Logger   *slog.Logger
	Clock    clock.Clock
}

func (c *Config) setDefaults() {
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	if c.Address == "" {
		c.Address = "/run/containerd/containerd.sock"
	}
	if c.Namespace == "" {
		c.Namespace = "openkci"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/openkci"
	}
	if len(c.CNIBinDirs) == 0 {
		c.CNIBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}
	}
	if c.NetNSDir == "" {
		c.NetNSDir = "/run/netns"
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 30 * time.Second
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = 10 << 20
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 30 * time.Second
	}
	if c.HostResolvConf == "" {
		c.HostResolvConf = "/etc/resolv.conf"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Clock = clock.Or(c.Clock)
	if c.LockDir == "" {
		c.LockDir = "/run/kcid"
	}
}

// absDataDir makes DataDir absolute (it is recorded in lock files).
func (c *Config) absDataDir() error {
	if filepath.IsAbs(c.DataDir) {
		return nil
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	c.DataDir = abs
	return nil
}

// HostClaim is a runtime's identity with its host locks held. Make one
// with ClaimHost; a Runtime made from it releases it on Close.
type HostClaim struct {
	in   instance
	lock *hostLock
}

// Release drops the locks; only for a claim no Runtime took over.
func (c *HostClaim) Release() { c.lock.release() }

// InstanceID is the identity host resources of this runtime carry.
func (c *HostClaim) InstanceID() string { return c.in.ID }

// ClaimHost reads (or makes, on first start) the identity kept in
// cfg.DataDir and takes the host locks of cfg.Namespace and of that
// identity, before anything else is touched. It fails with a
// *HostInUseError naming the other process when another runtime on this
// host uses the same namespace or data dir.
func ClaimHost(cfg Config) (*HostClaim, error) {
	cfg.setDefaults()
	if err := cfg.absDataDir(); err != nil {
		return nil, err
	}
	if err := identifiers.Validate(cfg.Namespace); err != nil {
		return nil, fmt.Errorf("namespace: %w", err)
	}
	in, err := loadInstance(cfg.DataDir, cfg.Namespace, cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	owner := cfg.OwnerDataDir
	if owner == "" {
		owner = cfg.DataDir
	} else if abs, err := filepath.Abs(owner); err == nil {
		owner = abs
	}
	holder := lockHolder{PID: os.Getpid(), DataDir: owner, Address: cfg.Address, Instance: in.ID, Since: cfg.Clock.Now()}
	l, err := lockHost(cfg.LockDir, in, holder)
	if err != nil {
		return nil, err
	}
	return &HostClaim{in: in, lock: l}, nil
}

// Runtime runs groups on containerd. Create it with New; it is safe for
// concurrent use.
type Runtime struct {
	cfg    Config
	in     instance   // identity of every host resource of this runtime
	claim  *HostClaim // host locks, released by Close
	log    *slog.Logger
	client *containerd.Client
	cni    *cniNet
	images *images
	locks  keyedMutex
	disks  map[string]core.Disk // of the config
	// nfs is why NFSVolumes cannot be mounted on this host (nil: they
	// can), found at New (nfs.go).
	nfs error
	// diskMu serialises reading and writing the records of disks made
	// on demand (ebs.go).
	diskMu sync.Mutex

	// ctx carries the namespace; cancelled by Close, which stops workers
	// but leaves the groups running.
	ctx    context.Context
	cancel context.CancelFunc

	// bg counts background orphan removals and the shim resync; they end
	// with ctx.
	bg         sync.WaitGroup
	resyncOnce sync.Once

	mu     sync.Mutex
	groups map[string]*group // guarded by mu
	closed bool              // guarded by mu
	// sgRules reads a security group's rules; nil: rules not enforced.
	sgRules func(id string) ([]core.SecurityGroupRule, bool) // guarded by mu
}

// New claims the host (unless cfg.Claim is given), connects to containerd
// and prepares DataDir. It does not touch any group: call Sync to re-adopt
// them.
func New(cfg Config) (rt *Runtime, err error) {
	cfg.setDefaults()
	if err := cfg.absDataDir(); err != nil {
		return nil, err
	}
	claim := cfg.Claim
	if claim == nil {
		if claim, err = ClaimHost(cfg); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			claim.Release()
		}
	}()
	if cfg.LogBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("the containers' logging binary (this executable): %w; set Config.LogBinary", err)
		}
		cfg.LogBinary = exe
	}
	in := claim.in
	for _, d := range []string{cfg.groupsDir(), cfg.cniCacheDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	client, err := containerd.New(cfg.Address,
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd at %s: %w: %w", cfg.Address, kcierr.ErrUnavailable, err)
	}
	insecure := map[string]bool{}
	for _, h := range cfg.InsecureRegistries {
		insecure[registryHost(h)] = true
	}
	disks := map[string]core.Disk{}
	for _, d := range cfg.Disks {
		if validID(d.ID) != nil {
			return nil, fmt.Errorf("disk ID %q: %w", d.ID, kcierr.ErrInvalidArgument)
		}
		disks[d.ID] = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{
		disks:  disks,
		cfg:    cfg,
		in:     in,
		claim:  claim,
		log:    cfg.Logger.With("component", "runtime/containerd"),
		client: client,
		cni:    newCNINet(in, cfg.CNIBinDirs, cfg.cniCacheDir()),
		images: &images{client: client, snapshotter: cfg.Snapshotter, insecure: insecure},
		ctx:    ctx,
		cancel: cancel,
		groups: map[string]*group{},
	}
	r.markGroupBridges()
	if r.nfs = hostNFS("/proc/filesystems"); r.nfs != nil {
		r.log.Info("NFSVolume refused on this host", "reason", r.nfs)
	}
	r.log.Info("host claimed", "instance", in.ID, "legacy_names", in.Legacy, "namespace", cfg.Namespace, "data_dir", cfg.DataDir)
	return r, nil
}

// markGroupBridges gives the bridges of the groups in DataDir this
// runtime's alias, before anything asks which links are foreign: bridges
// made by a release before identities carry none yet.
func (r *Runtime) markGroupBridges() {
	ents, _ := os.ReadDir(r.cfg.groupsDir())
	for _, e := range ents {
		st, err := readState(r.groupDir(e.Name()))
		if err != nil || len(st.CNIConf) == 0 {
			continue
		}
		if br := confBridge(st.CNIConf); br != "" && bridgeExists(br) {
			if err := r.in.markLink(br); err != nil {
				r.log.Warn("mark bridge", "bridge", br, "err", err)
			}
		}
	}
}

func (c *Config) groupsDir() string   { return filepath.Join(c.DataDir, "groups") }
func (c *Config) cniCacheDir() string { return filepath.Join(c.DataDir, "cni-cache") }

// ResolveHostPath resolves path's symbolic links on this host, where the
// groups' bind mounts are made (service.HostPathResolver).
func (r *Runtime) ResolveHostPath(path string) (string, error) { return filepath.EvalSymlinks(path) }

func (r *Runtime) groupDir(id string) string { return filepath.Join(r.cfg.groupsDir(), id) }

// netnsPath pins a group's network namespace at kci-<instance>-<group>.
func (r *Runtime) netnsPath(id string) string {
	return filepath.Join(r.cfg.NetNSDir, r.in.netnsPrefix()+id)
}

func (r *Runtime) cgroupRoot() string { return r.in.cgroupRoot() }
func (r *Runtime) groupCgroup(id string) string {
	return r.cgroupRoot() + "/" + id
}

// ctrID is the containerd ID of a group's container.
func ctrID(groupID, name string) string {
	id := groupID + "_" + name
	if identifiers.Validate(id) != nil {
		h := sha256.Sum256([]byte(id))
		id = groupID + "_" + hex.EncodeToString(h[:8])
	}
	return id
}

// validID keeps group IDs usable as file, netns and cgroup names.
func validID(id string) error {
	if err := identifiers.Validate(id); err != nil || strings.ContainsAny(id, "/.") {
		return fmt.Errorf("group ID %q: %w", id, kcierr.ErrInvalidArgument)
	}
	return nil
}

// Close stops the workers and disconnects. Groups keep running; a new
// Runtime re-adopts them with Sync.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	gs := make([]*group, 0, len(r.groups))
	for _, g := range r.groups {
		gs = append(gs, g)
	}
	r.mu.Unlock()
	r.cancel()
	for _, g := range gs {
		<-g.done
	}
	r.bg.Wait()
	err := r.client.Close()
	r.claim.Release()
	return err
}

// Start runs g in the background; see service.Runtime.
func (r *Runtime) Start(_ context.Context, g *core.Group) error {
	if err := validID(g.ID); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, c := range g.AllContainers() {
		if c.Name == "" || strings.ContainsAny(c.Name, "/\x00") || c.Name == "." || c.Name == ".." || seen[c.Name] {
			return fmt.Errorf("container name %q: %w", c.Name, kcierr.ErrInvalidArgument)
		}
		seen[c.Name] = true
	}
	unlock := r.locks.lock(g.ID)
	defer unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("runtime closed: %w", kcierr.ErrUnavailable)
	}
	if _, ok := r.groups[g.ID]; ok {
		return nil
	}
	spec := *g // the caller's value stays the caller's
	w := newGroup(r, &spec)
	r.groups[g.ID] = w
	go w.run()
	return nil
}

// Remove stops and releases g; see service.Runtime.
func (r *Runtime) Remove(ctx context.Context, g *core.Group) error {
	if err := validID(g.ID); err != nil {
		return err
	}
	unlock := r.locks.lock(g.ID)
	defer unlock()
	r.mu.Lock()
	w := r.groups[g.ID]
	r.mu.Unlock()
	if w != nil {
		w.stop()
		select {
		case <-w.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.teardown(ctx, g.ID, g); err != nil {
		return err
	}
	if w != nil {
		r.mu.Lock()
		delete(r.groups, g.ID)
		r.mu.Unlock()
	}
	return nil
}

// Status returns what the group's worker observed.
func (r *Runtime) Status(_ context.Context, groupID string) (core.GroupStatus, error) {
	r.mu.Lock()
	w := r.groups[groupID]
	r.mu.Unlock()
	if w == nil {
		return core.GroupStatus{}, fmt.Errorf("group %q: %w", groupID, kcierr.ErrNotFound)
	}
	return w.status(), nil
}

// Logs returns the last tail lines (tail <= 0: all that is kept) of one
// container's stdout and stderr.
func (r *Runtime) Logs(_ context.Context, groupID, container string, tail int) (string, error) {
	r.mu.Lock()
	w := r.groups[groupID]
	r.mu.Unlock()
	if w == nil {
		return "", fmt.Errorf("group %q: %w", groupID, kcierr.ErrNotFound)
	}
	if w.container(container) == nil {
		return "", fmt.Errorf("container %q of group %q: %w", container, groupID, kcierr.ErrNotFound)
	}
	return tailLog(w.logPath(container), tail)
}

// Sync re-adopts the live groups (starting those that are missing) and
// tears down everything of this runtime's that is not live.
func (r *Runtime) Sync(ctx context.Context, live []*core.Group) error {
	// Before any group's worker mounts: a device not mounted now is a
	// leftover, not a mount in progress.
	r.sweepLoops()
	keep := map[string]bool{}
	var errs []error
	for _, g := range live {
		keep[g.ID] = true
		if err := r.Start(ctx, g); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g.ID, err))
		}
	}
	orphans, err := r.ownedGroupIDs(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	// Orphans go in parallel: each may wait out its grace period. What
	// cannot be cleaned is reported and retried in the background: a
	// leftover never stops kcid from starting.
	var wg sync.WaitGroup
	for _, id := range orphans {
		if keep[id] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.log.Info("removing orphan group", "group", id)
			if err := r.Remove(ctx, &core.Group{ID: id}); err != nil {
				r.log.Error("could not remove everything of an orphan group; retrying in the background", "group", id, "err", err)
				r.retryOrphan(id)
			}
		}()
	}
	wg.Wait()
	r.sweepStrayShims(ctx)
	r.sweepNetworks(ctx, live)
	r.resyncOnce.Do(func() {
		r.bg.Add(1)
		go r.resyncShims()
	})
	return errors.Join(errs...)
}

// resyncShims sweeps stray shims every ResyncInterval until the runtime
// closes: a stray of a group nobody deletes or restarts (its container
// waits out a long back-off, say) goes too.
func (r *Runtime) resyncShims() {
	defer r.bg.Done()
	t := time.NewTicker(r.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.sweepStrayShims(r.ctx)
		}
	}
}

// orphanRetryMax caps the back-off of background orphan removal.
var orphanRetryMax = time.Minute

// retryOrphan removes an orphan group in the background, with back-off,
// until it succeeds or the runtime closes.
func (r *Runtime) retryOrphan(id string) {
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		delay := time.Second
		for attempt := 2; ; attempt++ {
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(delay):
			}
			err := r.Remove(r.ctx, &core.Group{ID: id})
			if err == nil {
				r.log.Info("removed orphan group", "group", id, "attempt", attempt)
				return
			}
			if r.ctx.Err() != nil {
				return
			}
			r.log.Error("could not remove everything of an orphan group; retrying", "group", id, "attempt", attempt, "retry_in", delay, "err", err)
			delay = min(2*delay, orphanRetryMax)
		}
	}()
}

// sweepNetworks removes the network leftovers of this runtime that no
// live group needs: NAT rules of groups that are gone (found by the CNI
// network names of this instance), bridges that carry this runtime's
// alias but serve no live group, and isolation rules naming bridges that
// no longer exist. Failures are logged: they never stop a start.
func (r *Runtime) sweepNetworks(ctx context.Context, live []*core.Group) {
	liveIDs := map[string]bool{}
	bridges := map[string]bool{}
	for _, g := range live {
		liveIDs[g.ID] = true
		if conf, err := netConfList(r.in, g); err == nil {
			bridges[confBridge(conf)] = true
		}
		if st, err := readState(r.groupDir(g.ID)); err == nil && len(st.CNIConf) > 0 {
			bridges[confBridge(st.CNIConf)] = true
		}
	}
	r.cni.sweeping.Lock()
	defer r.cni.sweeping.Unlock()
	if !r.in.Legacy {
		prefix := r.in.networkPrefix()
		gone, err := removeNAT(ctx, func(n string) bool { return strings.HasPrefix(n, prefix) }, func(g string) bool { return liveIDs[g] })
		if len(gone) > 0 {
			r.log.Warn("removed NAT rules of groups that are gone", "groups", gone)
		}
		if err != nil {
			r.log.Error("could not remove NAT rules of groups that are gone", "groups", gone, "err", err)
		}
	}
	for _, br := range r.in.ownedBridges() {
		if bridges[br] || !bridgeEmpty(br) {
			continue
		}
		if err := r.cni.removeBridge(ctx, br); err != nil {
			r.log.Error("could not remove a bridge no group uses", "bridge", br, "err", err)
			continue
		}
		if !bridgeExists(br) {
			r.log.Info("removed a bridge no group uses", "bridge", br)
		}
	}
	if err := r.cni.pruneMasquerade(ctx); err != nil {
		r.log.Error("could not remove the masquerade of bridges that are gone", "err", err)
	}
	r.cni.isoMu.Lock()
	defer r.cni.isoMu.Unlock()
	r.cni.pruneIsolation(ctx)
}

// ownedGroupIDs finds every group this runtime holds anything of: state
// directories, containerd containers, network namespaces, cgroups.
func (r *Runtime) ownedGroupIDs(ctx context.Context) ([]string, error) {
	ids := map[string]bool{}
	if ents, err := os.ReadDir(r.cfg.groupsDir()); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				ids[e.Name()] = true
			}
		}
	}
	ctx = r.nsCtx(ctx)
	cs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q", labelGroup))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		if l, err := c.Labels(ctx); err == nil && l[labelGroup] != "" {
			ids[l[labelGroup]] = true
		}
	}
	prefix := r.in.netnsPrefix()
	if ents, err := os.ReadDir(r.cfg.NetNSDir); err == nil {
		for _, e := range ents {
			if id, ok := strings.CutPrefix(e.Name(), prefix); ok && validID(id) == nil {
				ids[id] = true
			}
		}
	}
	for _, id := range r.diskGroups() {
		ids[id] = true
	}
	for _, id := range listCgroupChildren(r.cgroupRoot()) {
		// A legacy runtime's root also holds the instance levels of
		// runtimes with identities (/<namespace>/kcid-<id>): not groups.
		if !strings.HasPrefix(id, cgroupInstancePrefix) {
			ids[id] = true
		}
	}
	out := make([]string, 0, len(ids))
	for id := range ids {
		if validID(id) == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// keyedMutex serialises Start and Remove of one group ID.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu sync.Mutex
	n  int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
