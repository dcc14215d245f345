// Package imagecache owns image caches: an account's images pulled ahead
// of time so that its groups start without contacting a registry (the
// KCI actions CreateImageCache, UpdateImageCache, DeleteImageCache,
// DescribeImageCache, MatchImageCache and DescribeImageCacheEvent, and
// ImageCacheId / AutoMatchImageCache of CreateContainerGroup).
//
// A Manager keeps every cache in memory and in its Store, runs one build
// per cache (Creating → Available, or Failed with the reason) through the
// runtime's Puller, which holds the pulled images for the cache until it
// is deleted or expires (RetentionDays, by the one clock), and picks the
// cache a new group starts from (ForGroup). Tenancy: a cache is only ever
// seen, matched or used by its own account; another account's cache is
// "not found".
//
// It declares what it needs of the layers below (Store, Puller) and
// imports neither a store nor a runtime.
package imagecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/google/uuid"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// Store keeps image caches. Every method may fail and takes the caller's
// context.
type Store interface {
	// ImageCaches returns every cache.
	ImageCaches(ctx context.Context) ([]*core.ImageCache, error)
	// PutImageCache records a cache as it now is (create or replace).
	PutImageCache(ctx context.Context, c *core.ImageCache) error
	// DeleteImageCache forgets a cache; idempotent.
	DeleteImageCache(ctx context.Context, id string) error
}

// Puller is the runtime's side of caches: it pulls images into a cache's
// hold and releases the hold.
//
// Contract:
//   - Fill pulls every image of c, in order, with c's credentials, into a
//     hold of cache c.ID, telling r as it goes; it returns when all are
//     held, at the first failure, or when r.Pulled returns an error (which
//     it returns). Filling again (an update) replaces what the cache holds.
//   - Release drops everything held for cache id, so that content no one
//     else holds is collected. Idempotent: an unknown id succeeds.
//   - Held lists the IDs of the caches the runtime holds anything for
//     (start-up reconcile: the Manager releases those it does not know).
//   - All methods are safe for concurrent use.
type Puller interface {
	Fill(ctx context.Context, c *core.ImageCache, r Reporter) error
	Release(ctx context.Context, id string) error
	Held(ctx context.Context) ([]string, error)
}

// Reporter is told of a build's progress by the Puller.
type Reporter interface {
	// Pulling: a pull of image ref (as given) starts.
	Pulling(ref string)
	// Progress: done of total bytes of ref's content are fetched (total
	// 0 while unknown).
	Progress(ref string, done, total int64)
	// Pulled: the image is held; an error stops the build (the images
	// exceed the cache's size).
	Pulled(img core.CachedImage) error
}

// Limits of the API (kci-2026.md §2.10–2.15) and of this kcid.
const (
	MaxImages         = 20
	MaxMatchImages    = 5
	MinSizeGiB        = 20
	MaxSizeGiB        = 500
	DefaultSizeGiB    = 20
	MaxRetentionDays  = 65536
	MaxNameLen        = 63
	MaxCachesPerOwner = 50
	// TypeCommon and TypeRapid are the cache types; kcid serves both the
	// same way.
	TypeCommon = "Common"
	TypeRapid  = "Rapid"
)

// Options configures a Manager.
type Options struct {
	Store  Store
	Puller Puller
	Clock  clock.Clock
	Logger *slog.Logger
	// ExpiryInterval is how often expired caches are looked for (1m).
	ExpiryInterval time.Duration
	// ProgressInterval is the least time between two persisted progress
	// updates of one image (1s).
	ProgressInterval time.Duration
}

