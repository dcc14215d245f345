// Package service owns the use cases of the KCI API — create, describe,
// delete and read logs of container groups, and the networks they live in —
// independent of the wire protocol and of the engine that runs groups. It
// keeps the authoritative copy of every group in the Store, an in-memory
// index for fast Describe, and hands execution to a Runtime.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// Store keeps groups and serves every read of them. The store owns any
// cache, so several service instances over one shared store (a cluster)
// see the same groups. Returned groups are never mutated: a change stores a
// new value. Every method may fail (a database, a cluster behind it) and
// takes the caller's context.
//
// Optional capabilities, found by interface assertion: IPAllocator (the
// service then gives groups their addresses) and CapacityTracker (the
// service then places groups within the node's capacity). A store without
// them leaves addresses and placement to the runtime (a cluster).
type Store interface {
	// Groups returns every group, including those being deleted.
	Groups(ctx context.Context) ([]*core.Group, error)
	// Group returns one group (also one being deleted); an error wrapping
	// errdefs.ErrNotFound if there is none.
	Group(ctx context.Context, id string) (*core.Group, error)
	// LiveGroups returns the account's groups not being deleted, oldest
	// first, ID breaking ties.
	LiveGroups(ctx context.Context, accountID string) ([]*core.Group, error)
	// CreateGroup stores a new group; ErrConflict if its ID or IP is taken.
	CreateGroup(ctx context.Context, g *core.Group) error
	// MarkDeleting hides a group from the API and returns it as stored;
	// ErrNotFound if it is missing or already being deleted.
	MarkDeleting(ctx context.Context, id string, at time.Time) (*core.Group, error)
	// PurgeGroup forgets a group and releases its IP; idempotent.
	PurgeGroup(ctx context.Context, id string) error
}

// IPAllocator is a Store that keeps the addresses its groups hold, one
// group per address of a subnet (CreateGroup refuses a held one). With it
// the service picks each new group's address; without it the runtime does.
type IPAllocator interface {
	// HeldIPs counts a subnet's addresses held by groups and says whether
	// ip is one of them.
	HeldIPs(ctx context.Context, subnetID, ip string) (count int, held bool, err error)
}

// LabelIndex is a Store that indexes its live groups by label. With it a
// label filter and DescribeContainerGroupCount read the index; without it
// the service scans the account's live groups.
type LabelIndex interface {
	// LabeledGroups returns the account's live groups whose label key has
	// one of values, in no particular order.
	LabeledGroups(ctx context.Context, accountID, key string, values []string) ([]*core.Group, error)
	// CountLabel counts the account's live groups per value of label key:
	// for each of values, or for every value the key has when values is
	// empty.
	CountLabel(ctx context.Context, accountID, key string, values []string) (map[string]int, error)
}

// CapacityTracker is a Store that sums the sizes of its live groups. With
// it the service refuses a group the node cannot fit (Options.CPU and
// Memory); without it placement is the runtime's (a cluster scheduler).
type CapacityTracker interface {
	Usage(ctx context.Context) (cpu, memory float64, err error)
}

// ImageCaches picks the image cache a new group starts from (package
// imagecache's Manager). A service without it refuses ImageCacheId and
// ignores AutoMatchImageCache.
type ImageCaches interface {
	// ForGroup returns the account's cache a group with images starts
	// from: id (which must be the account's and Available; else an error
	// naming ImageCacheId), or with auto the best match, or "" for none.
	// It changes nothing.
	ForGroup(ctx context.Context, account, id string, auto bool, images []string) (string, error)
	// MarkUsed moves the cache's LastUsedTime to now.
	MarkUsed(ctx context.Context, id string)
}

