// Package kube runs OpenKCI container groups as pods of a Kubernetes
// cluster: it implements service.Runtime on client-go, and keeps everything
// it knows in the cluster so that kcid replicas hold no state of their own.
//
// What it owns (see docs/kubernetes.md for every mapping choice):
//
//   - a namespace per account, Config.NamespacePrefix + account ID
//     ("kci-2000000001"), created on first use, labelled
//     app.kubernetes.io/managed-by=openkci;
//   - per group, a pod named by the group ID, labelled with the group's ID,
//     account, name, region, zone, subnet, VPC, charge type and security
//     groups, and annotated with the whole group as JSON (registry passwords
//     and config file contents removed: they live in the owned Secrets);
//   - the objects a pod owns (ownerReferences, so the garbage collector
//     removes them with it): one Opaque Secret per ConfigFileVolume, a
//     kubernetes.io/dockerconfigjson Secret for ImageRegistryCredential, and
//     a PersistentVolumeClaim per EBSVolume bound to the disk's pre-created
//     PersistentVolume;
//   - per disk made on demand, a PersistentVolumeClaim kci-disk-<disk id>
//     in the account's namespace, owned by no pod, which outlives its group
//     unless DeleteWithInstance (disks.go);
//   - per image cache, a DaemonSet kci-<cache id> and its pull Secret in the
//     account's namespace, labelled kci.openkci.io/image-cache and not
//     managed-by, so the group machinery never sees them (imagecache.go);
//   - per security group used in an account's namespace, a NetworkPolicy
//     kci-sg-<id> there, which also keeps VPCs apart (networkpolicy.go).
//
// Reads come from informer caches (pods selected by the managed-by label,
// pod Events by involvedObject.kind), never from a list per request. Status
// maps the pod status through internal/lifecycle, so phase, container
// states and restart counts follow the containerd runtime's rules.
package kube

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// Config configures a Runtime. Zero fields take the defaults shown.
type Config struct {
	// Client talks to the cluster. When nil, one is built from Kubeconfig,
	// or from the in-cluster service account when Kubeconfig is empty (and
	// $KUBECONFIG is unset).
	Client     kubernetes.Interface
	Kubeconfig string
	// REST is the client configuration of pods/exec streams. When nil it
	// is the one Client is built from; with a Client given and REST nil,
	// Exec is refused.
	REST *rest.Config
	// QPS and Burst of the built client (50, 100).
	QPS   float32
	Burst int
	// NamespacePrefix + account ID is an account's namespace ("kci-").
	NamespacePrefix string
	// StopGrace is the pods' termination grace period (30s).
	StopGrace time.Duration
	// Resources says how group CPU/memory map to the pod (ResourcesAuto).
	Resources ResourceMode
	// DiskPVPrefix + lower-cased disk ID names the PersistentVolume an
	// operator pre-created for an EBS disk ("kci-disk-"). A PV labelled
	// kci.openkci.io/disk-id=<disk ID> is found as well.
	DiskPVPrefix string
	// DiskStorageClasses name, by disk type ("*": every other type), the
	// StorageClass of the claims of disks made on demand; a type without
	// one gets the cluster's default class (disks.go).
	DiskStorageClasses map[string]string
	// GPUResource is the extended resource a container's GPUs are asked
	// for as (config node.gpus.kubernetesResource, e.g. nvidia.com/gpu):
	// Container.N.Gpu becomes resources.limits[GPUResource]. Empty: a
	// group with GPUs is refused.
	GPUResource string
	// RequestTimeout bounds the cluster calls of one Start, Status or Logs
	// (30s): a slow cluster is an error, never a hung request.
	RequestTimeout time.Duration
	// SyncTimeout bounds the initial cache sync of New (60s).
	SyncTimeout time.Duration
	// OrphanGrace: Sync removes pods and owned objects that no listed group
	// explains only when they are older than this (2m), so that a replica
	// starting never removes what another one is creating.
	OrphanGrace time.Duration
	// MaxEvents bounds the distinct events of a group (100).
	MaxEvents int
	// ResyncInterval is how often the runtime puts its finalizer on pods
	// that lack it (30s); see reconcile.go.
	ResyncInterval time.Duration
	Logger         *slog.Logger
	Clock          clock.Clock
	// Observer, if set, is told of restarts and start-up times (metrics).
	Observer Observer
	// PodCIDRs are the address ranges the cluster gives pods. Security
	// groups' NetworkPolicies keep them out of their ipBlocks, so pods are
	// matched by their VPC and never by address: pods of other VPCs stay
	// apart (docs/networking.md). Empty: the nodes' spec.podCIDRs.
	PodCIDRs []netip.Prefix
	// ImageCacheHelper is an image with a static busybox at /bin/busybox,
	// the command of image caches' pods (imagecache.go); without it image
	// caches fail, saying so.
	ImageCacheHelper string
}