// Manager runs image caches. It is safe for concurrent use.
type Manager struct {
	o   Options
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex
	caches map[string]*core.ImageCache // guarded by mu; values replaced, never mutated
	builds map[string]*build           // guarded by mu: the build in flight per cache

	bg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// build is one cache's pull in flight.
type build struct {
	generation int
	cancel     context.CancelFunc
	done       chan struct{}
}

// New returns a Manager; call Start before serving.
func New(o Options) *Manager {
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ExpiryInterval <= 0 {
		o.ExpiryInterval = time.Minute
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{o: o, now: o.Clock.Now, log: o.Logger, caches: map[string]*core.ImageCache{},
		builds: map[string]*build{}, ctx: ctx, cancel: cancel}
}

// Start loads the stored caches, releases what the runtime holds for
// caches that no longer exist, resumes builds a previous run did not
// finish, expires what is due and keeps expiring in the background.
func (m *Manager) Start(ctx context.Context) error {
	all, err := m.o.Store.ImageCaches(ctx)
	if err != nil {
		return fmt.Errorf("load image caches: %w", err)
	}
	m.mu.Lock()
	for _, c := range all {
		m.caches[c.ID] = c
	}
	m.mu.Unlock()
	held, err := m.o.Puller.Held(ctx)
	if err != nil {
		return fmt.Errorf("image caches the runtime holds: %w", err)
	}
	for _, id := range held {
		if m.get(id) == nil {
			m.log.Info("releasing the images of an image cache that no longer exists", "image_cache", id)
			if err := m.o.Puller.Release(ctx, id); err != nil {
				return fmt.Errorf("release image cache %s: %w", id, err)
			}
		}
	}
	for _, c := range all {
		if c.Status == core.ImageCacheCreating {
			m.startBuild(c)
		}
	}
	m.ExpireDue(ctx)
	m.bg.Add(1)
	go m.expiryLoop()
	m.log.Info("loaded image caches", "image_caches", len(all))
	return nil
}

// Close stops builds and the expiry loop and waits for them. A build cut
// short stays Creating and resumes on the next Start.
func (m *Manager) Close() {
	m.cancel()
	m.bg.Wait()
}

func (m *Manager) expiryLoop() {
	defer m.bg.Done()
	t := time.NewTicker(m.o.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.ExpireDue(m.ctx)
		}
	}
}

// get returns the cache with id, nil if there is none.
func (m *Manager) get(id string) *core.ImageCache {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.caches[id]
}

// lookup returns the account's cache, or a NotFoundError: another
// account's cache is indistinguishable from a missing one.
func (m *Manager) lookup(account, id string) (*core.ImageCache, error) {
	c := m.get(id)
	if c == nil || c.AccountID != account {
		return nil, &errdefs.NotFoundError{Kind: "ImageCache", ID: id}
	}
	return c, nil
}

// Spec is what CreateImageCache and UpdateImageCache set. In an update,
// nil fields keep their value.
type Spec struct {
	Name            *string
	SubnetID        *string
	SecurityGroupID *string
	SizeGiB         *int
	RetentionDays   *int
	Images          []string // nil: keep (update)
	Credentials     []core.RegistryCredential
	SetCredentials  bool // Credentials given (an update may clear them)
	Type            *string
	EnableWarm      *bool
	// DryRun checks everything and changes nothing: Create and Update
	// return the cache as it would be.
	DryRun bool
}

// Normalize returns the canonical reference of an image as containerd
// and kubelet name it (nginx → docker.io/library/nginx:latest).
func Normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// Create records a new cache of the account and starts pulling its
// images.
func (m *Manager) Create(ctx context.Context, account, region string, spec Spec) (*core.ImageCache, error) {
	now := m.now().UTC()
	c := &core.ImageCache{
		ID: "ic-" + uuid.NewString(), AccountID: account, Region: region,
		SizeGiB: DefaultSizeGiB, Type: TypeCommon, Status: core.ImageCacheCreating, Generation: 1,
		CreatedAt: now, UpdatedAt: now,
	}
	if spec.Images == nil {
		return nil, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "Image.N"}
	}
	apply(c, spec)
	if err := m.check(c); err != nil {
		return nil, err
	}
	m.mu.Lock()
	n := 0
	for _, o := range m.caches {
		if o.AccountID == account {
			n++
		}
	}
	if n >= MaxCachesPerOwner {
		m.mu.Unlock()
		return nil, errdefs.New(errdefs.ErrInsufficientCapacity, "account %s has %d image caches, the most one account may have; delete one first", account, n)
	}
	if err := m.checkNameFree(c); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if spec.DryRun {
		m.mu.Unlock()
		return c, nil
	}
	record(c, now, core.EventNormal, "Creating", fmt.Sprintf("Image cache created with %d images; pulling them", len(c.Images)))
	if err := m.o.Store.PutImageCache(ctx, c); err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("store image cache: %w", err)
	}
	m.caches[c.ID] = c
	m.mu.Unlock()
	m.log.Info("image cache created", "image_cache", c.ID, "account", account, "images", len(c.Images))
	m.startBuild(c)
	return c, nil
}

