package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/service"
)

var (
	_ service.Runtime   = (*Runtime)(nil)
	_ service.DiskMaker = (*Runtime)(nil)
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeRuntime is a Runtime on client-go's fake clientset; created pods get
// a UID and a creation time as the apiserver would give them.
func fakeRuntime(t *testing.T, objs ...runtime.Object) (*Runtime, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	var seq atomic.Int64
	cs.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok {
			o.SetUID(types.UID(fmt.Sprintf("uid-%d", seq.Add(1))))
			o.SetCreationTimestamp(metav1.NewTime(t0))
		}
		return false, nil, nil
	})
	cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.34.4"}
	r, err := New(Config{Client: cs, Clock: clock.NewFake(t0.Add(time.Hour)), SyncTimeout: 5 * time.Second, StopGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, cs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartCreatesPodAndOwnedObjects(t *testing.T) {
	ctx := context.Background()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "kci-disk-disk-abc"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			// Left by a previous group's claim.
			ClaimRef: &corev1.ObjectReference{Namespace: "kci-2000000001", Name: "old-data"},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
	}
	r, cs := fakeRuntime(t, pv)
	if r.m.resources != ResourcesPod {
		t.Errorf("v1.34 cluster: resources %q, want pod", r.m.resources)
	}
	g := fullGroup()
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	ns := "kci-2000000001"
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace: %v", err)
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, g.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{g.ID + "-pull", g.ID + "-cfg-conf"} {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("secret %s: %v", name, err)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != p.UID || s.OwnerReferences[0].Kind != "Pod" {
			t.Errorf("secret %s owners %+v, want the pod %s", name, s.OwnerReferences, p.UID)
		}
	}
	c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, g.ID+"-data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.VolumeName != pv.Name || c.Spec.Resources.Requests.Storage().String() != "10Gi" || len(c.OwnerReferences) != 1 {
		t.Errorf("claim %+v", c.Spec)
	}
	if got, _ := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{}); got.Spec.ClaimRef != nil {
		t.Errorf("released PV kept its old claimRef %+v", got.Spec.ClaimRef)
	}
	// Start again: a no-op.
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	// Status at once (cache or pending): Pending, the first init
	// container creating, the others and the containers waiting for it.
	st, err := r.Status(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != core.PhasePending || len(st.Containers) != 3 || st.Containers[0].Current.Reason != "PodInitializing" ||
		len(st.InitContainers) != 2 || st.InitContainers[0].Current.Reason != "ContainerCreating" || st.InitContainers[1].Current.Reason != "PodInitializing" {
		t.Errorf("status %+v", st)
	}
	st0 := r.Store()
	waitFor(t, "cache", func() bool { return len(live(t, st0, g.AccountID)) == 1 && len(r.pending) == 0 })
	gs := live(t, st0, g.AccountID)
	if gs[0].ID != g.ID || gs[0].Credentials[0].Password != "" {
		t.Errorf("LiveGroups: %+v", gs[0])
	}
	if other := live(t, st0, "2000000002"); len(other) != 0 {
		t.Errorf("another account sees %d groups", len(other))
	}
	if _, err := st0.Group(ctx, "nope"); !kcierr.IsNotFound(err) {
		t.Errorf("Group(nope) found")
	}
}

func TestStartErrorsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"quota", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("exceeded quota: q, requested: cpu=2, used: cpu=1, limited: cpu=2")), kcierr.ErrInsufficientCapacity},
		{"admission", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New(`violates PodSecurity "restricted:latest"`)), kcierr.ErrInvalidArgument},
		{"rbac", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New(`User "kcid" cannot create resource "pods" in API group "" in the namespace "kci-1"`)), kcierr.ErrInternal},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "x", nil), kcierr.ErrInvalidArgument},
		{"timeout", apierrors.NewServerTimeout(schema.GroupResource{Resource: "pods"}, "create", 1), kcierr.ErrTimeout},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), kcierr.ErrUnavailable},
		{"unreachable", errors.New("dial tcp 10.0.0.1:6443: connect: connection refused"), kcierr.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, cs := fakeRuntime(t)
			cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			err := r.Start(context.Background(), minimalGroup())
			if got := kcierr.Class(err); got != tc.want {
				t.Fatalf("err %v: class %v, want %v", err, got, tc.want)
			}
			if tc.name == "quota" && !strings.Contains(err.Error(), "exceeded quota") {
				t.Errorf("message lost: %v", err)
			}
		})
	}
}