// Options configures a Service.
type Options struct {
	Store    Store
	Runtime  Runtime
	Networks *Networks
	// ImageCaches, if set, serves ImageCacheId and AutoMatchImageCache.
	ImageCaches ImageCaches
	// Disks are the EBS volumes accounts may mount.
	Disks []core.Disk
	// MaxDisksPerAccount bounds the disks made on demand an account holds
	// at once, mounted or kept; 0 means unbounded.
	MaxDisksPerAccount int
	// CPU and Memory (GiB) are the node's; 0 means unbounded.
	CPU, Memory float64
	// CPUOvercommit and MemoryOvercommit multiply CPU and Memory into the
	// bound of the sum of live groups' sizes; 0 means 1.
	CPUOvercommit, MemoryOvercommit float64
	// Policy says which accounts may use what reaches into the host.
	Policy Policy
	Clock  clock.Clock
	Logger *slog.Logger
	// Observer, if set, is told of deletions (metrics).
	Observer Observer
	// GPUDevices are the node's GPUs (config node.gpus.devices), each
	// given to at most one stored group.
	GPUDevices []string
	// GPUsScheduled says the runtime's scheduler places GPUs (Kubernetes,
	// config node.gpus.kubernetesResource): the service allocates none.
	GPUsScheduled bool
	// UsageResolution is how often each live group's usage is sampled
	// when the runtime is a StatsReader (UsageResolution if 0; negative:
	// no sampling in the background, only SampleUsage calls, with rings
	// sized for the magnitude); UsageRetention bounds the history kept
	// (UsageRetention if 0).
	UsageResolution, UsageRetention time.Duration
}

// Policy lists the accounts that may create groups with host-reaching
// settings; "*" stands for every account. Empty lists allow no one.
type Policy struct {
	// PrivilegedAccounts may run privileged containers.
	PrivilegedAccounts []string
	// HostPIDAccounts may share the host's PID namespace.
	HostPIDAccounts []string
	// HostPathPrefixes are, by account ("*": every account), the host
	// directories under which that account's HostPathVolumes may lie.
	HostPathPrefixes map[string][]string
}

// hostPathPrefixes are the prefixes account may mount host paths under.
func (p Policy) hostPathPrefixes(account string) []string {
	return append(slices.Clone(p.HostPathPrefixes["*"]), p.HostPathPrefixes[account]...)
}

// under reports whether the clean absolute path p is prefix or lies below it.
func under(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, strings.TrimSuffix(prefix, "/")+"/")
}

// checkHostPath refuses a HostPathVolume path that is not under one of
// the account's prefixes, lexically and, when resolve is set (the runtime
// sees the nodes' file system), once every symlink is resolved: a link
// under a prefix that leads out of it is refused, as is a path that does
// not exist.
func (p Policy) checkHostPath(v core.Volume, account string, resolve func(string) (string, error)) error {
	const key = "Volume.N.HostPathVolume.Path"
	prefixes := p.hostPathPrefixes(account)
	if len(prefixes) == 0 {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, key,
			"volume %s: host paths are not allowed for account %s; the operator may allow directories in the config (policy.hostPathPrefixes)", v.Name, account)
	}
	i := slices.IndexFunc(prefixes, func(pre string) bool { return under(v.HostPath, pre) })
	if i < 0 {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, key,
			"volume %s: %q is not under a directory account %s may mount (%s)", v.Name, v.HostPath, account, strings.Join(prefixes, ", "))
	}
	if resolve == nil {
		return nil
	}
	real, err := resolve(v.HostPath)
	if err != nil {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, key,
			"volume %s: %q cannot be resolved on this host (%v); create it first", v.Name, v.HostPath, err)
	}
	for _, pre := range prefixes {
		rp, err := resolve(pre)
		if err == nil && under(real, rp) {
			return nil
		}
	}
	return errdefs.Param(errdefs.CodeInvalidParameterValue, key,
		"volume %s: %q resolves to %q through a symbolic link, which is not under a directory account %s may mount (%s)", v.Name, v.HostPath, real, account, strings.Join(prefixes, ", "))
}

func allows(accounts []string, account string) bool {
	return slices.Contains(accounts, "*") || slices.Contains(accounts, account)
}

// check refuses what g asks for that the account is not allowed; resolve,
// if set, resolves symlinks of host paths (HostPathResolver).
func (p Policy) check(g *core.Group, resolve func(string) (string, error)) error {
	for _, v := range g.Volumes {
		if v.Type == core.VolumeHostPath {
			if err := p.checkHostPath(v, g.AccountID, resolve); err != nil {
				return err
			}
		}
	}
	if g.HostPID && !allows(p.HostPIDAccounts, g.AccountID) {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "HostPID",
			"sharing the host's PID namespace is not allowed for account %s; the operator may allow it in the config (policy.hostPIDAccounts)", g.AccountID)
	}
	for _, l := range []struct {
		param string
		ctrs  []core.Container
	}{{"Container.N.SecurityContext.Privileged", g.Containers}, {"InitContainer.N.SecurityContext.Privileged", g.InitContainers}} {
		for _, c := range l.ctrs {
			if c.Privileged && !allows(p.PrivilegedAccounts, g.AccountID) {
				return errdefs.Param(errdefs.CodeInvalidParameterValue, l.param,
					"container %s: privileged containers are not allowed for account %s; the operator may allow them in the config (policy.privilegedAccounts)", c.Name, g.AccountID)
			}
		}
	}
	return nil
}