// Update changes the account's cache and pulls its images again; a pull
// in flight is cancelled. The cache is Creating until the new pull ends.
func (m *Manager) Update(ctx context.Context, account, id string, spec Spec) (*core.ImageCache, error) {
	m.mu.Lock()
	old := m.caches[id]
	if old == nil || old.AccountID != account {
		m.mu.Unlock()
		return nil, &errdefs.NotFoundError{Kind: "ImageCache", ID: id}
	}
	c := old.Clone()
	apply(c, spec)
	if err := m.check(c); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if err := m.checkNameFree(c); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if spec.DryRun {
		m.mu.Unlock()
		return c, nil
	}
	now := m.now().UTC()
	c.Generation++
	c.Status, c.Reason, c.UpdatedAt = core.ImageCacheCreating, "", now
	record(c, now, core.EventNormal, "Updating", fmt.Sprintf("Image cache updated with %d images; pulling them again", len(c.Images)))
	if err := m.o.Store.PutImageCache(ctx, c); err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("store image cache: %w", err)
	}
	m.caches[id] = c
	m.mu.Unlock()
	m.log.Info("image cache updated", "image_cache", id, "account", account, "generation", c.Generation)
	m.startBuild(c)
	return c, nil
}

// Delete stops the account's cache's build, releases its images and
// forgets it.
func (m *Manager) Delete(ctx context.Context, account, id string) error {
	if _, err := m.lookup(account, id); err != nil {
		return err
	}
	return m.remove(ctx, id, "deleted")
}

// remove stops a cache's build, releases its images and forgets it. The
// record goes last, so that a crash in between is finished by Start
// (Held lists it) or by the next delete.
func (m *Manager) remove(ctx context.Context, id, why string) error {
	m.stopBuild(id)
	if err := m.o.Puller.Release(ctx, id); err != nil {
		return fmt.Errorf("release the images of image cache %s: %w", id, err)
	}
	if err := m.o.Store.DeleteImageCache(ctx, id); err != nil {
		return fmt.Errorf("forget image cache %s: %w", id, err)
	}
	m.mu.Lock()
	delete(m.caches, id)
	m.mu.Unlock()
	m.log.Info("image cache removed", "image_cache", id, "why", why)
	return nil
}

// ExpireDue removes every cache whose RetentionDays have passed by the
// clock, and returns how many it removed.
func (m *Manager) ExpireDue(ctx context.Context) int {
	now := m.now()
	var due []string
	m.mu.Lock()
	for id, c := range m.caches {
		if at := c.ExpireAt(); !at.IsZero() && !now.Before(at) {
			due = append(due, id)
		}
	}
	m.mu.Unlock()
	sort.Strings(due)
	n := 0
	for _, id := range due {
		if err := m.remove(ctx, id, "expired"); err != nil {
			m.log.Warn("expire image cache; will retry", "image_cache", id, "err", err)
			continue
		}
		n++
	}
	return n
}

// apply sets the fields spec gives.
func apply(c *core.ImageCache, s Spec) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Name, s.Name)
	set(&c.SubnetID, s.SubnetID)
	set(&c.SecurityGroupID, s.SecurityGroupID)
	set(&c.Type, s.Type)
	if s.SizeGiB != nil {
		c.SizeGiB = *s.SizeGiB
	}
	if s.RetentionDays != nil {
		c.RetentionDays = *s.RetentionDays
	}
	if s.EnableWarm != nil {
		c.EnableWarm = *s.EnableWarm
	}
	if s.Images != nil {
		c.Images = slices.Clone(s.Images)
	}
	if s.SetCredentials {
		c.Credentials = slices.Clone(s.Credentials)
	}
}