func (c *Config) setDefaults() {
	if c.QPS == 0 {
		c.QPS = 50
	}
	if c.Burst == 0 {
		c.Burst = 100
	}
	if c.NamespacePrefix == "" {
		c.NamespacePrefix = "kci-"
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 30 * time.Second
	}
	if c.DiskPVPrefix == "" {
		c.DiskPVPrefix = "kci-disk-"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 60 * time.Second
	}
	if c.OrphanGrace <= 0 {
		c.OrphanGrace = 2 * time.Minute
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 100
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Clock = clock.Or(c.Clock)
}

// RESTConfig loads the client configuration: the kubeconfig file when given
// (or $KUBECONFIG), else the in-cluster service account.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	if kubeconfig == "" && rules.GetDefaultFilename() == "" {
		return rest.InClusterConfig()
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil && kubeconfig == "" {
		if ic, ierr := rest.InClusterConfig(); ierr == nil {
			return ic, nil
		}
	}
	return cfg, err
}

// Index names of the informer caches.
const (
	indexGroup   = "group"
	indexAccount = "account"
	indexPodUID  = "pod-uid"
)

// Runtime runs groups as pods. Create it with New; it is safe for
// concurrent use. Close stops its caches and leaves the pods running.
type Runtime struct {
	cfg   Config
	log   *slog.Logger
	cs    kubernetes.Interface
	m     mapping
	pods  cache.SharedIndexInformer
	evs   cache.SharedIndexInformer
	stop  chan struct{}
	close sync.Once

	nsMu    sync.Mutex
	nsKnown map[string]bool

	mu sync.Mutex
	// pending holds pods this runtime created that its cache has not seen
	// yet, so that Status right after Start finds them.
	pending map[string]*corev1.Pod // group-id label value → pod
	// groups caches decoded annotations by pod UID (they never change).
	groups map[types.UID]*core.Group
	// views caches what Store returns for a pod: the group with the pod's
	// IP and deletion time.
	views map[types.UID]view
	// creating holds groups stored (Store.CreateGroup) whose pod Start has
	// not created yet.
	creating map[string]*core.Group // group-id label value → group
	// deleting holds deletions this replica marked (Store.MarkDeleting)
	// until its cache shows them.
	deleting map[string]time.Time // raw group ID → when
	// gen counts changes of anything Store reads (pod events, creating,
	// deleting); lists caches Store's sorted lists per account at a gen.
	gen   atomic.Uint64
	lists map[string]cachedList
	// undecodable maps pods whose group annotation could not be read to
	// the resourceVersion last reported (reportUndecodable).
	undecodable map[types.UID]string
	// watched is when the watches delivered each start step and event
	// (the start timeline's and the events' milliseconds).
	watched *watchTimes

	// summaries caches the kubelets' stats summaries (GroupStats).
	summaries nodeSummaries

	// sgRules reads a security group's rules; nil: security groups are
	// not enforced (no NetworkPolicies). Guarded by mu.
	sgRules func(id string) ([]core.SecurityGroupRule, bool)
	// podRanges are the cluster's pod address ranges (Config.PodCIDRs or
	// the nodes' podCIDRs), kept out of the policies' ipBlocks for VPC
	// isolation (networkpolicy.go).
	podRanges []netip.Prefix
}