// Service implements the API's use cases. It is safe for concurrent use.
type Service struct {
	store  Store
	rt     Runtime
	nets   *Networks
	caches ImageCaches
	disks  map[string]core.Disk
	// diskMaker is the runtime's DiskMaker, nil if it has none;
	// maxDisksPerAccount bounds what it makes per account (0: no bound).
	diskMaker          DiskMaker
	maxDisksPerAccount int
	policy             Policy
	capacity           capacity
	// gpus are the node's GPU devices (Options.GPUDevices).
	gpus []string
	// gpusScheduled is Options.GPUsScheduled.
	gpusScheduled bool
	now           func() time.Time
	log           *slog.Logger
	observer      Observer
	// resolveHostPath is the runtime's HostPathResolver, if it has one.
	resolveHostPath func(string) (string, error)

	// history keeps each live group's usage samples, taken every
	// historyResolution.
	history           *usageHistory
	historyResolution time.Duration

	// ips and usage are the store's optional capabilities, nil if it
	// lacks them.
	ips    IPAllocator
	usage  CapacityTracker
	labels LabelIndex

	// bg tracks background deletions so Close can wait for them.
	bg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	// createMu makes "check capacity, pick an IP, store" one step.
	createMu sync.Mutex
	// starting maps a group ID to a channel closed once CreateGroup has
	// handed the group to the runtime or rolled it back. A deletion
	// accepted in between waits for it, so Remove never runs before Start.
	starting sync.Map
	// sessions are the exec sessions in flight, by group.
	sessions execSessions
}

// New builds a Service; call Start before serving.
func New(o Options) *Service {
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.UsageResolution == 0 {
		o.UsageResolution = UsageResolution
	}
	if o.UsageRetention <= 0 {
		o.UsageRetention = UsageRetention
	}
	size := max(1, int(o.UsageRetention/max(o.UsageResolution, -o.UsageResolution)))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		store: o.Store, rt: o.Runtime, nets: o.Networks, caches: o.ImageCaches,
		disks: map[string]core.Disk{}, policy: o.Policy, gpus: slices.Clone(o.GPUDevices), gpusScheduled: o.GPUsScheduled,
		capacity: newCapacity(o), now: o.Clock.Now, log: o.Logger,
		ctx: ctx, cancel: cancel,
		observer:          o.Observer,
		history:           &usageHistory{size: size, rings: map[string]*usageRing{}},
		historyResolution: o.UsageResolution,
	}
	s.ips, _ = o.Store.(IPAllocator)
	s.usage, _ = o.Store.(CapacityTracker)
	s.labels, _ = o.Store.(LabelIndex)
	if r, ok := o.Runtime.(HostPathResolver); ok {
		s.resolveHostPath = r.ResolveHostPath
	}
	s.diskMaker, _ = o.Runtime.(DiskMaker)
	s.maxDisksPerAccount = o.MaxDisksPerAccount
	if e, ok := o.Runtime.(SecurityGroupEnforcer); ok && o.Networks != nil {
		e.EnforceSecurityGroups(o.Networks.rules)
	}
	for _, d := range o.Disks {
		s.disks[d.ID] = d
	}
	return s
}

// Start loads the stored groups, reconciles the runtime with them and
// resumes deletions a previous run did not finish.
func (s *Service) Start(ctx context.Context) error {
	groups, err := s.store.Groups(ctx)
	if err != nil {
		return fmt.Errorf("load groups: %w", err)
	}
	var live, deleting []*core.Group
	for _, g := range groups {
		if g.DeletedAt == nil {
			live = append(live, g)
		} else {
			deleting = append(deleting, g)
		}
	}
	s.log.Info("loaded state", "groups", len(live), "deleting", len(deleting))
	if err := s.rt.Sync(ctx, live); err != nil {
		return fmt.Errorf("reconcile runtime: %w", err)
	}
	for _, g := range deleting {
		s.removeInBackground(g)
	}
	if sr, ok := s.rt.(StatsReader); ok && s.historyResolution > 0 {
		s.bg.Add(1)
		go s.sampleUsageLoop(sr, s.historyResolution)
	}
	return nil
}