// check validates a cache as it would be stored, naming wire parameters.
func (m *Manager) check(c *core.ImageCache) error {
	if c.Name != "" && !validName(c.Name) {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "ImageCacheName",
			"at most %d letters, digits, '-', '.' and '_', starting and ending with a letter or digit", MaxNameLen)
	}
	if c.SizeGiB < MinSizeGiB || c.SizeGiB > MaxSizeGiB {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "ImageCacheSize", "must be between %d and %d (GB)", MinSizeGiB, MaxSizeGiB)
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "RetentionDays", "must be between 0 (keep forever) and %d", MaxRetentionDays)
	}
	if c.Type != TypeCommon && c.Type != TypeRapid {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "ImageCacheType", "must be %s or %s", TypeCommon, TypeRapid)
	}
	if len(c.Images) == 0 {
		return &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "Image.N"}
	}
	if len(c.Images) > MaxImages {
		return errdefs.Param(errdefs.CodeInvalidParameterValue, "Image.N", "at most %d images; %d were given", MaxImages, len(c.Images))
	}
	seen := map[string]string{}
	for _, ref := range c.Images {
		n, err := Normalize(ref)
		if err != nil {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, "Image.N", "%q is not an image reference: %v", ref, err)
		}
		if prev, ok := seen[n]; ok {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, "Image.N", "%q and %q are the same image", prev, ref)
		}
		seen[n] = ref
	}
	for _, cr := range c.Credentials {
		if cr.Server == "" {
			return &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "ImageRegistryCredential.N.Server"}
		}
	}
	return nil
}

// checkNameFree refuses a name another cache of the account has. Callers
// hold mu.
func (m *Manager) checkNameFree(c *core.ImageCache) error {
	if c.Name == "" {
		return nil
	}
	for _, o := range m.caches {
		if o.ID != c.ID && o.AccountID == c.AccountID && o.Name == c.Name {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, "ImageCacheName", "image cache %s is already named %q; pick another name", o.ID, c.Name)
		}
	}
	return nil
}

// validName: ^[a-zA-Z0-9]([-a-zA-Z0-9._]*[a-zA-Z0-9])?$, at most 63.
func validName(s string) bool {
	if len(s) > MaxNameLen {
		return false
	}
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' }
	for i := 0; i < len(s); i++ {
		b := s[i]
		if alnum(b) {
			continue
		}
		if i == 0 || i == len(s)-1 || b != '-' && b != '.' && b != '_' {
			return false
		}
	}
	return true
}

// record adds an event to c, aggregating a repeat of the last one with the
// same type, reason and message, and keeps the newest MaxImageCacheEvents.
func record(c *core.ImageCache, now time.Time, typ, reason, msg string) {
	for i := range c.Events {
		e := &c.Events[i]
		if e.Type == typ && e.Reason == reason && e.Message == msg {
			e.Count++
			e.LastTimestamp = now
			return
		}
	}
	c.Events = append(c.Events, core.Event{Type: typ, Reason: reason, Message: msg, Count: 1, FirstTimestamp: now, LastTimestamp: now})
	if len(c.Events) > core.MaxImageCacheEvents {
		c.Events = c.Events[len(c.Events)-core.MaxImageCacheEvents:]
	}
}

// Query selects caches of one account for DescribeImageCache.
type Query struct {
	AccountID string
	// IDs, if any, select by ID; Name and Image are then ignored.
	IDs []string
	// Name and Image are case-insensitive substrings of the name and of
	// one of the images (as given or normalised).
	Name, Image string
	// SortByLastUsed orders by LastUsedTime (never used first), Desc
	// reverses; otherwise by creation, oldest first.
	SortByLastUsed, Desc bool
	Offset, Limit        int
}