// New connects to the cluster, starts the informers and waits for their
// first sync. It touches no group: call Sync to reconcile.
func New(cfg Config) (*Runtime, error) {
	cfg.setDefaults()
	if cfg.Client == nil {
		rc, err := RESTConfig(cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubernetes client config: %w", err)
		}
		rc = rest.CopyConfig(rc)
		rc.QPS, rc.Burst = cfg.QPS, cfg.Burst
		rc.UserAgent = "kcid"
		if cfg.Client, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("kubernetes client: %w", err)
		}
		if cfg.REST == nil {
			cfg.REST = rc
		}
	}
	if len(namespaceName(cfg.NamespacePrefix, "0")) > 63 || !dns1123Label.MatchString(cfg.NamespacePrefix+"0") {
		return nil, fmt.Errorf("namespace prefix %q: %w", cfg.NamespacePrefix, kcierr.ErrInvalidArgument)
	}
	r := &Runtime{
		cfg: cfg, cs: cfg.Client,
		log: cfg.Logger.With("component", "runtime/kube"),
		m: mapping{namespacePrefix: cfg.NamespacePrefix, grace: int64(cfg.StopGrace / time.Second), resources: cfg.Resources,
			gpuResource: corev1.ResourceName(cfg.GPUResource)},
		stop:    make(chan struct{}),
		nsKnown: map[string]bool{},
		pending: map[string]*corev1.Pod{},
		groups:  map[types.UID]*core.Group{},
		views:   map[types.UID]view{},

		creating: map[string]*core.Group{},
		deleting: map[string]time.Time{},
		lists:    map[string]cachedList{},

		undecodable: map[types.UID]string{},
		watched:     newWatchTimes(),
	}
	if r.m.resources == ResourcesAuto {
		r.m.resources = r.detectResources()
	}
	r.podRanges = r.clusterPodRanges()
	if err := r.startInformers(); err != nil {
		r.Close()
		return nil, err
	}
	go r.resyncLoop()
	return r, nil
}

// detectResources picks pod-level resources on v1.34+ clusters.
func (r *Runtime) detectResources() ResourceMode {
	info, err := r.cs.Discovery().ServerVersion()
	if err != nil {
		r.log.Warn("server version unknown; spreading group resources over containers", "err", err)
		return ResourcesContainers
	}
	v, err := version.ParseGeneric(info.GitVersion)
	if err != nil || v.LessThan(version.MajorMinor(1, 34)) {
		r.log.Info("cluster without pod-level resources by default; spreading group resources over containers", "version", info.GitVersion)
		return ResourcesContainers
	}
	return ResourcesPod
}

func (r *Runtime) ours(ns string) bool { return strings.HasPrefix(ns, r.cfg.NamespacePrefix) }

func (r *Runtime) startInformers() error {
	pf := informers.NewSharedInformerFactoryWithOptions(r.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{LabelManagedBy: ManagedByValue}.String()
		}))
	r.pods = pf.Core().V1().Pods().Informer()
	if err := r.pods.AddIndexers(cache.Indexers{
		indexGroup: func(obj any) ([]string, error) {
			p, ok := obj.(*corev1.Pod)
			if !ok || !r.ours(p.Namespace) || p.Labels[LabelGroupID] == "" {
				return nil, nil
			}
			return []string{p.Labels[LabelGroupID]}, nil
		},
		indexAccount: func(obj any) ([]string, error) {
			p, ok := obj.(*corev1.Pod)
			if !ok || !r.ours(p.Namespace) {
				return nil, nil
			}
			return []string{p.Labels[LabelAccountID]}, nil
		},
	}); err != nil {
		return err
	}
	if _, err := r.pods.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { r.podSeen(obj); r.watchPodSteps(obj, initial) },
		UpdateFunc: func(o, n any) { r.podSeen(n); r.observePodUpdate(o, n); r.watchPodSteps(n, false) },
		DeleteFunc: r.podGone,
	}); err != nil {
		return err
	}
	ef := informers.NewSharedInformerFactoryWithOptions(r.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("involvedObject.kind", "Pod").String()
		}),
		informers.WithTransform(r.trimEvent))
	r.evs = ef.Core().V1().Events().Informer()
	if err := r.evs.AddIndexers(cache.Indexers{
		indexPodUID: func(obj any) ([]string, error) {
			e, ok := obj.(*corev1.Event)
			if !ok || !r.ours(e.Namespace) || e.InvolvedObject.UID == "" {
				return nil, nil
			}
			return []string{string(e.InvolvedObject.UID)}, nil
		},
	}); err != nil {
		return err
	}
	if _, err := r.evs.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if e, ok := obj.(*corev1.Event); ok && !initial && r.ours(e.Namespace) {
				r.watched.eventArrived(nil, e, r.cfg.Clock.Now())
				r.watchEventStep(e)
				r.observeEvent(nil, e)
			}
		},
		UpdateFunc: func(o, n any) {
			old, ok1 := o.(*corev1.Event)
			e, ok2 := n.(*corev1.Event)
			if ok1 && ok2 && r.ours(e.Namespace) {
				r.watched.eventArrived(old, e, r.cfg.Clock.Now())
				r.observeEvent(old, e)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if e, ok := obj.(*corev1.Event); ok {
				r.watched.eventGone(e.UID)
			}
		},
	}); err != nil {
		return err
	}
	pf.Start(r.stop)
	ef.Start(r.stop)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.SyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), r.pods.HasSynced, r.evs.HasSynced) {
		return fmt.Errorf("kubernetes caches did not sync within %s (is the apiserver reachable, may kcid list/watch pods and events?): %w",
			r.cfg.SyncTimeout, kcierr.ErrUnavailable)
	}
	return nil
}

