package containerd

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// TestImageCache: a cache's images are pulled, with progress, into
// records of the cache (the shared records groups pull into are not
// touched); a group of the cache's account then starts from them while
// the registry is blocked (no request reaches it), with an event naming
// the cache; an image the cache does not hold is pulled as usual with an
// event saying so; a group of another account given the same cache is not
// served from it and is denied by the registry without credentials; and
// Release deletes the records and the content only they held.
func TestImageCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	proxy := testenv.NewRegistryProxy(t, e.reg)
	repo := "openkci/cached-" + randHex(3)
	// A layer of its own, so that its content is held by the cache alone.
	info := testenv.BusyboxImageInfo(t, testenv.ImageConfig{Repo: repo, Files: []testenv.File{{Path: "/cache-id", Content: []byte(randHex(16))}}})
	ref := proxy.Ref(repo, "test")
	creds := []core.RegistryCredential{{Server: proxy.Host, Username: e.reg.Username, Password: e.reg.Password}}
	cache := &core.ImageCache{ID: "ic-test-" + randHex(4), AccountID: "acc-a", Images: []string{ref}, Credentials: creds}
	t.Cleanup(func() { _ = e.rt.Release(ctx, cache.ID) })

	rep := &runtimetest.CacheReports{}
	if err := e.rt.Fill(ctx, cache, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Pulls) != 1 || len(rep.Images) != 1 || rep.Images[0].Bytes < info.Size || rep.Images[0].Name != ref {
		t.Fatalf("reports: pulling %v pulled %+v (image is %d bytes)", rep.Pulls, rep.Images, info.Size)
	}
	if p := rep.Last[ref]; p[0] == 0 || p[0] != p[1] {
		t.Errorf("last progress %v, want all of it", p)
	}
	held, err := e.rt.Held(ctx)
	if err != nil || !slices.Contains(held, cache.ID) {
		t.Fatalf("Held = %v, %v", held, err)
	}
	if _, err := e.rt.client.GetImage(e.rt.nsCtx(ctx), ref); !isNotFound(err) {
		t.Fatalf("the cache made or changed the shared record %s: %v", ref, err)
	}

	cidr, gw, ip, sid := subnet()
	mk := func(name, account string, withCreds bool, img string) *core.Group {
		g := e.group(name, ip(0), cidr, gw, sid, core.Container{Name: "c", Image: img, ImagePullPolicy: pullAlways, Command: sleeper("")})
		g.AccountID, g.ImageCacheID, g.Credentials = account, cache.ID, nil
		if withCreds {
			g.Credentials = creds
		}
		return g
	}

	// From the cache, the registry blocked; Always does not make it ask.
	proxy.Block()
	before := proxy.Requests()
	a := mk("a", "acc-a", true, ref)
	a.Network.PrivateIP = ip(160)
	e.start(a)
	st := e.waitStatus(a.ID, 30*time.Second, allRunning)
	if !hasEvent(st, "Pulled", "served from image cache "+cache.ID) {
		t.Errorf("no event naming the cache:\n%s", runtimetest.Dump(st))
	}
	if n := proxy.Requests() - before; n != 0 {
		t.Errorf("the start from the cache sent %d requests to the registry", n)
	}
	proxy.Unblock()

	// Not in the cache: pulled as usual, with an event saying so.
	other := mk("other", "acc-a", false, e.image)
	other.Credentials = []core.RegistryCredential{{Server: e.reg.Host, Username: e.reg.Username, Password: e.reg.Password}}
	other.Network.PrivateIP = ip(161)
	e.start(other)
	st = e.waitStatus(other.ID, 30*time.Second, allRunning)
	if !hasEvent(st, "Pulling", "is not in image cache "+cache.ID) {
		t.Errorf("no event saying the image is not in the cache:\n%s", runtimetest.Dump(st))
	}

	// Another account: never served from acc-a's cache; without
	// credentials the registry denies it.
	b := mk("b", "acc-b", false, ref)
	b.Network.PrivateIP = ip(162)
	e.start(b)
	st = e.waitStatus(b.ID, 30*time.Second, func(s core.GroupStatus) bool {
		c := s.Containers[0].Current
		return c != nil && (c.Reason == "ErrImagePull" || c.Reason == "ImagePullBackOff")
	})
	if hasEvent(st, "Pulled", "served from image cache") || !hasEvent(st, "Pulling", "is not in image cache") {
		t.Errorf("account acc-b's group and acc-a's cache:\n%s", runtimetest.Dump(st))
	}

	// Release: the records go, and the content only they held with them.
	for _, g := range []*core.Group{a, other, b} {
		if err := e.rt.Remove(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rt.Release(ctx, cache.ID); err != nil {
		t.Fatal(err)
	}
	if held, _ := e.rt.Held(ctx); slices.Contains(held, cache.ID) {
		t.Fatalf("still held after Release: %v", held)
	}
	var m struct {
		Layers []struct{ Digest digest.Digest } `json:"layers"`
	}
	if err := json.Unmarshal(info.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	own := m.Layers[len(m.Layers)-1].Digest
	if _, err := e.rt.client.ContentStore().Info(e.rt.nsCtx(ctx), own); !isNotFound(err) {
		t.Errorf("the cache's own layer %s is still in the content store: %v", own, err)
	}
	if err := e.rt.Release(ctx, cache.ID); err != nil {
		t.Fatalf("a second Release: %v", err)
	}
}

// TestImageCacheFillFails: an image the registry refuses fails the fill
// with the registry's answer, and nothing of the cache is held after
// Release.
func TestImageCacheFillFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cache := &core.ImageCache{ID: "ic-test-" + randHex(4), AccountID: "acc-a", Images: []string{e.image}}
	err := e.rt.Fill(ctx, cache, &runtimetest.CacheReports{})
	if err == nil || !strings.Contains(err.Error(), e.image) {
		t.Fatalf("a fill without credentials for a registry that requires them: %v", err)
	}
	if err := e.rt.Release(ctx, cache.ID); err != nil {
		t.Fatal(err)
	}
	if held, _ := e.rt.Held(ctx); slices.Contains(held, cache.ID) {
		t.Fatalf("held after a failed fill and Release: %v", held)
	}
}