// Describe returns one page of the account's matching caches and the
// total.
func (m *Manager) Describe(_ context.Context, q Query) ([]*core.ImageCache, int, error) {
	var all []*core.ImageCache
	m.mu.Lock()
	for _, c := range m.caches {
		if c.AccountID == q.AccountID {
			all = append(all, c)
		}
	}
	m.mu.Unlock()
	var out []*core.ImageCache
	for _, c := range all {
		switch {
		case len(q.IDs) > 0:
			if !slices.Contains(q.IDs, c.ID) {
				continue
			}
		case q.Name != "" && !strings.Contains(strings.ToLower(c.Name), strings.ToLower(q.Name)):
			continue
		case q.Image != "" && !holdsLike(c, q.Image):
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if q.SortByLastUsed && !a.LastUsedAt.Equal(b.LastUsedAt) {
			return a.LastUsedAt.Before(b.LastUsedAt) != q.Desc
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt) != (q.Desc && !q.SortByLastUsed)
		}
		return a.ID < b.ID
	})
	total := len(out)
	if q.Offset >= total {
		return nil, total, nil
	}
	return out[q.Offset:min(total, q.Offset+q.Limit)], total, nil
}

// holdsLike reports whether one of c's images contains s.
func holdsLike(c *core.ImageCache, s string) bool {
	s = strings.ToLower(s)
	for _, ref := range c.Images {
		n, _ := Normalize(ref)
		if strings.Contains(strings.ToLower(ref), s) || strings.Contains(strings.ToLower(n), s) {
			return true
		}
	}
	return false
}

// Match returns the account's Available caches that hold every one of
// images, most recently used first (then newest).
func (m *Manager) Match(_ context.Context, account string, images []string) ([]*core.ImageCache, error) {
	if len(images) == 0 {
		return nil, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "Image.N"}
	}
	if len(images) > MaxMatchImages {
		return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "Image.N", "at most %d images; %d were given", MaxMatchImages, len(images))
	}
	want := make([]string, len(images))
	for i, ref := range images {
		n, err := Normalize(ref)
		if err != nil {
			return nil, errdefs.Param(errdefs.CodeInvalidParameterValue, "Image.N", "%q is not an image reference: %v", ref, err)
		}
		want[i] = n
	}
	var out []*core.ImageCache
	m.mu.Lock()
	for _, c := range m.caches {
		if c.AccountID == account && c.Status == core.ImageCacheAvailable && covered(c, want) == len(want) {
			out = append(out, c)
		}
	}
	m.mu.Unlock()
	sortByUse(out)
	return out, nil
}

// sortByUse orders caches most recently used first, then newest, then ID.
func sortByUse(cs []*core.ImageCache) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.LastUsedAt.Equal(b.LastUsedAt) {
			return a.LastUsedAt.After(b.LastUsedAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID < b.ID
	})
}

// covered counts the normalised references of want that c holds.
func covered(c *core.ImageCache, want []string) int {
	n := 0
	for _, w := range want {
		if slices.ContainsFunc(c.Pulled, func(p core.CachedImage) bool { return p.Name == w }) {
			n++
		}
	}
	return n
}

// Events returns the account's cache's events, oldest first.
func (m *Manager) Events(_ context.Context, account, id string) ([]core.Event, error) {
	c, err := m.lookup(account, id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.Events), nil
}

// Cache returns the account's cache (for DryRun checks).
func (m *Manager) Cache(account, id string) (*core.ImageCache, error) {
	return m.lookup(account, id)
}