// trimEvent keeps only a stub of events outside our namespaces: the events
// informer is cluster-wide (one watch for every account).
func (r *Runtime) trimEvent(obj any) (any, error) {
	e, ok := obj.(*corev1.Event)
	if !ok || r.ours(e.Namespace) {
		return obj, nil
	}
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{
		Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion,
	}}, nil
}

func (r *Runtime) podSeen(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.gen.Add(1)
	r.mu.Lock()
	if q := r.pending[p.Labels[LabelGroupID]]; q != nil && q.UID == p.UID {
		delete(r.pending, p.Labels[LabelGroupID])
	}
	delete(r.creating, p.Labels[LabelGroupID])
	r.mu.Unlock()
}

func (r *Runtime) podGone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.gen.Add(1)
	r.mu.Lock()
	if g := r.groups[p.UID]; g != nil {
		delete(r.deleting, g.ID)
	}
	delete(r.groups, p.UID)
	delete(r.views, p.UID)
	r.mu.Unlock()
	r.watched.podGone(p.UID)
}

// Close stops the caches. Pods keep running.
func (r *Runtime) Close() {
	r.close.Do(func() { close(r.stop) })
}

// pod returns the group's pod from the cache (or a pod just created), nil
// if there is none.
func (r *Runtime) pod(groupID string) *corev1.Pod {
	key := labelValue(groupID)
	objs, _ := r.pods.GetIndexer().ByIndex(indexGroup, key)
	var best *corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	if best != nil {
		return best
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[key]
}

// group decodes (once per pod) the group a pod carries.
func (r *Runtime) group(p *corev1.Pod) (*core.Group, error) {
	r.mu.Lock()
	g := r.groups[p.UID]
	r.mu.Unlock()
	if g != nil {
		return g, nil
	}
	g, err := decodeGroup(p)
	if err != nil {
		return nil, err
	}
	if p.UID != "" {
		r.mu.Lock()
		r.groups[p.UID] = g
		r.mu.Unlock()
	}
	return g, nil
}

// ensureNamespace creates the account's namespace once.
func (r *Runtime) ensureNamespace(ctx context.Context, ns, accountID string) error {
	r.nsMu.Lock()
	known := r.nsKnown[ns]
	r.nsMu.Unlock()
	if known {
		return nil
	}
	_, err := r.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        ns,
		Labels:      map[string]string{LabelManagedBy: ManagedByValue, LabelAccountID: labelValue(accountID)},
		Annotations: map[string]string{AnnotationAccountID: accountID},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return classify("create namespace "+ns, err)
	}
	r.nsMu.Lock()
	r.nsKnown[ns] = true
	r.nsMu.Unlock()
	return nil
}

