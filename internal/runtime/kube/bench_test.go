package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// benchRuntime is a runtime whose cache holds n running pods of one
// account, each with the six events of a normal start.
func benchRuntime(b *testing.B, n int) (*Runtime, []string) {
	b.Helper()
	m := mapping{namespacePrefix: "kci-", grace: 30, resources: ResourcesPod}
	var objs []runtime.Object
	var ids []string
	for i := 0; i < n; i++ {
		g := minimalGroup()
		g.ID = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		g.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		o, err := m.build(g)
		if err != nil {
			b.Fatal(err)
		}
		p := o.Pod
		p.UID = types.UID("uid-" + g.ID)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.88.%d.%d", i/250, i%250+1),
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(3)}}}}}
		objs = append(objs, p)
		ids = append(ids, g.ID)
		for j, ev := range [][2]string{{"Scheduled", "Successfully assigned kci-2000000001/" + p.Name + " to node-1"},
			{"Pulling", `Pulling image "nginx:1.25"`}, {"Pulled", `Successfully pulled image "nginx:1.25" in 1s (1s including waiting). Image size: 1 bytes.`},
			{"Created", "Created container: main"}, {"Started", "Started container main"}, {"Killing", "Stopping container main"}} {
			objs = append(objs, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", p.Name, j), Namespace: p.Namespace},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
				Reason:         ev[0], Message: ev[1], Type: "Normal", Count: 1, FirstTimestamp: ts(j), LastTimestamp: ts(j)})
		}
	}
	r, err := New(Config{Client: fake.NewClientset(objs...), SyncTimeout: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r, ids
}

// BenchmarkStoreLiveGroups: one Describe's candidate list over 5,000 pods.
func BenchmarkStoreLiveGroups(b *testing.B) {
	r, _ := benchRuntime(b, 5000)
	s := r.Store()
	if gs, _ := s.LiveGroups(context.Background(), "2000000001"); len(gs) != 5000 {
		b.Fatalf("%d groups", len(gs))
	}
	b.ResetTimer()
	for range b.N {
		_, _ = s.LiveGroups(context.Background(), "2000000001")
	}
}

// BenchmarkStatus: Describe's status of one group (pod status and six
// events) from the cache.
func BenchmarkStatus(b *testing.B) {
	r, ids := benchRuntime(b, 1000)
	ctx := context.Background()
	st, err := r.Status(ctx, ids[0])
	if err != nil || len(st.Events) != 6 {
		b.Fatalf("%+v %v", st, err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Status(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreLiveGroupsAfterChange: the same after every change (the
// list is rebuilt from the pod cache).
func BenchmarkStoreLiveGroupsAfterChange(b *testing.B) {
	r, _ := benchRuntime(b, 5000)
	s := r.Store()
	b.ResetTimer()
	for range b.N {
		r.gen.Add(1)
		_, _ = s.LiveGroups(context.Background(), "2000000001")
	}
}