// Close stops background work, waiting for deletions in flight to reach a
// point they can resume from.
func (s *Service) Close() {
	s.cancel()
	s.bg.Wait()
}

// CreateRequest is a validated CreateContainerGroup call: the group's spec
// plus where to put it.
type CreateRequest struct {
	AccountID string
	Region    string
	// SubnetID and then MultiSubnetIDs are the subnets the group may land
	// in: the first with a free address (without an IPAllocator, the
	// first). At least one must be given.
	SubnetID         string
	MultiSubnetIDs   []string
	SecurityGroupIDs []string
	// ImageCacheID names the account's image cache to start from;
	// AutoMatchImageCache picks one that holds the group's images (ignored
	// when ImageCacheID is given).
	ImageCacheID        string
	AutoMatchImageCache bool
	// Group carries the spec fields (name, sizes, containers, volumes, DNS,
	// ...); identity, network and times are filled in here.
	Group core.Group
	// DryRun checks everything but creates nothing.
	DryRun bool
}

// CreateGroup places, records and starts a new group.
func (s *Service) CreateGroup(ctx context.Context, req CreateRequest) (*core.Group, error) {
	subnets, vpc, err := s.candidateSubnets(req)
	if err != nil {
		return nil, err
	}
	subnet := subnets[0]
	for _, id := range req.SecurityGroupIDs {
		sg, ok := s.nets.SecurityGroup(req.AccountID, id)
		if !ok {
			return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "SecurityGroupId.N", "security group %q does not exist", id)
		}
		if sg.VpcID != vpc.ID {
			return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "SecurityGroupId.N", "security group %q is not in vpc %q of subnet %q", id, vpc.ID, subnet.ID)
		}
	}
	g := req.Group
	g.ID = uuid.NewString()
	g.AccountID = req.AccountID
	if err := s.policy.check(&g, s.resolveHostPath); err != nil {
		return nil, err
	}
	if err := s.checkNFS(&g); err != nil {
		return nil, err
	}
	if err := s.pickImageCache(ctx, &g, req); err != nil {
		return nil, err
	}
	g.Region = req.Region
	g.Zone = subnet.Zone
	g.CreatedAt = s.now().UTC()
	g.Network = core.Network{
		VpcID: vpc.ID, VpcCIDR: vpc.CIDR,
		SubnetID: subnet.ID, SubnetCIDR: subnet.CIDR, Gateway: subnet.Gateway,
		MAC:              randomMAC(),
		InterfaceID:      uuid.NewString(),
		SecurityGroupIDs: slices.Clone(req.SecurityGroupIDs),
	}

	s.createMu.Lock()
	for g.ClientToken != "" {
		prev, err := s.byClientToken(ctx, &g)
		if err != nil {
			s.createMu.Unlock()
			return nil, err
		}
		if prev == nil {
			break
		}
		s.createMu.Unlock()
		if prev, err = s.replayed(ctx, prev, req); err != nil || prev != nil {
			return prev, err
		}
		// The create that used this token was rolled back: look again.
		s.createMu.Lock()
	}
	if s.usage != nil {
		if err := s.checkCapacity(ctx, &g); err != nil {
			s.createMu.Unlock()
			return nil, err
		}
	}
	if err := s.checkDisks(ctx, &g); err != nil {
		s.createMu.Unlock()
		return nil, err
	}
	if err := s.allocateGPUs(ctx, &g); err != nil {
		s.createMu.Unlock()
		return nil, err
	}
	// A subnet or security group deleted since the checks above
	// (DeleteSubnet and DeleteSecurityGroup hold createMu) must not be
	// joined.
	if !s.nets.hasSubnet(g.Network.SubnetID) {
		s.createMu.Unlock()
		return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "SubnetId", "subnet %q does not exist", g.Network.SubnetID)
	}
	for _, id := range g.Network.SecurityGroupIDs {
		if _, ok := s.nets.SecurityGroup(g.AccountID, id); !ok {
			s.createMu.Unlock()
			return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "SecurityGroupId.N", "security group %q does not exist", id)
		}
	}
	if s.ips != nil {
		sub, ip, err := s.placeIP(ctx, subnets, len(req.MultiSubnetIDs) > 0)
		if err != nil {
			s.createMu.Unlock()
			return nil, err
		}
		if sub.ID != subnet.ID {
			subnet = sub
			g.Zone = sub.Zone
			g.Network.SubnetID, g.Network.SubnetCIDR, g.Network.Gateway = sub.ID, sub.CIDR, sub.Gateway
		}
		g.Network.PrivateIP = ip
	}
	g.DNS = s.nets.subnetDNS(g.Network.SubnetID, g.DNS)
	if req.DryRun {
		s.createMu.Unlock()
		return &g, nil
	}
	started := make(chan struct{})
	s.starting.Store(g.ID, started)
	defer func() {
		s.starting.Delete(g.ID)
		close(started)
	}()
	if err := s.store.CreateGroup(ctx, &g); err != nil {
		s.createMu.Unlock()
		return nil, fmt.Errorf("store group: %w", err)
	}
	s.createMu.Unlock()

	if err := s.rt.Start(ctx, &g); err != nil {
		// Undo, so a failed create leaves nothing behind.
		s.log.Error("runtime refused group; rolling back", "group", g.ID, "err", err)
		if rerr := s.rt.Remove(context.WithoutCancel(ctx), &g); rerr != nil {
			s.log.Error("roll back runtime", "group", g.ID, "err", rerr)
		}
		if perr := s.store.PurgeGroup(context.WithoutCancel(ctx), g.ID); perr != nil {
			s.log.Error("roll back store", "group", g.ID, "err", perr)
		}
		// The runtime's class (a refusal, or unavailable) is what the
		// caller is told; the chain goes to the log at the API edge.
		return nil, fmt.Errorf("start group: %w", err)
	}
	if g.ImageCacheID != "" {
		s.caches.MarkUsed(ctx, g.ImageCacheID)
	}
	s.log.Info("group created", "group", g.ID, "name", g.Name, "account", g.AccountID, "ip", g.Network.PrivateIP, "image_cache", g.ImageCacheID)
	return &g, nil
}

