package kube

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/pkg/kci"
)

// TestImageCacheOnCluster: a cache's DaemonSet pulls its (private) image
// onto the node with the cache's credentials and is Available with the
// size the node reports; a group of the cache's account starts from it
// (IfNotPresent, kubelet finds the image present); an image the registry
// does not have fails the fill naming it; Release removes the DaemonSet and
// its Secret.
func TestImageCacheOnCluster(t *testing.T) {
	e := newE2E(t)
	e.rt.cfg.ImageCacheHelper = e.image
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)
	cache := &core.ImageCache{ID: "ic-" + uuid.NewString(), AccountID: e2eRun, Images: []string{e.image}, Credentials: e.creds}
	t.Cleanup(func() { _ = e.rt.Release(context.Background(), cache.ID) })

	rep := &runtimetest.CacheReports{}
	if err := e.rt.Fill(ctx, cache, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Pulls) != 1 || len(rep.Images) != 1 || rep.Images[0].Bytes == 0 {
		t.Fatalf("reports: pulling %v, pulled %+v", rep.Pulls, rep.Images)
	}
	held, err := e.rt.Held(ctx)
	if err != nil || !slices.Contains(held, cache.ID) {
		t.Fatalf("Held = %v, %v", held, err)
	}

	g := e.group(t, "from-cache")
	g.ImageCacheID = cache.ID
	g.Containers = []core.Container{{Name: "main", Image: e.image, ImagePullPolicy: "Always", Command: []string{"sleep", "3600"}}}
	e.start(ctx, t, g)
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	st := env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool { return s.Phase == core.PhaseRunning })
	p, err := e.cs.CoreV1().Pods(ns).Get(ctx, podName(g.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pp := p.Spec.Containers[0].ImagePullPolicy; pp != corev1.PullIfNotPresent {
		t.Errorf("pull policy of a cached image %s, want IfNotPresent", pp)
	}
	if !runtimetest.HasEvent(st, "Pulled", "already present on machine") {
		t.Errorf("kubelet did not find the cached image present:\n%s", runtimetest.Dump(st))
	}

	if len(e.creds) > 0 {
		otherAccountCannotUse(t, e, cache)
	}

	bad := &core.ImageCache{ID: "ic-" + uuid.NewString(), AccountID: e2eRun, Credentials: e.creds,
		Images: []string{e.image[:strings.LastIndex(e.image, "/")] + "/does-not-exist:v1"}}
	t.Cleanup(func() { _ = e.rt.Release(context.Background(), bad.ID) })
	if err := e.rt.Fill(ctx, bad, &runtimetest.CacheReports{}); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("fill of a missing image: %v", err)
	}

	for _, id := range []string{cache.ID, bad.ID} {
		if err := e.rt.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cs.AppsV1().DaemonSets(ns).Get(ctx, cacheName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("daemonset of %s after Release: %v", id, err)
		}
		if _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, cacheName(id)+"-pull", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("secret of %s after Release: %v", id, err)
		}
	}
	if held, _ := e.rt.Held(ctx); slices.Contains(held, cache.ID) {
		t.Errorf("still held after Release: %v", held)
	}
}