// Start creates the group's owned objects, then its pod, then makes the pod
// their owner. It returns once the pod is accepted by the apiserver;
// scheduling, pulling and starting show in Status. A group that already has
// a pod is left alone.
func (r *Runtime) Start(ctx context.Context, g *core.Group) (err error) {
	if r.pod(g.ID) != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	objs, err := r.m.build(g)
	if err != nil {
		return fmt.Errorf("map group %s: %w: %w", g.ID, kcierr.ErrInvalidArgument, err)
	}
	ns := objs.Pod.Namespace
	if err := r.ensureNamespace(ctx, ns, g.AccountID); err != nil {
		return err
	}
	// The pod is filtered from its first packet: its security groups'
	// policies come first.
	if err := r.groupPolicies(ctx, ns, g); err != nil {
		return err
	}
	foreign, err := r.foreignCachedImages(ctx, g.AccountID)
	if err != nil {
		return err
	}
	forced := useCache(objs.Pod, r.cachedImages(ctx, g, ns), foreign)
	for _, s := range objs.Secrets {
		_, err := r.cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // a retry: make it current
			_, err = r.cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
		}
		if err != nil {
			return classify("create secret "+s.Name, err)
		}
	}
	made, err := r.claimMadeDisks(ctx, g, ns)
	defer func() {
		if err != nil {
			r.undoMadeDisks(context.WithoutCancel(ctx), g, ns, made)
		}
	}()
	if err != nil {
		return err
	}
	for _, c := range objs.Claims {
		if err := r.bindDisk(ctx, c); err != nil {
			return err
		}
		if _, err := r.cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return classify("create claim "+c.Name, err)
		}
	}
	created, err := r.cs.CoreV1().Pods(ns).Create(ctx, objs.Pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return classify("create pod", err)
	}
	r.mu.Lock()
	if r.pods.GetIndexer() != nil {
		if _, exists, _ := r.pods.GetIndexer().Get(created); !exists {
			r.pending[labelValue(g.ID)] = created
		}
	}
	r.mu.Unlock()
	if err := r.adopt(ctx, created, objs); err != nil {
		return err
	}
	r.recordForcedPulls(ctx, created, forced)
	r.log.Info("pod created", "group", g.ID, "namespace", ns, "pod", created.Name)
	return nil
}

// adopt makes the pod the controller owner of its Secrets and claims, so
// that the garbage collector deletes them with it.
func (r *Runtime) adopt(ctx context.Context, p *corev1.Pod, objs *objects) error {
	t := true
	ref := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID, Controller: &t, BlockOwnerDeletion: &t}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{ref}}})
	if err != nil {
		return err
	}
	for _, s := range objs.Secrets {
		if _, err := r.cs.CoreV1().Secrets(p.Namespace).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return classify("own secret "+s.Name, err)
		}
	}
	for _, c := range objs.Claims {
		if _, err := r.cs.CoreV1().PersistentVolumeClaims(p.Namespace).Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return classify("own claim "+c.Name, err)
		}
	}
	return nil
}

// diskPV finds the PersistentVolume of a disk: named DiskPVPrefix + the
// lower-cased disk ID, or labelled kci.openkci.io/disk-id=<disk ID>.
func (r *Runtime) diskPV(ctx context.Context, diskID string) (*corev1.PersistentVolume, error) {
	pv, err := r.cs.CoreV1().PersistentVolumes().Get(ctx, r.cfg.DiskPVPrefix+strings.ToLower(diskID), metav1.GetOptions{})
	if err == nil {
		return pv, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, classify("get disk volume", err)
	}
	l, lerr := r.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{prefix + "disk-id": labelValue(diskID)}.String(),
	})
	if lerr != nil {
		return nil, classify("list disk volumes", lerr)
	}
	if len(l.Items) == 0 {
		return nil, kcierr.New(kcierr.ErrInvalidArgument, "disk %s has no PersistentVolume %s%s in the cluster", diskID, r.cfg.DiskPVPrefix, strings.ToLower(diskID))
	}
	return &l.Items[0], nil
}

// bindDisk points the claim at its disk's PV (size and access mode from the
// PV) and frees the PV from a previous group's claim: a Retain PV stays
// Released, claimRef set, after its claim is gone.
func (r *Runtime) bindDisk(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	diskID := c.Annotations[AnnotationDiskID]
	pv, err := r.diskPV(ctx, diskID)
	if err != nil {
		return err
	}
	if ref := pv.Spec.ClaimRef; ref != nil && (ref.Namespace != c.Namespace || ref.Name != c.Name) {
		inUse := true
		if pv.Status.Phase == corev1.VolumeReleased {
			inUse = false
		} else if _, err := r.cs.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			inUse = false
		}
		if inUse {
			return kcierr.New(kcierr.ErrConflict, "disk %s is in use: its volume is bound to claim %s/%s", diskID, ref.Namespace, ref.Name)
		}
		if _, err := r.cs.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType,
			[]byte(`{"spec":{"claimRef":null}}`), metav1.PatchOptions{}); err != nil {
			return classify("release disk volume "+pv.Name, err)
		}
	}
	c.Spec.VolumeName = pv.Name
	if len(pv.Spec.AccessModes) > 0 {
		c.Spec.AccessModes = slices.Clone(pv.Spec.AccessModes)
	}
	c.Spec.VolumeMode = pv.Spec.VolumeMode
	if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: q}
	}
	return nil
}