// pickImageCache sets the image cache g starts from, if the request names
// one or asks for a match.
func (s *Service) pickImageCache(ctx context.Context, g *core.Group, req CreateRequest) error {
	if req.ImageCacheID == "" && !req.AutoMatchImageCache {
		return nil
	}
	if s.caches == nil {
		if req.ImageCacheID == "" {
			return nil
		}
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "ImageCacheId", "image cache %q does not exist", req.ImageCacheID)
	}
	var images []string
	for _, c := range g.AllContainers() {
		images = append(images, c.Image)
	}
	id, err := s.caches.ForGroup(ctx, g.AccountID, req.ImageCacheID, req.AutoMatchImageCache, images)
	if err != nil {
		return err
	}
	g.ImageCacheID = id
	return nil
}

// ClientTokenTTL is how long a create's ClientToken stands for the group it
// created.
const ClientTokenTTL = 24 * time.Hour

// byClientToken finds the live group the account created with g's
// ClientToken within ClientTokenTTL: nil if none; an InvalidParameterValue
// naming ClientToken if it was created by a different request. Callers hold
// createMu, so two creates with one token cannot both miss.
func (s *Service) byClientToken(ctx context.Context, g *core.Group) (*core.Group, error) {
	now := s.now()
	live, err := s.store.LiveGroups(ctx, g.AccountID)
	if err != nil {
		return nil, err
	}
	for _, prev := range live {
		if prev.ClientToken != g.ClientToken || now.Sub(prev.CreatedAt) >= ClientTokenTTL {
			continue
		}
		if prev.RequestHash != g.RequestHash {
			return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "ClientToken",
				"this token created group %s with a different request in the last %s; send a new token for a new request", prev.ID, ClientTokenTTL)
		}
		return prev, nil
	}
	return nil, nil
}

