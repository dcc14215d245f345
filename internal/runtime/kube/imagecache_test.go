package kube

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/core"
)

func TestUseCache(t *testing.T) {
	own := map[string]bool{"docker.io/library/own:1": true, "docker.io/library/both:1": true}
	foreign := map[string]string{"docker.io/library/theirs:1": "ic-b", "docker.io/library/both:1": "ic-b",
		"docker.io/library/theirs:latest": "ic-b"}
	for _, tc := range []struct {
		image  string
		policy corev1.PullPolicy
		want   corev1.PullPolicy
		forced bool
	}{
		{"own:1", corev1.PullAlways, corev1.PullIfNotPresent, false},
		{"both:1", "", corev1.PullIfNotPresent, false},
		{"theirs:1", "", corev1.PullAlways, true},
		{"theirs:1", corev1.PullIfNotPresent, corev1.PullAlways, true},
		{"theirs:1", corev1.PullNever, corev1.PullAlways, true},
		{"theirs:1", corev1.PullAlways, corev1.PullAlways, false},
		{"theirs", "", corev1.PullAlways, false}, // unset on :latest is Always already
		{"other:1", corev1.PullIfNotPresent, corev1.PullIfNotPresent, false},
		{"other:1", "", "", false},
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tc.image, ImagePullPolicy: tc.policy}}}}
		forced := useCache(p, own, foreign)
		if got := p.Spec.Containers[0].ImagePullPolicy; got != tc.want || (len(forced) > 0) != tc.forced {
			t.Errorf("%s %q: policy %q forced %q, want %q forced %v", tc.image, tc.policy, got, forced, tc.want, tc.forced)
		}
	}
}

// TestStartForcesPullOfForeignCachedImage: a group whose image only
// another account's cache holds gets Always and an event saying why; the
// cache's own account gets IfNotPresent and no such event.
func TestStartForcesPullOfForeignCachedImage(t *testing.T) {
	ctx := context.Background()
	cacheDS := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: cacheName("ic-a"), Namespace: "kci-1000000001",
		Labels:      map[string]string{LabelImageCache: "ic-a", LabelAccountID: "1000000001"},
		Annotations: map[string]string{AnnotationImageCacheImages: "reg.example.com/private/app:1"}}}
	r, cs := fakeRuntime(t, cacheDS)
	for _, tc := range []struct {
		account, cacheID string
		want             corev1.PullPolicy
		event            bool
	}{
		{"2000000002", "", corev1.PullAlways, true},
		{"1000000001", "ic-a", corev1.PullIfNotPresent, false},
	} {
		g := minimalGroup()
		g.ID, g.AccountID, g.ImageCacheID = "group-of-"+tc.account, tc.account, tc.cacheID
		g.Containers = []core.Container{{Name: "app", Image: "reg.example.com/private/app:1", ImagePullPolicy: "IfNotPresent"}}
		if err := r.Start(ctx, g); err != nil {
			t.Fatal(err)
		}
		ns := "kci-" + tc.account
		p, err := cs.CoreV1().Pods(ns).Get(ctx, podName(g.ID), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Spec.Containers[0].ImagePullPolicy; got != tc.want {
			t.Errorf("account %s: pull policy %s, want %s", tc.account, got, tc.want)
		}
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(evs.Items, func(e corev1.Event) bool {
			return e.Reason == ReasonForeignImageCache && e.InvolvedObject.UID == p.UID && strings.Contains(e.Message, "container app")
		})
		if got != tc.event {
			t.Errorf("account %s: %s event %v, want %v: %+v", tc.account, ReasonForeignImageCache, got, tc.event, evs.Items)
		}
	}
}