// TestStartNeverHangs: a cluster that does not answer makes Start fail
// after RequestTimeout.
func TestStartNeverHangs(t *testing.T) {
	r, cs := fakeRuntime(t)
	r.cfg.RequestTimeout = 200 * time.Millisecond
	cs.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(time.Second)
		return true, nil, context.DeadlineExceeded
	})
	start := time.Now()
	err := r.Start(context.Background(), minimalGroup())
	if kcierr.Class(err) != kcierr.ErrTimeout {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
}

func setStatus(t *testing.T, cs *fake.Clientset, ns, name string, mut func(p *corev1.Pod)) {
	t.Helper()
	ctx := context.Background()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mut(p)
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ts(sec int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }

func TestStatusFromPod(t *testing.T) {
	ctx := context.Background()
	r, cs := fakeRuntime(t)
	g := minimalGroup()
	g.Containers = []core.Container{{Name: "a", Image: "img-a"}, {Name: "b", Image: "img-b"}}
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	ns := "kci-2000000001"
	p, _ := cs.CoreV1().Pods(ns).Get(ctx, g.ID, metav1.GetOptions{})
	ev := func(name, reason, typ, msg string, first, last, count int) {
		_, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID},
			Reason:         reason, Type: typ, Message: msg,
			FirstTimestamp: ts(first), LastTimestamp: ts(last), Count: int32(count),
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	ev("e1", "Pulling", "Normal", `Pulling image "img-a"`, 1, 1, 1)
	// events.k8s.io/v1 style (scheduler): eventTime only.
	if _, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e0", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID},
		Reason:         "Scheduled", Type: "Normal", Message: "Successfully assigned kci-2000000001/" + p.Name + " to node-1",
		EventTime: metav1.NewMicroTime(t0),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Pulling a, nothing else yet: ImagePulling, as the containerd runtime says.
	waitFor(t, "events", func() bool { st, _ := r.Status(ctx, g.ID); return len(st.Events) == 2 })
	st, _ := r.Status(ctx, g.ID)
	if st.Phase != core.PhaseImagePulling {
		t.Errorf("phase %s, want ImagePulling; events %+v", st.Phase, st.Events)
	}
	if st.Events[0].Reason != "Scheduled" || st.Events[0].Message != "Successfully assigned container group to node-1" ||
		st.Events[1].Message != "Pulling image `img-a`" || st.Events[1].Count != 1 || !st.Events[1].FirstTimestamp.Equal(t0.Add(time.Second)) {
		t.Errorf("events %+v", st.Events)
	}

	// a crash-loops (restarted twice, last exit 2), b completed.
	ev("e2", "Pulled", "Normal", `Successfully pulled image "img-a" in 1.2s (1.2s including waiting). Image size: 123 bytes.`, 2, 2, 1)
	ev("e3", "Created", "Normal", "Created container: a", 3, 30, 3)
	ev("e4", "BackOff", "Warning", "Back-off restarting failed container a in pod "+p.Name+"_"+ns+"(uid)", 10, 40, 5)
	setStatus(t, cs, ns, g.ID, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "10.88.0.7"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{
			{Name: "a", RestartCount: 2,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 20s"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", StartedAt: ts(30), FinishedAt: ts(31)}}},
			{Name: "b", RestartCount: 0,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: ts(3), FinishedAt: ts(4)}}},
		}
	})
	waitFor(t, "status", func() bool { st, _ := r.Status(ctx, g.ID); return st.Phase == core.PhaseRunning && len(st.Events) == 5 })
	st, _ = r.Status(ctx, g.ID)
	a, b := st.Containers[0], st.Containers[1]
	if a.RestartCount != 2 || a.Current.State != "waiting" || a.Current.Reason != "CrashLoopBackOff" ||
		a.Previous == nil || *a.Previous.ExitCode != 2 || a.Previous.Reason != "Error" || !a.Previous.FinishTime.Equal(t0.Add(31*time.Second)) {
		t.Errorf("a: %+v current %+v previous %+v", a, a.Current, a.Previous)
	}
	if b.Current.State != "terminated" || b.Current.Reason != "Completed" || *b.Current.ExitCode != 0 || b.Previous != nil {
		t.Errorf("b: %+v", b.Current)
	}
	want := []string{
		"Scheduled|Successfully assigned container group to node-1",
		"Pulling|Pulling image `img-a`",
		"Pulled|Successfully pulled image `img-a`",
		"Created|Created container a",
		"BackOff|Back-off restarting failed container a",
	}
	for i, e := range st.Events {
		if got := e.Reason + "|" + e.Message; got != want[i] {
			t.Errorf("event %d: %q, want %q", i, got, want[i])
		}
	}
	if e := st.Events[4]; e.Count != 5 || e.Type != "Warning" || !e.LastTimestamp.Equal(t0.Add(40*time.Second)) {
		t.Errorf("BackOff event %+v", e)
	}
	if ip := r.PodIP(g.ID); ip != "10.88.0.7" {
		t.Errorf("PodIP %q", ip)
	}

	// Both exit 0, no restarts left: Succeeded at the last finish.
	setStatus(t, cs, ns, g.ID, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodSucceeded
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, StartedAt: ts(50), FinishedAt: ts(60)}}
	})
	waitFor(t, "succeeded", func() bool { st, _ := r.Status(ctx, g.ID); return st.Phase == core.PhaseSucceeded })
	st, _ = r.Status(ctx, g.ID)
	if st.SucceededTime == nil || !st.SucceededTime.Equal(t0.Add(60*time.Second)) || st.Containers[0].Current.Reason != "Completed" || st.Containers[0].RestartCount != 2 {
		t.Errorf("succeeded: %+v %+v", st, st.Containers[0].Current)
	}
}