// replayed answers a create that repeats an earlier one's ClientToken and
// request: the earlier group, once its own create has finished. nil, nil
// means that create was rolled back, so this one must run.
func (s *Service) replayed(ctx context.Context, prev *core.Group, req CreateRequest) (*core.Group, error) {
	if started, ok := s.starting.Load(prev.ID); ok {
		select {
		case <-started.(chan struct{}):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g, err := s.group(ctx, prev.ID)
	if err != nil || g == nil || g.DeletedAt != nil {
		return nil, err
	}
	s.log.Info("create replayed by its ClientToken", "group", g.ID, "account", g.AccountID, "dry_run", req.DryRun)
	return g, nil
}

// checkCapacity refuses a group that would exceed the node. Callers hold
// createMu.
func (s *Service) checkCapacity(ctx context.Context, g *core.Group) error {
	usedCPU, usedMem, err := s.usage.Usage(ctx)
	if err != nil {
		return err
	}
	c := s.capacity
	if err := c.cpu.admit("Cpu", "cores", "node.cpuOvercommit", "node.cpu", g.CPU, usedCPU); err != nil {
		return err
	}
	return c.mem.admit("Memory", "GiB", "node.memoryOvercommit", "node.memory", g.Memory, usedMem)
}

// freeIP picks the lowest free address of a subnet, skipping the network,
// gateway and broadcast addresses. Callers hold createMu.
func (s *Service) freeIP(ctx context.Context, sub core.Subnet) (string, error) {
	p := netip.MustParsePrefix(sub.CIDR)
	gw := sub.Gateway
	last := core.BroadcastAddr(p)
	for a := p.Addr().Next(); a.IsValid() && a.Less(last); a = a.Next() {
		ip := a.String()
		if ip == gw {
			continue
		}
		_, taken, err := s.ips.HeldIPs(ctx, sub.ID, ip)
		if err != nil {
			return "", err
		}
		if !taken {
			return ip, nil
		}
	}
	return "", errdefs.Param(errdefs.CodeInvalidParameterValue, "SubnetId", "subnet %q has no free IP address left", sub.ID)
}

// maxMultiSubnets bounds MultiSubnetId.N, as the SDK documents.
const maxMultiSubnets = 5

// candidateSubnets are the subnets a create may land in, in order:
// SubnetID (if given) and then MultiSubnetIDs, each once. All must be the
// account's, in the request's region and in one VPC (the security groups'
// VPC is checked against it).
func (s *Service) candidateSubnets(req CreateRequest) ([]core.Subnet, core.VPC, error) {
	if len(req.MultiSubnetIDs) > maxMultiSubnets {
		return nil, core.VPC{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "MultiSubnetId.N", "at most %d subnets may be given; %d were", maxMultiSubnets, len(req.MultiSubnetIDs))
	}
	var (
		out []core.Subnet
		vpc core.VPC
	)
	add := func(param, id string) error {
		if slices.ContainsFunc(out, func(s core.Subnet) bool { return s.ID == id }) {
			return nil
		}
		sub, v, err := s.nets.SubnetFor(req.AccountID, req.Region, id)
		if err != nil {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, param, "subnet %q does not exist in region %s", id, req.Region)
		}
		if len(out) > 0 && v.ID != vpc.ID {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, param, "subnet %q is in vpc %q, not in vpc %q of subnet %q: the subnets of one group must share a VPC", id, v.ID, vpc.ID, out[0].ID)
		}
		out, vpc = append(out, sub), v
		return nil
	}
	if req.SubnetID != "" {
		if err := add("SubnetId", req.SubnetID); err != nil {
			return nil, core.VPC{}, err
		}
	}
	for _, id := range req.MultiSubnetIDs {
		if err := add("MultiSubnetId.N", id); err != nil {
			return nil, core.VPC{}, err
		}
	}
	if len(out) == 0 {
		return nil, core.VPC{}, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "SubnetId"}
	}
	return out, vpc, nil
}

// placeIP picks the first subnet with a free address and that address. A
// full SubnetId alone is the caller's bad choice (400 naming SubnetId, as
// before); with MultiSubnetId (multi), all of them full is a capacity
// error.
func (s *Service) placeIP(ctx context.Context, subnets []core.Subnet, multi bool) (core.Subnet, string, error) {
	if !multi {
		ip, err := s.freeIP(ctx, subnets[0])
		return subnets[0], ip, err
	}
	var ids []string
	for _, sub := range subnets {
		ip, err := s.freeIP(ctx, sub)
		if err == nil {
			return sub, ip, nil
		}
		var pe *errdefs.ParamError
		if !errors.As(err, &pe) {
			return core.Subnet{}, "", err
		}
		ids = append(ids, sub.ID)
	}
	return core.Subnet{}, "", errdefs.New(errdefs.ErrInsufficientCapacity, "no free IP address is left in any of the subnets %s; give a subnet with free addresses (DescribeSubnets shows AvailableIpNumber)", strings.Join(ids, ", "))
}

// randomMAC returns a locally administered unicast MAC with the fa:16:3e
// prefix the real service shows.
func randomMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// GroupView is a group with what the runtime observed of it.
type GroupView struct {
	Group  *core.Group
	Status core.GroupStatus
}

