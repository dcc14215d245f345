package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// AnnotationDeletedAt marks a pod whose group's deletion was accepted
// (RFC 3339): every replica hides the group from then on, and a restarted
// kcid resumes the deletion.
const AnnotationDeletedAt = prefix + "deleted-at"

// view is a cached Store value of one pod.
type view struct {
	ip      string
	deleted time.Time
	g       *core.Group
}

// Store is service.Store on the cluster: the groups are the pods' group
// annotations, read from the runtime's informer cache, with the pod IP as
// PrivateIpAddress. Nothing is kept elsewhere, so kcid replicas over one
// cluster serve the same groups and a restarted kcid loses nothing. It is
// neither a service.IPAllocator nor a service.CapacityTracker: the cluster
// gives the addresses and the scheduler places the pods. A pod whose
// annotation cannot be read is reported, never hidden silently nor
// removed (reportUndecodable).
//
// A group exists in the cluster from the moment Runtime.Start created its
// pod; between CreateGroup and that moment only this replica sees it.
type Store struct{ r *Runtime }

// Store returns the cluster-backed store of this runtime.
func (r *Runtime) Store() *Store { return &Store{r: r} }

// viewOf is the group a pod carries, with its IP and deletion time; nil if
// the pod carries none.
func (s *Store) viewOf(p *corev1.Pod) *core.Group {
	r := s.r
	if !r.ours(p.Namespace) {
		return nil
	}
	g, err := r.group(p)
	if err != nil {
		r.reportUndecodable(p, err)
		return nil
	}
	var del time.Time
	if v, ok := p.Annotations[AnnotationDeletedAt]; ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			del = t
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.deleting[g.ID]; ok && del.IsZero() {
		del = t
	}
	// A pod deleted by someone else (DeletionTimestamp without the mark)
	// is not a deleted group: the group stays, Failed (see goneEvent).
	ip := p.Status.PodIP
	if v, ok := r.views[p.UID]; ok && v.ip == ip && v.deleted.Equal(del) && p.UID != "" {
		return v.g
	}
	c := *g
	c.Network.PrivateIP = ip
	if !del.IsZero() {
		t := del
		c.DeletedAt = &t
	}
	if p.UID != "" {
		r.views[p.UID] = view{ip: ip, deleted: del, g: &c}
	}
	return &c
}

// cachedList is a sorted result of all at a generation.
type cachedList struct {
	gen    uint64
	groups []*core.Group
}

// all returns every group (deleting ones too), optionally of one account,
// in Describe order. The result is shared: callers must not modify it. It
// is cached per account until anything changes (a pod event, a create or a
// deletion mark).
func (s *Store) all(accountID string) []*core.Group {
	r := s.r
	gen := r.gen.Load()
	r.mu.Lock()
	c, ok := r.lists[accountID]
	r.mu.Unlock()
	if ok && c.gen == gen {
		return c.groups
	}
	out := s.build(accountID)
	r.mu.Lock()
	if len(r.lists) > 10000 {
		clear(r.lists)
	}
	r.lists[accountID] = cachedList{gen: gen, groups: out}
	r.mu.Unlock()
	return out
}

func (s *Store) build(accountID string) []*core.Group {
	r := s.r
	var objs []any
	if accountID == "" {
		objs = r.pods.GetIndexer().List()
	} else {
		objs, _ = r.pods.GetIndexer().ByIndex(indexAccount, labelValue(accountID))
	}
	r.mu.Lock()
	for _, p := range r.pending {
		objs = append(objs, p)
	}
	creating := make([]*core.Group, 0, len(r.creating))
	for _, g := range r.creating {
		creating = append(creating, g)
	}
	r.mu.Unlock()
	seen := map[string]bool{}
	var out []*core.Group
	add := func(g *core.Group) {
		if g == nil || seen[g.ID] || (accountID != "" && g.AccountID != accountID) {
			return
		}
		seen[g.ID] = true
		out = append(out, g)
	}
	for _, o := range objs {
		add(s.viewOf(o.(*corev1.Pod)))
	}
	for _, g := range creating {
		add(g)
	}
	slices.SortFunc(out, func(a, b *core.Group) int {
		switch {
		case a.Before(b):
			return -1
		case b.Before(a):
			return 1
		}
		return 0
	})
	return out
}

// Groups returns every group, including those being deleted. Pods whose
// group annotation cannot be read are not among them; each is reported
// (reportUndecodable) and left alone.
func (s *Store) Groups(context.Context) ([]*core.Group, error) {
	return slices.Clone(s.all("")), nil
}

