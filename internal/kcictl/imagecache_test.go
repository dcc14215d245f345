package kcictl_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

// TestImageCacheCommands: image-cache create --wait, get, describe and
// delete, and run --image-cache by name and auto, against kcid's image
// cache actions over the fake runtime.
func TestImageCacheCommands(t *testing.T) {
	h := newHarness(t)
	h.srv.Runtime.SetImage("nginx:1.27", 150<<20, nil)
	r := h.run("image-cache", "create", "web", "--image", "nginx:1.27", "--image", "busybox:1.36", "--retention-days", "7", "--wait")
	if r.code != 0 {
		t.Fatalf("create: %s", transcript(r))
	}
	h.golden("imagecache/create-wait.txt", transcript(r))
	h.clock.Advance(time.Minute)
	for _, tc := range []struct{ golden, args string }{
		{"imagecache/get.txt", "image-cache get"},
		{"imagecache/get-id.txt", "ic get web -o id"},
		{"imagecache/describe.txt", "image-cache describe web"},
		{"imagecache/unknown.txt", "image-cache describe nope"},
		{"imagecache/create-no-image.txt", "image-cache create x"},
		{"imagecache/create-refused.txt", "image-cache create x --image a:1 --size 10"},
		{"imagecache/run-unknown.txt", "run x --image nginx:1.27 --image-cache nope"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			h.t = t
			h.golden(tc.golden, transcript(h.run(strings.Fields(tc.args)...)))
		})
	}
	h.t = t

	var listed struct{ ImageCaches []kci.ImageCache }
	if err := json.Unmarshal([]byte(h.run("image-cache", "get", "-o", "json").stdout), &listed); err != nil || len(listed.ImageCaches) != 1 {
		t.Fatalf("get -o json: %v %+v", err, listed)
	}
	cacheID := listed.ImageCaches[0].ImageCacheID

	// run by name and by auto: both groups start from the cache.
	for _, how := range []string{"web", "auto"} {
		id := h.create("from-"+how, "--image", "nginx:1.27", "--image-cache", how)
		g, err := h.srv.App.Store().Group(context.Background(), id)
		if err != nil || g.ImageCacheID != cacheID {
			t.Fatalf("run --image-cache %s: group's cache %q (%v), want %s", how, g.ImageCacheID, err, cacheID)
		}
	}
	r = h.run("image-cache", "delete", "web")
	if r.code != 0 || strings.TrimSpace(r.stdout) != cacheID {
		t.Fatalf("delete: %s", transcript(r))
	}
	if r := h.run("image-cache", "get", "-o", "id"); r.stdout != "" {
		t.Fatalf("after delete: %s", transcript(r))
	}
}