// ForGroup picks the cache a new group of the account starts from. With id, that cache, which must be the
// account's and Available (auto is then ignored, as the SDK documents);
// with auto, the Available cache of the account that holds most of images
// (ties: the most recently used), or none ("") if none holds any.
func (m *Manager) ForGroup(_ context.Context, account, id string, auto bool, images []string) (string, error) {
	var c *core.ImageCache
	switch {
	case id != "":
		var err error
		if c, err = m.lookup(account, id); err != nil {
			return "", errdefs.Param(errdefs.CodeInvalidParameterValue, "ImageCacheId", "image cache %q does not exist", id)
		}
		if c.Status != core.ImageCacheAvailable {
			return "", errdefs.New(errdefs.ErrFailedPrecondition, "image cache %s (ImageCacheId) is %s, not Available; wait for it (DescribeImageCache), or leave ImageCacheId out to pull the images", id, c.Status)
		}
	case auto:
		var want []string
		for _, ref := range images {
			if n, err := Normalize(ref); err == nil {
				want = append(want, n)
			}
		}
		var best []*core.ImageCache
		bestN := 0
		m.mu.Lock()
		for _, o := range m.caches {
			if o.AccountID != account || o.Status != core.ImageCacheAvailable {
				continue
			}
			switch n := covered(o, want); {
			case n > bestN:
				best, bestN = []*core.ImageCache{o}, n
			case n == bestN && n > 0:
				best = append(best, o)
			}
		}
		m.mu.Unlock()
		if len(best) == 0 {
			return "", nil
		}
		sortByUse(best)
		c = best[0]
	default:
		return "", nil
	}
	return c.ID, nil
}

// MarkUsed moves a cache's LastUsedTime to now. A failure to persist it is
// logged: the group is not refused for it.
func (m *Manager) MarkUsed(ctx context.Context, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.caches[id]
	if old == nil {
		return
	}
	c := old.Clone()
	c.LastUsedAt = m.now().UTC()
	if err := m.o.Store.PutImageCache(ctx, c); err != nil {
		m.log.Warn("record the use of an image cache", "image_cache", id, "err", err)
		return
	}
	m.caches[id] = c
}

// startBuild starts pulling c's images, cancelling a build of an older
// generation.
func (m *Manager) startBuild(c *core.ImageCache) {
	m.stopBuild(c.ID)
	ctx, cancel := context.WithCancel(m.ctx)
	b := &build{generation: c.Generation, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	if cur := m.caches[c.ID]; cur == nil || cur.Generation != c.Generation {
		// Deleted, or updated again, since: that call has its own build.
		m.mu.Unlock()
		cancel()
		return
	}
	m.builds[c.ID] = b
	m.mu.Unlock()
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		defer close(b.done)
		defer cancel()
		m.run(ctx, c.Clone())
		m.mu.Lock()
		if m.builds[c.ID] == b {
			delete(m.builds, c.ID)
		}
		m.mu.Unlock()
	}()
}

// stopBuild cancels a cache's build in flight and waits for it to end.
func (m *Manager) stopBuild(id string) {
	m.mu.Lock()
	b := m.builds[id]
	delete(m.builds, id)
	m.mu.Unlock()
	if b != nil {
		b.cancel()
		<-b.done
	}
}

// errTooLarge: the images exceed the cache's size.
var errTooLarge = errors.New("the images exceed ImageCacheSize")

// run is one build: fill, then Available or Failed.
func (m *Manager) run(ctx context.Context, c *core.ImageCache) {
	rep := &reporter{m: m, ctx: ctx, id: c.ID, gen: c.Generation, limit: int64(c.SizeGiB) << 30, last: map[string]time.Time{}}
	began := m.now()
	err := m.o.Puller.Fill(ctx, c, rep)
	if ctx.Err() != nil {
		return // cancelled: a newer build, a delete, or Close
	}
	if m.get(c.ID) == nil {
		// Deleted while the fill ran past the delete's release.
		if err := m.o.Puller.Release(m.ctx, c.ID); err != nil {
			m.log.Warn("release the images of a deleted image cache", "image_cache", c.ID, "err", err)
		}
		return
	}
	m.finish(c.ID, c.Generation, rep, err, m.now().Sub(began))
}