// Group returns one group (also one being deleted); an error wrapping
// errdefs.ErrNotFound if there is none.
func (s *Store) Group(_ context.Context, id string) (*core.Group, error) {
	if p := s.r.pod(id); p != nil {
		if g := s.viewOf(p); g != nil {
			return g, nil
		}
		return nil, &kcierr.NotFoundError{Kind: "ContainerGroup", ID: id}
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if g := s.r.creating[labelValue(id)]; g != nil {
		return g, nil
	}
	return nil, &kcierr.NotFoundError{Kind: "ContainerGroup", ID: id}
}

// LiveGroups returns the account's groups not being deleted, oldest first,
// ID breaking ties.
func (s *Store) LiveGroups(_ context.Context, accountID string) ([]*core.Group, error) {
	all := s.all(accountID)
	out := make([]*core.Group, 0, len(all))
	for _, g := range all {
		if g.DeletedAt == nil {
			out = append(out, g)
		}
	}
	return out, nil
}

// CreateGroup records a group until Runtime.Start creates its pod, which is
// what stores it in the cluster. ErrConflict if the ID is taken.
func (s *Store) CreateGroup(_ context.Context, g *core.Group) error {
	if s.r.pod(g.ID) != nil {
		return fmt.Errorf("group %s: %w", g.ID, kcierr.ErrConflict)
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	key := labelValue(g.ID)
	if s.r.creating[key] != nil {
		return fmt.Errorf("group %s: %w", g.ID, kcierr.ErrConflict)
	}
	s.r.creating[key] = g
	s.r.gen.Add(1)
	return nil
}

// MarkDeleting annotates the group's pod with the deletion time, so that
// every replica hides it, and returns the group as stored. ErrNotFound if
// it is missing or already being deleted (also when another replica won a
// race: the annotation is set under the pod's resourceVersion).
func (s *Store) MarkDeleting(ctx context.Context, id string, at time.Time) (*core.Group, error) {
	r := s.r
	nf := &kcierr.NotFoundError{Kind: "ContainerGroup", ID: id}
	p := r.pod(id)
	if p == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		g := r.creating[labelValue(id)]
		if g == nil || g.DeletedAt != nil {
			return nil, nf
		}
		c := *g
		t := at.UTC()
		c.DeletedAt = &t
		r.creating[labelValue(id)] = &c
		r.gen.Add(1)
		return &c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if g := s.viewOf(p); g == nil || g.DeletedAt != nil {
			return nil, nf
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": p.ResourceVersion,
			"annotations":     map[string]string{AnnotationDeletedAt: at.UTC().Format(time.RFC3339Nano)},
		}})
		if err != nil {
			return nil, err
		}
		patched, err := r.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nf
		}
		if apierrors.IsConflict(err) && attempt < 5 {
			if p, err = r.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, nf
				}
				return nil, classify("get pod", err)
			}
			continue
		}
		if err != nil {
			return nil, classify("mark pod deleting", err)
		}
		g := s.viewOf(patched)
		if g == nil {
			return nil, nf
		}
		r.mu.Lock()
		r.deleting[id] = at.UTC()
		r.mu.Unlock()
		r.gen.Add(1)
		return g, nil
	}
}

// PurgeGroup forgets what this replica holds of a group once Remove has
// deleted its pod; idempotent.
func (s *Store) PurgeGroup(_ context.Context, id string) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	key := labelValue(id)
	delete(s.r.creating, key)
	delete(s.r.deleting, id)
	delete(s.r.pending, key)
	s.r.gen.Add(1)
	return nil
}

// ReasonUndecodableGroup is the reason of the Warning event on a pod of
// this runtime whose group annotation cannot be read.
const ReasonUndecodableGroup = "UndecodableGroup"

// reportUndecodable tells the operator about a pod of this runtime whose
// group annotation cannot be read (damaged, or written by a newer kcid):
// an error log naming the pod for each version of it, and one Warning
// event on the pod (kubectl describe pod). The pod is left alone — Sync
// never removes it as an orphan — and its group is not served until the
// annotation is fixed or the pod deleted.
func (r *Runtime) reportUndecodable(p *corev1.Pod, err error) {
	r.mu.Lock()
	rv, seen := r.undecodable[p.UID]
	if seen && rv == p.ResourceVersion {
		r.mu.Unlock()
		return
	}
	r.undecodable[p.UID] = p.ResourceVersion
	r.mu.Unlock()
	r.log.Error("a pod's group cannot be read: its group is not served and kcid leaves the pod alone; fix its annotation (docs/state.md) or delete the pod",
		"namespace", p.Namespace, "pod", p.Name, "annotation", AnnotationGroup, "err", err)
	if seen {
		return
	}
	now := metav1.NewTime(r.cfg.Clock.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace,
			Labels: map[string]string{LabelManagedBy: ManagedByValue}},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, ResourceVersion: p.ResourceVersion},
		Type: corev1.EventTypeWarning, Reason: ReasonUndecodableGroup,
		Message: fmt.Sprintf("kcid cannot read annotation %s (%v): the container group of this pod is not served, and kcid leaves the pod alone; fix the annotation or delete the pod", AnnotationGroup, err),
		Source:  corev1.EventSource{Component: "kcid"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "kcid",
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
		defer cancel()
		if _, err := r.cs.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			r.log.Warn("record event on a pod whose group cannot be read", "namespace", p.Namespace, "pod", p.Name, "err", err)
		}
	}()
}