func TestStatusPhases(t *testing.T) {
	g := minimalGroup()
	g.RestartPolicy = core.RestartNever
	g.Containers = []core.Container{{Name: "a", Image: "img"}}
	pod := func(ph corev1.PodPhase, cs ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: ph, ContainerStatuses: cs}}
	}
	waitingCS := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "a", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	for _, tc := range []struct {
		name   string
		p      *corev1.Pod
		phase  core.Phase
		reason string
	}{
		{"unscheduled", pod(corev1.PodPending), core.PhasePending, "ContainerCreating"},
		{"creating", pod(corev1.PodPending, waitingCS("ContainerCreating")), core.PhasePending, "ContainerCreating"},
		{"pull error", pod(corev1.PodPending, waitingCS("ErrImagePull")), core.PhaseImagePulling, "ErrImagePull"},
		{"pull backoff", pod(corev1.PodPending, waitingCS("ImagePullBackOff")), core.PhaseImagePulling, "ImagePullBackOff"},
		{"config error", pod(corev1.PodPending, waitingCS("CreateContainerConfigError")), core.PhasePending, "CreateContainerConfigError"},
		{"running", pod(corev1.PodRunning, corev1.ContainerStatus{Name: "a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(1)}}}), core.PhaseRunning, ""},
		{"failed", pod(corev1.PodFailed, corev1.ContainerStatus{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}}), core.PhaseFailed, "Error"},
		{"oom", pod(corev1.PodFailed, corev1.ContainerStatus{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}), core.PhaseFailed, "OOMKilled"},
		{"refused by kubelet", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "OutOfcpu", Message: "Node didn't have enough resource: cpu"}}, core.PhaseCreateError, "ContainerCreating"},
	} {
		st := groupStatus(tc.p, g, nil, t0)
		if st.Phase != tc.phase || st.Containers[0].Current.Reason != tc.reason {
			t.Errorf("%s: phase %s reason %q, want %s %q", tc.name, st.Phase, st.Containers[0].Current.Reason, tc.phase, tc.reason)
		}
	}
}