// Remove deletes the group's pod with the grace period and the group's
// Secrets and claims (the garbage collector would too, by owner
// reference; these may have none yet after a crash), and waits until the
// pod and the claims are gone. Background propagation: with foreground, a
// pod and its claim wait for each other (the claim's pvc-protection
// finalizer holds it while the pod exists). A pod still there a minute
// after its grace period is force-deleted.
func (r *Runtime) Remove(ctx context.Context, g *core.Group) error {
	ns := namespaceName(r.cfg.NamespacePrefix, g.AccountID)
	name := podName(g.ID)
	if p := r.pod(g.ID); p != nil {
		ns, name = p.Namespace, p.Name
	}
	grace := int64(r.cfg.StopGrace / time.Second)
	bg := metav1.DeletePropagationBackground
	call := func(fn func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
		defer cancel()
		return fn(cctx)
	}
	del := func(grace int64) error {
		return call(func(ctx context.Context) error {
			err := r.cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return classify("delete pod", err)
			}
			return nil
		})
	}
	unfinalize := func() error {
		return call(func(ctx context.Context) error { return r.setFinalizer(ctx, ns, name, false) })
	}
	if err := unfinalize(); err != nil {
		return err
	}
	if err := del(grace); err != nil {
		return err
	}
	sel := labels.Set{LabelManagedBy: ManagedByValue, LabelGroupID: labelValue(g.ID)}.String()
	if err := call(func(ctx context.Context) error { return r.deleteOwned(ctx, ns, sel) }); err != nil {
		return err
	}
	force := r.cfg.Clock.Now().Add(r.cfg.StopGrace + time.Minute)
	forced := false
	delay := 100 * time.Millisecond
	for {
		var gone bool
		var held bool
		err := call(func(ctx context.Context) error {
			p, err := r.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			held = err == nil && hasFinalizer(p)
			if apierrors.IsNotFound(err) {
				l, lerr := r.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
				if lerr != nil {
					return classify("list claims", lerr)
				}
				gone = len(l.Items) == 0
				return nil
			}
			if err != nil {
				return classify("get pod", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if gone {
			break
		}
		if held { // put back by a replica's resync that raced the first removal
			if err := unfinalize(); err != nil {
				return err
			}
		}
		if !forced && r.cfg.Clock.Now().After(force) {
			r.log.Warn("pod outlived its grace period; force-deleting", "group", g.ID, "namespace", ns, "pod", name)
			if err := del(0); err != nil {
				return err
			}
			forced = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove group %s: %w: %w", g.ID, kcierr.ErrUnavailable, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
	r.mu.Lock()
	delete(r.pending, labelValue(g.ID))
	r.mu.Unlock()
	r.releaseDisks(ctx, g, ns, name)
	return r.releaseMadeDisks(ctx, g.ID, ns)
}

// releaseDisks clears the claimRef of the group's Retain PVs, so that the
// disk can be mounted by a later group at once. Best effort: Start does it
// too.
func (r *Runtime) releaseDisks(ctx context.Context, g *core.Group, ns, pod string) {
	for _, v := range g.Volumes {
		if v.EBS == nil || v.EBS.OnDemand() {
			continue
		}
		_ = r.callErr(ctx, func(ctx context.Context) error {
			pv, err := r.diskPV(ctx, v.EBS.VolumeID)
			if err != nil {
				return err
			}
			if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == ns && ref.Name == claimName(pod, v.Name) {
				_, err = r.cs.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType,
					[]byte(`{"spec":{"claimRef":null}}`), metav1.PatchOptions{})
			}
			return err
		})
	}
}

// deleteOwned deletes the Secrets and claims of a group (selector sel),
// which the garbage collector would delete with the pod too, but which may
// have no owner yet after a crash in Start.
func (r *Runtime) deleteOwned(ctx context.Context, ns, sel string) error {
	secrets, err := r.cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return classify("list secrets", err)
	}
	for _, s := range secrets.Items {
		if err := r.cs.CoreV1().Secrets(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return classify("delete secret "+s.Name, err)
		}
	}
	claims, err := r.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return classify("list claims", err)
	}
	for _, c := range claims.Items {
		if c.DeletionTimestamp != nil {
			continue
		}
		if err := r.cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return classify("delete claim "+c.Name, err)
		}
	}
	return nil
}

func (r *Runtime) callErr(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	return fn(ctx)
}

// Status is the group's status derived from its pod and the pod's events,
// from the caches.
func (r *Runtime) Status(_ context.Context, groupID string) (core.GroupStatus, error) {
	p := r.pod(groupID)
	if p == nil {
		return core.GroupStatus{}, &kcierr.NotFoundError{Kind: "ContainerGroup", ID: groupID}
	}
	g, err := r.group(p)
	if err != nil {
		return core.GroupStatus{}, err
	}
	evs := r.podEvents(p)
	st := groupStatus(p, g, convertEvents(evs, r.cfg.MaxEvents, r.watched), r.cfg.Clock.Now().UTC())
	st.Timeline = podTimeline(p, g, st.Phase, evs, r.watched)
	return st, nil
}

// PodIP is the group's address in the cluster ("" until the pod has one).
func (r *Runtime) PodIP(groupID string) string {
	if p := r.pod(groupID); p != nil {
		return p.Status.PodIP
	}
	return ""
}

// podEvents are the cluster's events of the pod, oldest first.
func (r *Runtime) podEvents(p *corev1.Pod) []*corev1.Event {
	if p.UID == "" {
		return nil
	}
	objs, _ := r.evs.GetIndexer().ByIndex(indexPodUID, string(p.UID))
	evs := make([]*corev1.Event, 0, len(objs))
	for _, o := range objs {
		evs = append(evs, o.(*corev1.Event))
	}
	slices.SortFunc(evs, func(a, b *corev1.Event) int {
		fa, _, _ := eventTimes(a, nil)
		fb, _, _ := eventTimes(b, nil)
		return fa.Compare(fb)
	})
	return evs
}

// Logs returns the last tail lines of a container: its previous attempt's
// log (when it restarted and a newer attempt ran) followed by the current
// one's. The kubelet keeps one dead attempt per container, so this is at
// most two attempts (the containerd runtime keeps more, by size).
func (r *Runtime) Logs(ctx context.Context, groupID, container string, tail int) (string, error) {
	p := r.pod(groupID)
	if p == nil {
		return "", &kcierr.NotFoundError{Kind: "ContainerGroup", ID: groupID}
	}
	named := func(c corev1.Container) bool { return c.Name == container }
	if !slices.ContainsFunc(p.Spec.Containers, named) && !slices.ContainsFunc(p.Spec.InitContainers, named) {
		return "", &kcierr.NotFoundError{Kind: "Container", ID: container}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	// The kubelet serves a waiting container's last terminated attempt as
	// its current log, and that same attempt as "previous": read the
	// previous attempt only while a newer one runs or has terminated.
	restarted := false
	for _, cs := range append(slices.Clone(p.Status.ContainerStatuses), p.Status.InitContainerStatuses...) {
		if cs.Name == container && cs.RestartCount > 0 && cs.State.Waiting == nil && cs.LastTerminationState.Terminated != nil {
			restarted = true
		}
	}
	t := int64(tail)
	read := func(previous bool) (string, error) {
		o := &corev1.PodLogOptions{Container: container, Previous: previous}
		if tail > 0 {
			o.TailLines = &t
		}
		rc, err := r.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, o).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	cur, err := read(false)
	if err != nil {
		if apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) {
			// Not started yet ("is waiting to start") or already gone.
			if !restarted {
				return "", fmt.Errorf("logs of %s/%s: %w: %s", groupID, container, kcierr.ErrNotFound, err.Error())
			}
			cur = ""
		} else {
			return "", classify("read logs", err)
		}
	}
	if restarted && (tail <= 0 || countLines(cur) < tail) {
		if prev, err := read(true); err == nil {
			cur = prev + cur
		}
	}
	return tailLines(cur, tail), nil
}

func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// tailLines keeps the last n lines of s (all when n <= 0).
func tailLines(s string, n int) string {
	if n <= 0 || s == "" {
		return s
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if strings.HasSuffix(s, "\n") {
		out += "\n"
	}
	return out
}

// Sync reconciles the cluster with the groups that should exist: it starts
// those without a pod and removes pods, Secrets and claims of this runtime
// (namespaces with its prefix) that no listed group explains, when they are
// older than OrphanGrace.
func (r *Runtime) Sync(ctx context.Context, live []*core.Group) error {
	want := map[string]*core.Group{}
	for _, g := range live {
		want[labelValue(g.ID)] = g
	}
	var errs []error
	for _, g := range live {
		if r.pod(g.ID) == nil {
			if err := r.Start(ctx, g); err != nil {
				errs = append(errs, fmt.Errorf("start %s: %w", g.ID, err))
			}
		}
	}
	if err := r.syncPolicies(ctx, live); err != nil {
		errs = append(errs, fmt.Errorf("security groups: %w", err))
	}
	cutoff := r.cfg.Clock.Now().Add(-r.cfg.OrphanGrace)
	have := map[string]bool{}
	for _, o := range r.pods.GetIndexer().List() {
		p := o.(*corev1.Pod)
		if !r.ours(p.Namespace) {
			continue
		}
		id := p.Labels[LabelGroupID]
		have[id] = true
		if want[id] != nil || p.CreationTimestamp.Time.After(cutoff) {
			continue
		}
		g, err := r.group(p)
		if err != nil {
			// Maybe a newer kcid's or a damaged record: never touch what
			// cannot be read; tell the operator instead.
			r.reportUndecodable(p, err)
			continue
		}
		if hasFinalizer(p) {
			if err := r.callErr(ctx, func(ctx context.Context) error { return r.setFinalizer(ctx, p.Namespace, p.Name, false) }); err != nil {
				errs = append(errs, fmt.Errorf("orphan pod %s/%s: %w", p.Namespace, p.Name, err))
				continue
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		r.log.Info("removing orphan pod", "namespace", p.Namespace, "pod", p.Name, "group", id)
		grace := int64(r.cfg.StopGrace / time.Second)
		bg := metav1.DeletePropagationBackground
		if err := r.callErr(ctx, func(ctx context.Context) error {
			return r.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: &bg})
		}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, classify("delete orphan pod "+p.Name+" of group "+g.ID, err))
		}
	}
	// Owned objects whose pod never came (a crash between their creation
	// and the pod's) or whose owner reference was never set.
	sel := labels.Set{LabelManagedBy: ManagedByValue}.String()
	err := r.callErr(ctx, func(ctx context.Context) error {
		secrets, err := r.cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		for _, s := range secrets.Items {
			if r.orphan(s.ObjectMeta, want, have, cutoff) {
				r.log.Info("removing orphan secret", "namespace", s.Namespace, "secret", s.Name)
				if err := r.cs.CoreV1().Secrets(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
		}
		claims, err := r.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		for _, c := range claims.Items {
			if c.Labels[LabelRole] == roleMadeDisk {
				// Not owned by a pod: released for a user that is gone.
				if r.ours(c.Namespace) && staleDiskUser(&c, want, have, cutoff) {
					if err := r.releaseMadeDisk(ctx, &c); err != nil {
						return err
					}
				}
				continue
			}
			if r.orphan(c.ObjectMeta, want, have, cutoff) {
				r.log.Info("removing orphan claim", "namespace", c.Namespace, "claim", c.Name)
				if err := r.cs.CoreV1().PersistentVolumeClaims(c.Namespace).Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, classify("remove orphans", err))
	}
	return errors.Join(errs...)
}

func (r *Runtime) orphan(m metav1.ObjectMeta, want map[string]*core.Group, have map[string]bool, cutoff time.Time) bool {
	id := m.Labels[LabelGroupID]
	return r.ours(m.Namespace) && len(m.OwnerReferences) == 0 && want[id] == nil && !have[id] && m.CreationTimestamp.Time.Before(cutoff)
}