// finish records the outcome of a build of generation gen.
func (m *Manager) finish(id string, gen int, rep *reporter, err error, took time.Duration) {
	if err != nil {
		m.log.Warn("image cache failed", "image_cache", id, "err", err)
		// What a failed cache held is of no use to groups: release it
		// before the cache shows Failed.
		if rerr := m.o.Puller.Release(m.ctx, id); rerr != nil {
			m.log.Warn("release the images of a failed image cache", "image_cache", id, "err", rerr)
		}
	}
	m.update(id, gen, func(c *core.ImageCache, now time.Time) {
		if err != nil {
			c.Pulled = nil
			c.Status = core.ImageCacheFailed
			c.Reason = reason(err, rep, c)
			record(c, now, core.EventWarning, "Failed", c.Reason)
			return
		}
		c.Pulled = rep.pulled
		c.Status, c.Reason = core.ImageCacheAvailable, ""
		record(c, now, core.EventNormal, "Available", fmt.Sprintf("Image cache is available: %d images, %s, pulled in %s",
			len(c.Pulled), humanBytes(c.Bytes()), took.Round(100*time.Millisecond)))
	})
	if err == nil {
		m.log.Info("image cache available", "image_cache", id, "took", took)
	}
}

// reason is the public text of a build's failure.
func reason(err error, rep *reporter, c *core.ImageCache) string {
	if errors.Is(err, errTooLarge) {
		return fmt.Sprintf("the images need %s, more than ImageCacheSize %d GB; give a larger size or fewer images", humanBytes(rep.total), c.SizeGiB)
	}
	if pub := errdefs.PublicMessage(err); pub != "" {
		return pub
	}
	return err.Error()
}

// update applies f to the cache's current value if it is still of
// generation gen, and persists it.
func (m *Manager) update(id string, gen int, f func(c *core.ImageCache, now time.Time)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.caches[id]
	if old == nil || old.Generation != gen {
		return
	}
	c := old.Clone()
	f(c, m.now().UTC())
	if err := m.o.Store.PutImageCache(context.WithoutCancel(m.ctx), c); err != nil {
		m.log.Warn("store image cache", "image_cache", id, "err", err)
		return
	}
	m.caches[id] = c
}

// reporter turns a Puller's reports into the cache's events.
type reporter struct {
	m     *Manager
	ctx   context.Context
	id    string
	gen   int
	limit int64

	mu     sync.Mutex
	pulled []core.CachedImage
	total  int64
	last   map[string]time.Time // last persisted progress per image
}

func (r *reporter) Pulling(ref string) {
	r.m.update(r.id, r.gen, func(c *core.ImageCache, now time.Time) {
		record(c, now, core.EventNormal, "Pulling", fmt.Sprintf("Pulling image `%s`", ref))
	})
}

func (r *reporter) Progress(ref string, done, total int64) {
	r.mu.Lock()
	if t, ok := r.last[ref]; ok && time.Since(t) < r.m.o.ProgressInterval {
		r.mu.Unlock()
		return
	}
	r.last[ref] = time.Now()
	r.mu.Unlock()
	msg := fmt.Sprintf("Image `%s`: %s fetched", ref, humanBytes(done))
	if total > 0 {
		msg = fmt.Sprintf("Image `%s`: %s of %s fetched (%d%%)", ref, humanBytes(done), humanBytes(total), done*100/total)
	}
	r.m.update(r.id, r.gen, func(c *core.ImageCache, now time.Time) {
		progress(c, now, ref, msg)
	})
}

// progress keeps one PullProgress event per image, its message replaced.
func progress(c *core.ImageCache, now time.Time, ref, msg string) {
	prefix := fmt.Sprintf("Image `%s`: ", ref)
	for i := range c.Events {
		e := &c.Events[i]
		if e.Reason == "PullProgress" && strings.HasPrefix(e.Message, prefix) {
			e.Message, e.LastTimestamp = msg, now
			e.Count++
			return
		}
	}
	record(c, now, core.EventNormal, "PullProgress", msg)
}

func (r *reporter) Pulled(img core.CachedImage) error {
	r.mu.Lock()
	r.pulled = append(r.pulled, img)
	r.total += img.Bytes
	total := r.total
	r.mu.Unlock()
	r.m.update(r.id, r.gen, func(c *core.ImageCache, now time.Time) {
		record(c, now, core.EventNormal, "Pulled", fmt.Sprintf("Image `%s` is in the cache (%s)", img.Ref, humanBytes(img.Bytes)))
	})
	if total > r.limit {
		return errTooLarge
	}
	return nil
}

// humanBytes renders a size as the console does: 1.5 GiB, 12.3 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