// TestStatusOutOfBand: a pod deleted or evicted without kcid asking shows
// its group Failed (Succeeded stays Succeeded) with an event saying what
// happened; a deletion kcid accepted (the pod marked) does not.
func TestStatusOutOfBand(t *testing.T) {
	g := minimalGroup()
	g.Containers = []core.Container{{Name: "a", Image: "img"}}
	running := corev1.ContainerStatus{Name: "a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(1)}}}
	done := corev1.ContainerStatus{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, StartedAt: ts(1), FinishedAt: ts(2)}}}
	deleted := ts(100)
	pod := func(ph corev1.PodPhase, cs corev1.ContainerStatus, mut func(p *corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted, Finalizers: []string{FinalizerGroup}},
			Status:     corev1.PodStatus{Phase: ph, ContainerStatuses: []corev1.ContainerStatus{cs}},
		}
		if mut != nil {
			mut(p)
		}
		return p
	}
	evicted := func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", LastTransitionTime: ts(99)}}
	}
	for _, tc := range []struct {
		name    string
		p       *corev1.Pod
		phase   core.Phase
		event   string // reason of the last event, "" for none added
		message string
	}{
		{"deleted while running", pod(corev1.PodRunning, running, nil), core.PhaseFailed, ReasonPodDeleted, "deleted outside kcid;"},
		{"evicted while running", pod(corev1.PodRunning, running, evicted), core.PhaseFailed, ReasonEvicted, "evicted (EvictionByEvictionAPI: Eviction API: evicting)"},
		{"deleted by a controller", pod(corev1.PodRunning, running, func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager"}}
		}), core.PhaseFailed, ReasonPodDeleted, "deleted outside kcid (DeletionByTaintManager)"},
		{"deleted after success", pod(corev1.PodSucceeded, done, nil), core.PhaseSucceeded, ReasonPodDeleted, "deleted outside kcid"},
		{"deleted by kcid", pod(corev1.PodRunning, running, func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationDeletedAt: t0.Format(time.RFC3339Nano)}
		}), core.PhaseRunning, "", ""},
		{"not deleted", pod(corev1.PodRunning, running, func(p *corev1.Pod) { p.DeletionTimestamp = nil }), core.PhaseRunning, "", ""},
		{"evicted by the kubelet before running", pod(corev1.PodFailed, corev1.ContainerStatus{}, func(p *corev1.Pod) {
			p.DeletionTimestamp = nil
			p.Status.ContainerStatuses = nil
			p.Status.Reason, p.Status.Message = "Evicted", "The node was low on resource: memory."
		}), core.PhaseFailed, ReasonEvicted, "evicted by its node: The node was low on resource: memory."},
	} {
		st := groupStatus(tc.p, g, nil, t0)
		var last core.Event
		if len(st.Events) > 0 {
			last = st.Events[len(st.Events)-1]
		}
		if st.Phase != tc.phase || last.Reason != tc.event || !strings.Contains(last.Message, tc.message) || tc.event != "" && last.Type != core.EventWarning {
			t.Errorf("%s: phase %s, event %+v; want %s, %s %q", tc.name, st.Phase, last, tc.phase, tc.event, tc.message)
		}
	}
	// The kubelet's own Evicted event is not repeated.
	p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory"}}
	kubelet := []core.Event{{Type: core.EventWarning, Reason: ReasonEvicted, Message: "The node was low on resource: memory.", Count: 1}}
	if st := groupStatus(p, g, kubelet, t0); st.Phase != core.PhaseFailed || len(st.Events) != 1 {
		t.Errorf("kubelet eviction with its event: phase %s, events %+v", st.Phase, st.Events)
	}
}

// TestResyncAddsFinalizer: a pod created without the finalizer (by an
// earlier kcid) gets it; one being deleted, or marked deleted, does not.
func TestResyncAddsFinalizer(t *testing.T) {
	ctx := context.Background()
	r, cs := fakeRuntime(t)
	ns := "kci-2000000001"
	mk := func(name string, mut func(p *corev1.Pod)) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelGroupID: name}}}
		if mut != nil {
			mut(p)
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("old", nil)
	mk("marked", func(p *corev1.Pod) {
		p.Annotations = map[string]string{AnnotationDeletedAt: t0.Format(time.RFC3339Nano)}
	})
	mk("other-finalizer", func(p *corev1.Pod) { p.Finalizers = []string{"example.com/keep"} })
	waitFor(t, "cache", func() bool { return len(r.pods.GetIndexer().List()) == 3 })
	if n := r.resync(ctx); n != 2 {
		t.Errorf("resync fixed %d pods, want 2", n)
	}
	for name, want := range map[string][]string{"old": {FinalizerGroup}, "marked": nil, "other-finalizer": {"example.com/keep", FinalizerGroup}} {
		p, _ := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if !slices.Equal(p.Finalizers, want) {
			t.Errorf("%s: finalizers %v, want %v", name, p.Finalizers, want)
		}
	}
}

