package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/internal/testutil"
)

var _ service.Store = (*Store)(nil)

// The cluster gives addresses and places pods: the kube store must not
// offer the capabilities that would make the service do either.
func TestStoreLeavesAddressesAndPlacementToTheCluster(t *testing.T) {
	var s service.Store = &Store{}
	if _, ok := s.(service.IPAllocator); ok {
		t.Error("the kube store is an IPAllocator: the service would allocate addresses the cluster gives")
	}
	if _, ok := s.(service.CapacityTracker); ok {
		t.Error("the kube store is a CapacityTracker: the service would place groups the scheduler places")
	}
}

// replica is one kcid: a service over its own Runtime and Store, both on
// the shared cluster.
func replica(t *testing.T, cs *fake.Clientset) (*service.Service, *Runtime) {
	t.Helper()
	r, err := New(Config{Client: cs, SyncTimeout: 5 * time.Second, StopGrace: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	nets := service.NewNetworks()
	nets.AddVPC(core.VPC{ID: "vpc", AccountID: "acc", Region: "r", CIDR: "10.0.0.0/16"})
	nets.AddSubnet(core.Subnet{ID: "sub", VpcID: "vpc", CIDR: "10.0.1.0/29", Zone: "z", Gateway: "10.0.1.1"})
	nets.AddSecurityGroup(core.SecurityGroup{ID: "sg", VpcID: "vpc"})
	s := service.New(service.Options{Store: r.Store(), Runtime: r, Networks: nets,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, r
}

func describe(t *testing.T, s *service.Service) []service.GroupView {
	t.Helper()
	v, _, err := s.DescribeGroups(context.Background(), service.DescribeQuery{AccountID: "acc", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTwoReplicasOneCluster: what one kcid creates, another serves; a
// deletion accepted by one is hidden by both at once; a replica started
// later finds everything. The cluster is the only store.
func TestTwoReplicasOneCluster(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	a, ra := replica(t, cs)
	b, _ := replica(t, cs)

	req := service.CreateRequest{AccountID: "acc", Region: "r", SubnetID: "sub", SecurityGroupIDs: []string{"sg"},
		Group: core.Group{Name: "web", CPU: 1, Memory: 1, ChargeType: "HourlyInstantSettlement",
			Containers: []core.Container{{Name: "c", Image: "busybox"}}}}
	g1, err := a.CreateGroup(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Group.Name = "db"
	g2, err := a.CreateGroup(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The creating replica sees its groups at once.
	if v := describe(t, a); len(v) != 2 {
		t.Fatalf("replica a: %d groups", len(v))
	}
	// The other one once its cache has the pods; with the pod IP.
	p, _ := cs.CoreV1().Pods("kci-acc").Get(ctx, g1.ID, metav1.GetOptions{})
	p.Status.PodIP = "10.88.0.9"
	if _, err := cs.CoreV1().Pods("kci-acc").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b", func() bool {
		v := describe(t, b)
		return len(v) == 2 && v[0].Group.ID == g1.ID && v[0].Group.Network.PrivateIP == "10.88.0.9"
	})
	v := describe(t, b)
	if v[0].Group.Name != "web" || v[1].Group.ID != g2.ID || v[0].Group.Network.SubnetID != "sub" {
		t.Errorf("replica b: %+v", v[0].Group)
	}
	if out, _, err := b.DescribeGroups(ctx, service.DescribeQuery{AccountID: "acc", Search: "10.88.0.9", Limit: 10}); err != nil || len(out) != 1 {
		t.Errorf("search by pod IP: %d %v", len(out), err)
	}

	// Delete through b: hidden from b at once, from a once it sees the mark.
	if err := b.DeleteGroup(ctx, "acc", g1.ID, false); err != nil {
		t.Fatal(err)
	}
	if v := describe(t, b); len(v) != 1 || v[0].Group.ID != g2.ID {
		t.Errorf("replica b after delete: %d groups", len(v))
	}
	waitFor(t, "replica a hides it", func() bool { return len(describe(t, a)) == 1 })
	if err := a.DeleteGroup(ctx, "acc", g1.ID, false); !kcierr.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	waitFor(t, "pod gone", func() bool {
		_, err := cs.CoreV1().Pods("kci-acc").Get(ctx, g1.ID, metav1.GetOptions{})
		return err != nil
	})

	// A third replica, started now, serves the same.
	c, _ := replica(t, cs)
	waitFor(t, "replica c", func() bool { v := describe(t, c); return len(v) == 1 && v[0].Group.ID == g2.ID })
	if g, err := ra.Store().Group(ctx, g2.ID); err != nil || g.Name != "db" || g.DeletedAt != nil {
		t.Errorf("Group(g2) = %+v", g)
	}
}

// TestMarkDeletingResumes: a deletion marked but not finished (kcid died)
// is resumed by the next kcid's Start.
func TestMarkDeletingResumes(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	r, err := New(Config{Client: cs, SyncTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	g := minimalGroup()
	g.AccountID = "acc"
	st := r.Store()
	if err := st.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateGroup(ctx, g); !errors.Is(err, kcierr.ErrConflict) {
		t.Errorf("duplicate: %v", err)
	}
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkDeleting(ctx, g.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkDeleting(ctx, g.ID, t0); !kcierr.IsNotFound(err) {
		t.Errorf("second mark: %v", err)
	}
	if got, err := st.Group(ctx, g.ID); err != nil || got.DeletedAt == nil || !got.DeletedAt.Equal(t0) {
		t.Errorf("marked group %+v", got)
	}
	r.Close()
	p, _ := cs.CoreV1().Pods("kci-acc").Get(ctx, g.ID, metav1.GetOptions{})
	if p.Annotations[AnnotationDeletedAt] == "" {
		t.Fatalf("no deletion mark on the pod: %v", p.Annotations)
	}
	replica(t, cs) // its Start resumes the deletion
	waitFor(t, "resumed deletion", func() bool {
		l, _ := cs.CoreV1().Pods("kci-acc").List(ctx, metav1.ListOptions{})
		return len(l.Items) == 0
	})
}

// TestUndecodablePodReported: a pod whose group annotation cannot be read
// (damaged, or a newer kcid's record) is not served, but neither hidden
// nor harmed: an error log and a Warning event name it, Sync leaves it
// in place, and the event is recorded once.
func TestUndecodablePodReported(t *testing.T) {
	ctx := context.Background()
	for name, ann := range map[string]string{
		"newer version": `{"version":99,"group":{"id":"x"}}`,
		"damaged":       `{"ID": 12`,
	} {
		t.Run(name, func(t *testing.T) {
			id := "0a4c1c52-0000-4000-8000-0000000000ff"
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Name: podName(id), Namespace: "kci-2000000001", UID: "uid-bad", ResourceVersion: "7",
				CreationTimestamp: metav1.NewTime(t0.Add(-24 * time.Hour)),
				Labels:            map[string]string{LabelManagedBy: ManagedByValue, LabelGroupID: id, LabelAccountID: "2000000001"},
				Annotations:       map[string]string{AnnotationGroup: ann},
			}}
			cs := fake.NewClientset(pod)
			var logs testutil.SyncBuffer
			r, err := New(Config{Client: cs, Clock: clock.NewFake(t0), SyncTimeout: 5 * time.Second,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			st := r.Store()
			if gs, err := st.Groups(ctx); err != nil || len(gs) != 0 {
				t.Fatalf("groups: %v %v", gs, err)
			}
			if _, err := st.Group(ctx, id); !kcierr.IsNotFound(err) {
				t.Fatalf("group of an undecodable pod: %v", err)
			}
			if err := r.Sync(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
				t.Fatalf("Sync removed the undecodable pod: %v", err)
			}
			var evs *corev1.EventList
			waitFor(t, "the event", func() bool {
				evs, _ = cs.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{})
				return evs != nil && len(evs.Items) > 0
			})
			_, _ = st.Groups(ctx) // asked again: no second event
			time.Sleep(50 * time.Millisecond)
			evs, _ = cs.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{})
			if len(evs.Items) != 1 {
				t.Fatalf("%d events, want 1", len(evs.Items))
			}
			ev := evs.Items[0]
			if ev.Type != corev1.EventTypeWarning || ev.Reason != ReasonUndecodableGroup || ev.InvolvedObject.Name != pod.Name ||
				!strings.Contains(ev.Message, AnnotationGroup) {
				t.Fatalf("event: %+v", ev)
			}
			if l := logs.String(); !strings.Contains(l, "pod="+pod.Name) || !strings.Contains(l, "level=ERROR") ||
				strings.Count(l, "group cannot be read") != 1 {
				t.Fatalf("log:\n%s", l)
			}
		})
	}
}