// DescribeQuery selects groups of one account.
type DescribeQuery struct {
	AccountID string
	IDs       []string
	// Filters maps a filter name (subnet-id, vpc-id,
	// availability-zone.name, status) to accepted values.
	Filters map[string][]string
	// Labels maps a label key to accepted values (the label:KEY filters):
	// a group matches when each key has one of its values.
	Labels map[string][]string
	Search string
	Offset int
	Limit  int
}

// DescribeGroups returns one page of matching groups and the total count.
func (s *Service) DescribeGroups(ctx context.Context, q DescribeQuery) ([]GroupView, int, error) {
	var cands []*core.Group
	if len(q.IDs) > 0 {
		seen := map[string]bool{}
		for _, id := range q.IDs {
			g, err := s.group(ctx, id)
			if err != nil {
				return nil, 0, err
			}
			if g == nil || g.DeletedAt != nil || g.AccountID != q.AccountID || seen[id] {
				continue
			}
			seen[id] = true
			cands = append(cands, g)
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
	} else if len(q.Labels) > 0 {
		var err error
		if cands, err = s.labeledGroups(ctx, q.AccountID, q.Labels); err != nil {
			return nil, 0, err
		}
	} else {
		var err error
		if cands, err = s.store.LiveGroups(ctx, q.AccountID); err != nil {
			return nil, 0, err
		}
	}

	statusFilter := q.Filters["status"]
	search := strings.ToLower(q.Search)
	var matched []*core.Group
	var statuses map[string]core.GroupStatus
	if len(statusFilter) > 0 {
		statuses = map[string]core.GroupStatus{}
	}
	for _, g := range cands {
		if !matchIn(q.Filters["subnet-id"], g.Network.SubnetID) ||
			!matchIn(q.Filters["vpc-id"], g.Network.VpcID) ||
			!matchIn(q.Filters["availability-zone.name"], g.Zone) {
			continue
		}
		if !matchLabels(q.Labels, g) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(g.Name), search) && !strings.Contains(g.Network.PrivateIP, search) {
			continue
		}
		if statuses != nil {
			st := s.status(ctx, g)
			if !slices.Contains(statusFilter, string(st.Phase)) {
				continue
			}
			statuses[g.ID] = st
		}
		matched = append(matched, g)
	}
	total := len(matched)
	if q.Offset >= total {
		return nil, total, nil
	}
	page := matched[q.Offset:min(total, q.Offset+q.Limit)]
	out := make([]GroupView, len(page))
	for i, g := range page {
		st, ok := statuses[g.ID]
		if !ok {
			st = s.status(ctx, g)
		}
		out[i] = GroupView{Group: g, Status: st}
	}
	return out, total, nil
}

// labeledGroups returns the account's live groups that carry one of the
// label filters' values, in Describe order: from the index the smallest
// candidate set of one key (the caller checks the other keys), else by a
// scan.
func (s *Service) labeledGroups(ctx context.Context, accountID string, labels map[string][]string) ([]*core.Group, error) {
	if s.labels == nil {
		return s.store.LiveGroups(ctx, accountID)
	}
	var best []*core.Group
	for k, vs := range labels {
		gs, err := s.labels.LabeledGroups(ctx, accountID, k, vs)
		if err != nil {
			return nil, err
		}
		if best == nil || len(gs) < len(best) {
			best = gs
		}
		if len(best) == 0 {
			break
		}
	}
	sort.Slice(best, func(i, j int) bool { return best[i].Before(best[j]) })
	return best, nil
}

// matchLabels reports whether g has, for each key, one of its values.
func matchLabels(labels map[string][]string, g *core.Group) bool {
	for k, vs := range labels {
		i := slices.IndexFunc(g.Labels, func(l core.Label) bool { return l.Key == k })
		if i < 0 || !slices.Contains(vs, g.Labels[i].Value) {
			return false
		}
	}
	return true
}