func TestRemoveDeletesEverything(t *testing.T) {
	ctx := context.Background()
	r, cs := fakeRuntime(t)
	g := fullGroup()
	g.Volumes = g.Volumes[:2] // no disk
	for i := range g.Containers {
		g.Containers[i].VolumeMounts = nil
	}
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	// An owned secret whose owner reference was never set (crash in Start).
	ns := "kci-2000000001"
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: ns,
		Labels: groupLabels(g)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var grace *int64
	cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		grace = a.(k8stesting.DeleteAction).GetDeleteOptions().GracePeriodSeconds
		return false, nil, nil
	})
	if err := r.Remove(ctx, g); err != nil {
		t.Fatal(err)
	}
	if grace == nil || *grace != 2 {
		t.Errorf("grace period %v, want 2", grace)
	}
	// The finalizer came off before the delete (a pod keeping it would
	// stay terminating for ever).
	var verbs []string
	for _, a := range cs.Actions() {
		if a.GetResource().Resource == "pods" && (a.GetVerb() == "patch" || a.GetVerb() == "delete") {
			verbs = append(verbs, a.GetVerb())
		}
	}
	if len(verbs) < 2 || verbs[0] != "patch" || verbs[1] != "delete" {
		t.Errorf("pod calls %v, want the finalizer patch, then the delete", verbs)
	}
	if l, _ := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("secrets left: %d", len(l.Items))
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, g.ID, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod left: %v", err)
	}
	// Idempotent, also for a group never started.
	if err := r.Remove(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, minimalGroup()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cache", func() bool { _, err := r.Status(ctx, g.ID); return kcierr.IsNotFound(err) })
}

func TestSyncStartsMissingAndRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	r, cs := fakeRuntime(t)
	keep, orphan, young := minimalGroup(), minimalGroup(), minimalGroup()
	orphan.ID = "00000000-0000-0000-0000-00000000000a"
	young.ID = "00000000-0000-0000-0000-00000000000b"
	for _, g := range []*core.Group{orphan, young} {
		if err := r.Start(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// young was created just now (clock is t0+1h, grace 2m).
	setStatus(t, cs, "kci-2000000001", young.ID, func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(time.Hour)) })
	// An ownerless secret of a group that never got a pod.
	if _, err := cs.CoreV1().Secrets("kci-2000000001").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "lost", Namespace: "kci-2000000001",
		Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelGroupID: "gone"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Not ours: another prefix.
	if _, err := cs.CoreV1().Secrets("other").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "other",
		Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelGroupID: "gone"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cache", func() bool { gs, _ := r.Store().Groups(ctx); return len(gs) == 2 && len(r.pending) == 0 })
	if err := r.Sync(ctx, []*core.Group{keep}); err != nil {
		t.Fatal(err)
	}
	pods, _ := cs.CoreV1().Pods("kci-2000000001").List(ctx, metav1.ListOptions{})
	names := map[string]bool{}
	for _, p := range pods.Items {
		names[p.Name] = true
	}
	if !names[keep.ID] || names[orphan.ID] || !names[young.ID] || len(names) != 2 {
		t.Errorf("pods after Sync: %v", names)
	}
	if _, err := cs.CoreV1().Secrets("kci-2000000001").Get(ctx, "lost", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("orphan secret kept: %v", err)
	}
	if _, err := cs.CoreV1().Secrets("other").Get(ctx, "x", metav1.GetOptions{}); err != nil {
		t.Errorf("another installation's secret removed: %v", err)
	}
}

func TestLogsErrors(t *testing.T) {
	ctx := context.Background()
	r, _ := fakeRuntime(t)
	if _, err := r.Logs(ctx, "nope", "a", 10); !kcierr.IsNotFound(err) {
		t.Errorf("unknown group: %v", err)
	}
	g := minimalGroup()
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Logs(ctx, g.ID, "nope", 10); !kcierr.IsNotFound(err) {
		t.Errorf("unknown container: %v", err)
	}
	// The fake serves "fake logs" for any pod.
	out, err := r.Logs(ctx, g.ID, "main", 10)
	if err != nil || out != "fake logs" {
		t.Errorf("logs %q, %v", out, err)
	}
}

func TestTailLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\n", 5, "a\n"},
		{"", 3, ""},
		{"a\nb\n", 0, "a\nb\n"},
	} {
		if got := tailLines(tc.in, tc.n); got != tc.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		`Pulling image "nginx"`: "Pulling image `nginx`",
		`Successfully pulled image "nginx" in 3.2s (3.2s including waiting). Image size: 1 bytes.`: "Successfully pulled image `nginx`",
		`Container image "nginx" already present on machine`:                                       "Container image `nginx` already present on machine",
		`Container image "nginx" already present on machine and can be accessed by the pod`:        "Container image `nginx` already present on machine",
		`Failed to pull image "x": rpc error: not found`:                                           "Failed to pull image `x`: rpc error: not found",
		`Back-off pulling image "x"`:                                                               "Back-off pulling image `x`",
		`Created container: web`:                                                                   "Created container web",
		`Started container web`:                                                                    "Started container web",
		`Stopping container web`:                                                                   "Stopping container web",
		`Error: ErrImagePull`:                                                                      "Error: ErrImagePull",
	} {
		if got := normalize("", in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func live(t *testing.T, s *Store, accountID string) []*core.Group {
	t.Helper()
	gs, err := s.LiveGroups(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// TestStatusInitContainers: the pod's initContainerStatuses become the
// group's init container states and decide its phase: Pending while they
// run or are retried (the kubelet shows a failed one terminated until it
// starts it again), Failed when one failed under Never or the pod failed.
func TestStatusInitContainers(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(1)}}
	term := func(code int32, reason string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: ts(1), FinishedAt: ts(2)}}
	}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	for _, tc := range []struct {
		name     string
		policy   core.RestartPolicy
		podPhase corev1.PodPhase
		init     corev1.ContainerState
		restarts int32
		app      corev1.ContainerState
		phase    core.Phase
		initShow string // init container's current state, restarts
		appShow  string
	}{
		{"init running", core.RestartAlways, corev1.PodPending, running, 0, waiting("PodInitializing"), core.PhasePending, "running 0", "waiting/PodInitializing"},
		{"init completed, app running", core.RestartAlways, corev1.PodRunning, term(0, "Completed"), 0, running, core.PhaseRunning, "terminated/Completed(exit 0) 0", "running"},
		{"init failed, OnFailure retries it", core.RestartOnFailure, corev1.PodPending, term(1, "Error"), 0, waiting("PodInitializing"), core.PhasePending, "waiting/CrashLoopBackOff 0", "waiting/PodInitializing"},
		{"init backing off", core.RestartAlways, corev1.PodPending, waiting("CrashLoopBackOff"), 2, waiting("PodInitializing"), core.PhasePending, "waiting/CrashLoopBackOff 2", "waiting/PodInitializing"},
		{"init failed under Never", core.RestartNever, corev1.PodFailed, term(3, "Error"), 0, waiting("PodInitializing"), core.PhaseFailed, "terminated/Error(exit 3) 0", "waiting/PodInitializing"},
		{"init failed, pod failed", core.RestartAlways, corev1.PodFailed, term(3, "Error"), 0, waiting("PodInitializing"), core.PhaseFailed, "terminated/Error(exit 3) 0", "waiting/PodInitializing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := minimalGroup()
			g.RestartPolicy = tc.policy
			g.InitContainers = []core.Container{{Name: "init", Image: "img"}}
			g.Containers = []core.Container{{Name: "app", Image: "img"}}
			ics := corev1.ContainerStatus{Name: "init", State: tc.init, RestartCount: tc.restarts}
			if tc.restarts > 0 { // the kubelet keeps the last attempt
				ics.LastTerminationState = term(1, "Error")
			}
			p := &corev1.Pod{Status: corev1.PodStatus{Phase: tc.podPhase,
				InitContainerStatuses: []corev1.ContainerStatus{ics},
				ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", State: tc.app}}}}
			st := groupStatus(p, g, nil, t0)
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			if len(st.InitContainers) != 1 {
				t.Fatalf("init containers %+v", st.InitContainers)
			}
			ic := st.InitContainers[0]
			if got := fmt.Sprintf("%s %d", runtimetest.State(ic.Current), ic.RestartCount); got != tc.initShow {
				t.Errorf("init %q, want %q", got, tc.initShow)
			}
			if got := runtimetest.State(st.Containers[0].Current); got != tc.appShow {
				t.Errorf("app %q, want %q", got, tc.appShow)
			}
		})
	}
}