// otherAccountCannotUse: another account's groups ask for the private image
// the cache holds on the node (IfNotPresent, as kubelet would otherwise
// take it from the node's store), without credentials and with wrong ones:
// kcid forces Always and says why, the registry refuses, and neither runs.
func otherAccountCannotUse(t *testing.T, e *e2eEnv, cache *core.ImageCache) {
	ctx := context.Background()
	other := e2eRun + "b"
	nsOther := namespaceName(e.rt.cfg.NamespacePrefix, other)
	t.Cleanup(func() {
		zero := int64(0)
		_ = e.cs.CoreV1().Namespaces().Delete(context.Background(), nsOther, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	env := runtimetest.Env{Runtime: e.rt, Timeout: 90 * time.Second}
	wrong := []core.RegistryCredential{{Server: e.creds[0].Server, Username: e.creds[0].Username, Password: "not-" + e.creds[0].Password}}
	for _, creds := range [][]core.RegistryCredential{nil, wrong} {
		g := e.group(t, "other-account")
		// Small, and removed before the next: the test node's CPU is shared.
		g.AccountID, g.Credentials, g.CPU = other, creds, 0.1
		g.Containers = []core.Container{{Name: "main", Image: e.image, ImagePullPolicy: "IfNotPresent", Command: []string{"sleep", "3600"}}}
		e.start(ctx, t, g)
		st := env.WaitStatus(t, g.ID, func(s core.GroupStatus) bool {
			c := runtimetest.Container(s, "main")
			return c.Current != nil && (c.Current.Reason == "ErrImagePull" || c.Current.Reason == "ImagePullBackOff") &&
				runtimetest.HasEvent(s, ReasonForeignImageCache, "another account's image cache holds it")
		})
		if st.Phase == core.PhaseRunning || runtimetest.HasEvent(st, "Pulled", "already present on machine") {
			t.Errorf("credentials %v: another account's group used the cached private image:\n%s", creds, runtimetest.Dump(st))
		}
		p, err := e.cs.CoreV1().Pods(nsOther).Get(ctx, podName(g.ID), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pp := p.Spec.Containers[0].ImagePullPolicy; pp != corev1.PullAlways {
			t.Errorf("pull policy of another account's cached image %s, want Always", pp)
		}
		if err := e.rt.Remove(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImageCacheOverHTTPOnCluster: the image cache actions through pkg/kci
// and real HTTP against kcid's app wired to the Kubernetes runtime:
// CreateImageCache → Available (DaemonSet ready) → Describe, Match and
// DescribeImageCacheEvent → CreateContainerGroup with ImageCacheId runs
// from the node → DeleteImageCache removes the DaemonSet and Secret; and
// the refusals, each with its code, status and wire parameter.
func TestImageCacheOverHTTPOnCluster(t *testing.T) {
	e := newE2E(t)
	e.rt.cfg.ImageCacheHelper = e.image
	c := e.kcid(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)
	var creds []kci.ImageRegistryCredential
	for _, cr := range e.creds {
		creds = append(creds, kci.ImageRegistryCredential{Server: cr.Server, Username: cr.Username, Password: cr.Password})
	}

	refused := func(what string, err error, status int, code, param string) {
		t.Helper()
		var ae *kci.APIError
		if !errors.As(err, &ae) || ae.StatusCode != status || ae.Code != code || !strings.Contains(ae.Message, param) {
			t.Errorf("%s: %v, want HTTP %d %s naming %s", what, err, status, code, param)
		}
	}
	_, err := c.CreateImageCache(ctx, &kci.CreateImageCacheRequest{ImageCacheName: "none"})
	refused("create without images", err, 400, kci.CodeMissingParameter, "Image")
	_, err = c.CreateImageCache(ctx, &kci.CreateImageCacheRequest{Images: []string{"Not A Ref"}})
	refused("create with a bad image", err, 400, kci.CodeInvalidParameterValue, "Image")
	_, err = c.DeleteImageCache(ctx, &kci.DeleteImageCacheRequest{ImageCacheID: "ic-missing"})
	refused("delete a missing cache", err, 404, kci.CodeImageCacheNotFound, "ic-missing")
	_, err = c.DescribeImageCacheEvent(ctx, &kci.DescribeImageCacheEventRequest{ImageCacheID: "ic-missing"})
	refused("events of a missing cache", err, 404, kci.CodeImageCacheNotFound, "ic-missing")
	group := func(cacheID string) *kci.CreateContainerGroupRequest {
		return &kci.CreateContainerGroupRequest{ContainerGroupName: "from-cache", SubnetID: "subnet-e2e", SecurityGroupIDs: []string{"sg-e2e"},
			CPU: 0.5, Memory: 0.25, ImageCacheID: cacheID, ImageRegistryCredentials: creds,
			Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "main", Image: e.image, ImagePullPolicy: "Always", Command: []string{"sleep", "3600"}}}}}
	}
	_, err = c.CreateContainerGroup(ctx, group("ic-missing"))
	refused("group from a missing cache", err, 400, kci.CodeInvalidParameterValue, "ImageCacheId")

	created, err := c.CreateImageCache(ctx, &kci.CreateImageCacheRequest{ImageCacheName: "http", SubnetID: "subnet-e2e", SecurityGroupID: "sg-e2e",
		Images: []string{e.image}, ImageRegistryCredentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	id := created.ImageCacheID
	t.Cleanup(func() {
		_, _ = c.DeleteImageCache(context.Background(), &kci.DeleteImageCacheRequest{ImageCacheID: id})
	})
	var cache kci.ImageCache
	for {
		d, err := c.DescribeImageCache(ctx, &kci.DescribeImageCacheRequest{ImageCacheIDs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.ImageCaches) != 1 {
			t.Fatalf("cache %s not listed: %+v", id, d)
		}
		if cache = d.ImageCaches[0]; cache.Status != kci.ImageCacheCreating {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cache %s still Creating", id)
		case <-time.After(time.Second):
		}
	}
	if cache.Status != kci.ImageCacheAvailable || cache.UsedBytes == 0 || !slices.Equal(cache.Images, []string{e.image}) {
		t.Fatalf("cache: %+v", cache)
	}
	ds, err := e.cs.AppsV1().DaemonSets(ns).Get(ctx, cacheName(id), metav1.GetOptions{})
	if err != nil || ds.Status.NumberReady == 0 {
		t.Fatalf("daemonset of an Available cache: %v %+v", err, ds)
	}
	m, err := c.MatchImageCache(ctx, &kci.MatchImageCacheRequest{Images: []string{e.image}})
	if err != nil || !slices.ContainsFunc(m.ImageCaches, func(s kci.ImageCacheSummary) bool { return s.ImageCacheID == id }) {
		t.Errorf("match: %+v, %v", m, err)
	}
	evs, err := c.DescribeImageCacheEvent(ctx, &kci.DescribeImageCacheEventRequest{ImageCacheID: id})
	if err != nil || len(evs.Events) == 0 || evs.Events[len(evs.Events)-1].Reason != "Available" {
		t.Errorf("cache events: %+v, %v", evs, err)
	}

	g, err := c.CreateContainerGroup(ctx, group(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: g.ContainerGroupID})
	})
	for {
		d, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{g.ContainerGroupID}})
		if err == nil && len(d.ContainerGroups) == 1 && len(d.ContainerGroups[0].Containers) == 1 &&
			d.ContainerGroups[0].Containers[0].CurrentState != nil && d.ContainerGroups[0].Containers[0].CurrentState.State == "running" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group from the cache never ran: %v %+v", err, d)
		case <-time.After(500 * time.Millisecond):
		}
	}
	p, err := e.cs.CoreV1().Pods(ns).Get(ctx, podName(g.ContainerGroupID), metav1.GetOptions{})
	if err != nil || p.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("pod of the group from the cache: %v, want IfNotPresent", err)
	}

	if _, err := c.DeleteImageCache(ctx, &kci.DeleteImageCacheRequest{ImageCacheID: id}); err != nil {
		t.Fatal(err)
	}
	for {
		_, dsErr := e.cs.AppsV1().DaemonSets(ns).Get(ctx, cacheName(id), metav1.GetOptions{})
		_, secErr := e.cs.CoreV1().Secrets(ns).Get(ctx, cacheName(id)+"-pull", metav1.GetOptions{})
		if apierrors.IsNotFound(dsErr) && (apierrors.IsNotFound(secErr) || len(creds) == 0) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after DeleteImageCache: daemonset %v, secret %v", dsErr, secErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
	_, err = c.DescribeImageCacheEvent(ctx, &kci.DescribeImageCacheEventRequest{ImageCacheID: id})
	refused("events of a deleted cache", err, 404, kci.CodeImageCacheNotFound, id)
}