// CountByLabel counts the account's live groups per value of label key:
// one count for each of values (0 for a value no group has), or for every
// value the key has when values is empty.
func (s *Service) CountByLabel(ctx context.Context, accountID, key string, values []string) (map[string]int, error) {
	if s.labels != nil {
		return s.labels.CountLabel(ctx, accountID, key, values)
	}
	gs, err := s.store.LiveGroups(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, v := range values {
		out[v] = 0
	}
	for _, g := range gs {
		i := slices.IndexFunc(g.Labels, func(l core.Label) bool { return l.Key == key })
		if i < 0 {
			continue
		}
		if v := g.Labels[i].Value; len(values) == 0 || slices.Contains(values, v) {
			out[v]++
		}
	}
	return out, nil
}

func matchIn(values []string, v string) bool {
	return len(values) == 0 || slices.Contains(values, v)
}

// status asks the runtime; a group it does not know yet is Pending.
func (s *Service) status(ctx context.Context, g *core.Group) core.GroupStatus {
	st, err := s.rt.Status(ctx, g.ID)
	if err != nil {
		if !errdefs.IsNotFound(err) {
			s.log.Warn("runtime status", "group", g.ID, "err", err)
		}
		return core.GroupStatus{Phase: core.PhasePending}
	}
	return st
}

// group returns a stored group, nil if there is none.
func (s *Service) group(ctx context.Context, id string) (*core.Group, error) {
	g, err := s.store.Group(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	return g, err
}

// lookup returns a live group of the account, or ErrNotFound: another
// account's group is indistinguishable from a missing one.
func (s *Service) lookup(ctx context.Context, accountID, id string) (*core.Group, error) {
	g, err := s.group(ctx, id)
	if err != nil {
		return nil, err
	}
	if g == nil || g.DeletedAt != nil || g.AccountID != accountID {
		return nil, &errdefs.NotFoundError{Kind: "ContainerGroup", ID: id}
	}
	return g, nil
}

// GroupStatus returns the status of one live group of the account, or
// ErrNotFound as the other actions do.
func (s *Service) GroupStatus(ctx context.Context, accountID, id string) (core.GroupStatus, error) {
	g, err := s.lookup(ctx, accountID, id)
	if err != nil {
		return core.GroupStatus{}, err
	}
	return s.status(ctx, g), nil
}

// DeleteGroup hides the group at once and releases it in the background.
func (s *Service) DeleteGroup(ctx context.Context, accountID, id string, dryRun bool) error {
	if _, err := s.lookup(ctx, accountID, id); err != nil || dryRun {
		return err
	}
	dg, err := s.store.MarkDeleting(ctx, id, s.now().UTC())
	if errdefs.IsNotFound(err) { // raced with another delete
		return &errdefs.NotFoundError{Kind: "ContainerGroup", ID: id}
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.log.Info("group deletion accepted", "group", id, "account", accountID)
	if n := s.sessions.end(id); n > 0 {
		s.log.Info("ended exec sessions of deleted group", "group", id, "sessions", n)
	}
	s.removeInBackground(dg)
	return nil
}

// removeInBackground tears a group down, retrying with back-off, and then
// purges its record, which releases its IP.
func (s *Service) removeInBackground(g *core.Group) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if started, ok := s.starting.Load(g.ID); ok {
			<-started.(chan struct{})
		}
		delay := time.Second
		for {
			err := s.rt.Remove(s.ctx, g)
			if err == nil {
				break
			}
			if s.ctx.Err() != nil {
				return // resumed on next start
			}
			s.log.Warn("remove group; will retry", "group", g.ID, "in", delay, "err", err)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			delay = min(2*delay, time.Minute)
		}
		if err := s.store.PurgeGroup(context.WithoutCancel(s.ctx), g.ID); err != nil {
			s.log.Error("purge group", "group", g.ID, "err", err)
			return
		}
		if s.observer != nil && g.DeletedAt != nil {
			s.observer.GroupDeleted(s.now().Sub(*g.DeletedAt))
		}
		s.log.Info("group removed", "group", g.ID)
	}()
}

// CheckContainer reports whether the account's group has the container
// or init container, with the errors Logs would give (for DryRun).
func (s *Service) CheckContainer(ctx context.Context, accountID, id, container string) error {
	g, err := s.lookup(ctx, accountID, id)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(g.AllContainers(), func(c core.Container) bool { return c.Name == container }) {
		return &errdefs.NotFoundError{Kind: "Container", ID: container}
	}
	return nil
}

// Logs returns the tail of one container's log.
func (s *Service) Logs(ctx context.Context, accountID, id, container string, tail int) (string, error) {
	if err := s.CheckContainer(ctx, accountID, id, container); err != nil {
		return "", err
	}
	out, err := s.rt.Logs(ctx, id, container, tail)
	if errdefs.IsNotFound(err) {
		return "", nil // not started yet: no log so far
	}
	return out, err
}
