package api_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/pkg/kci"
)

// waitCache polls DescribeImageCache until the cache leaves Creating.
func waitCache(t *testing.T, c *client, id string) kci.ImageCache {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := decodeAs[kci.DescribeImageCacheResponse](t, c.do("DescribeImageCache", vals("ImageCacheId.1", id)))
		if len(out.ImageCaches) != 1 {
			t.Fatalf("cache %s not listed: %+v", id, out)
		}
		if out.ImageCaches[0].Status != kci.ImageCacheCreating {
			return out.ImageCaches[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache %s still Creating", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cacheCount(t *testing.T, c *client) int {
	t.Helper()
	return decodeAs[kci.DescribeImageCacheResponse](t, c.do("DescribeImageCache", nil)).TotalCount
}

// The six image cache actions over HTTP on the fake runtime's holds: every
// refusal names its wire parameter and changes nothing, another account's
// cache does not exist, groups start from a cache by ID or by matching,
// Describe pages and sorts, and everything survives a restart with the
// registry password sealed.
func TestImageCacheActions(t *testing.T) {
	dir := t.TempDir()
	rt := fake.New()
	rt.SetImage("registry.example.com/team/app:1", 300<<20, nil)
	s := startServer(t, serverOpts{config: tenantsConfig, dataDir: dir, rt: rt})
	alice, bob, aliceRO := tenants(s)

	created := decodeAs[kci.CreateImageCacheResponse](t, alice.do("CreateImageCache", vals(
		"ImageCacheName", "web", "Image.1", "busybox:1.36", "Image.2", "registry.example.com/team/app:1",
		"ImageRegistryCredential.1.Server", "registry.example.com", "ImageRegistryCredential.1.Username", "u",
		"ImageRegistryCredential.1.Password", "cache-s3cret", "RetentionDays", "30", "SubnetId", "subnet-a", "SecurityGroupId", "sg-a")))
	web := waitCache(t, alice, created.ImageCacheID)
	if web.Status != kci.ImageCacheAvailable || web.ImageCacheName != "web" || web.ImageCacheSize != 20 || web.ImageCacheType != kci.ImageCacheTypeCommon ||
		len(web.Images) != 2 || web.UsedBytes != 300<<20+fake.DefaultImageBytes || web.ExpireTime.Sub(web.CreateTime.Time) != 30*24*time.Hour || !web.LastUsedTime.IsZero() {
		t.Fatalf("created: %+v", web)
	}
	events := decodeAs[kci.DescribeImageCacheEventResponse](t, alice.do("DescribeImageCacheEvent", vals("ImageCacheId", web.ImageCacheID))).Events
	if n := len(events); n != 8 || events[n-1].Reason != "Available" || events[2].Reason != "PullProgress" {
		t.Fatalf("events: %+v", events)
	}

	runRefusedKCI(t, []refusedKCI{
		{"create: no image", alice, "CreateImageCache", vals("ImageCacheName", "x"), 400, "MissingParameter", "Image.N"},
		{"create: bad image", alice, "CreateImageCache", vals("Image.1", "Not A Ref"), 400, "InvalidParameterValue", "Image.N"},
		{"create: bad name", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageCacheName", "x_"), 400, "InvalidParameterValue", "ImageCacheName"},
		{"create: name taken", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageCacheName", "web"), 400, "InvalidParameterValue", "ImageCacheName"},
		{"create: size", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageCacheSize", "10"), 400, "InvalidParameterValue", "ImageCacheSize"},
		{"create: retention", alice, "CreateImageCache", vals("Image.1", "a:1", "RetentionDays", "65537"), 400, "InvalidParameterValue", "RetentionDays"},
		{"create: type", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageCacheType", "Fast"), 400, "InvalidParameterValue", "ImageCacheType"},
		{"create: credential without password", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageRegistryCredential.1.Server", "r", "ImageRegistryCredential.1.Username", "u"),
			400, "MissingParameter", "ImageRegistryCredential.1.Password"},
		{"create: another account's subnet", alice, "CreateImageCache", vals("Image.1", "a:1", "SubnetId", "subnet-b"), 400, "InvalidParameterValue", "SubnetId"},
		{"create: another account's security group", alice, "CreateImageCache", vals("Image.1", "a:1", "SecurityGroupId", "sg-b"), 400, "InvalidParameterValue", "SecurityGroupId"},
		{"create: size not a number", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageCacheSize", "big"), 400, "InvalidParameterValue", "ImageCacheSize"},
		{"create: read-only key", aliceRO, "CreateImageCache", vals("Image.1", "a:1"), 403, "", ""},
		{"create: dry run", alice, "CreateImageCache", vals("Image.1", "a:1", "DryRun", "true"), 412, "DryRunOperation", ""},
		{"create: dry run checks", alice, "CreateImageCache", vals("Image.1", "a:1", "ImageCacheSize", "10", "DryRun", "true"), 400, "InvalidParameterValue", "ImageCacheSize"},
		{"update: dry run checks", alice, "UpdateImageCache", vals("ImageCacheId", web.ImageCacheID, "RetentionDays", "-1", "DryRun", "true"), 400, "InvalidParameterValue", "RetentionDays"},
		{"update: dry run, another account's", bob, "UpdateImageCache", vals("ImageCacheId", web.ImageCacheID, "DryRun", "true"), 404, "ImageCacheNotFound", web.ImageCacheID},
		{"update: no id", alice, "UpdateImageCache", vals("ImageCacheSize", "30"), 400, "MissingParameter", "ImageCacheId"},
		{"update: another account's", bob, "UpdateImageCache", vals("ImageCacheId", web.ImageCacheID, "ImageCacheSize", "30"), 404, "ImageCacheNotFound", web.ImageCacheID},
		{"update: size", alice, "UpdateImageCache", vals("ImageCacheId", web.ImageCacheID, "ImageCacheSize", "501"), 400, "InvalidParameterValue", "ImageCacheSize"},
		{"update: dry run", alice, "UpdateImageCache", vals("ImageCacheId", web.ImageCacheID, "ImageCacheSize", "30", "DryRun", "true"), 412, "DryRunOperation", ""},
		{"delete: no id", alice, "DeleteImageCache", nil, 400, "MissingParameter", "ImageCacheId"},
		{"delete: another account's", bob, "DeleteImageCache", vals("ImageCacheId", web.ImageCacheID), 404, "ImageCacheNotFound", web.ImageCacheID},
		{"delete: dry run", alice, "DeleteImageCache", vals("ImageCacheId", web.ImageCacheID, "DryRun", "true"), 412, "DryRunOperation", ""},
		{"events: another account's", bob, "DescribeImageCacheEvent", vals("ImageCacheId", web.ImageCacheID), 404, "ImageCacheNotFound", web.ImageCacheID},
		{"events: no id", alice, "DescribeImageCacheEvent", nil, 400, "MissingParameter", "ImageCacheId"},
		{"describe: max results", alice, "DescribeImageCache", vals("MaxResults", "101"), 400, "InvalidParameterValue", "MaxResults"},
		{"describe: marker", alice, "DescribeImageCache", vals("Marker", "-1"), 400, "InvalidParameterValue", "Marker"},
		{"describe: sort key", alice, "DescribeImageCache", vals("SortKey", "CreateTime"), 400, "InvalidParameterValue", "SortKey"},
		{"describe: sort direction", alice, "DescribeImageCache", vals("SortDirection", "up"), 400, "InvalidParameterValue", "SortDirection"},
		{"match: none", alice, "MatchImageCache", nil, 400, "MissingParameter", "Image.N"},
		{"match: six", alice, "MatchImageCache", vals("Image.1", "a", "Image.2", "b", "Image.3", "c", "Image.4", "d", "Image.5", "e", "Image.6", "f"), 400, "InvalidParameterValue", "Image.N"},
	})
	if n := cacheCount(t, alice); n != 1 {
		t.Fatalf("alice has %d caches after refused calls, want 1", n)
	}
	if got := waitCache(t, alice, web.ImageCacheID); got.ImageCacheSize != 20 {
		t.Fatalf("a refused or dry-run update changed the cache: %+v", got)
	}
	// Bob sees nothing of Alice's.
	if n := cacheCount(t, bob); n != 0 {
		t.Fatalf("bob sees %d caches", n)
	}
	if out := decodeAs[kci.DescribeImageCacheResponse](t, bob.do("DescribeImageCache", vals("ImageCacheId.1", web.ImageCacheID))); len(out.ImageCaches) != 0 {
		t.Fatalf("bob described alice's cache")
	}
	if out := decodeAs[kci.MatchImageCacheResponse](t, bob.do("MatchImageCache", vals("Image.1", "busybox:1.36"))); len(out.ImageCaches) != 0 {
		t.Fatalf("bob matched alice's cache")
	}
	match := decodeAs[kci.MatchImageCacheResponse](t, alice.do("MatchImageCache", vals("Image.1", "docker.io/library/busybox:1.36")))
	if len(match.ImageCaches) != 1 || match.ImageCaches[0].ImageCacheID != web.ImageCacheID || match.ImageCaches[0].ImageCacheName != "web" {
		t.Fatalf("match: %+v", match)
	}

	// Groups: by ID, by match, never from another account's cache.
	group := func(c *client, name, sg string, kv ...string) *response {
		p := createParams(name)
		p.Set("SecurityGroupId.1", sg)
		p.Set("Container.1.Image", "registry.example.com/team/app:1")
		if c == bob {
			p.Set("SubnetId", "subnet-b")
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Set(kv[i], kv[i+1])
		}
		return c.do("CreateContainerGroup", p)
	}
	cacheOf := func(r *response) string {
		t.Helper()
		id := decodeAs[kci.CreateContainerGroupResponse](t, r).ContainerGroupID
		g, err := s.app.Store().Group(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return g.ImageCacheID
	}
	if got := cacheOf(group(alice, "by-id", "sg-a", "ImageCacheId", web.ImageCacheID)); got != web.ImageCacheID {
		t.Fatalf("group by ID started from %q", got)
	}
	if got := cacheOf(group(alice, "by-match", "sg-a", "AutoMatchImageCache", "true")); got != web.ImageCacheID {
		t.Fatalf("group by match started from %q", got)
	}
	if got := cacheOf(group(alice, "no-cache", "sg-a")); got != "" {
		t.Fatalf("group without a cache started from %q", got)
	}
	if got := cacheOf(group(bob, "bob-match", "sg-b", "AutoMatchImageCache", "true")); got != "" {
		t.Fatalf("bob's group matched alice's cache %q", got)
	}
	mustErr(t, group(bob, "bob-by-id", "sg-b", "ImageCacheId", web.ImageCacheID), 400, "InvalidParameterValue", "ImageCacheId")
	used := waitCache(t, alice, web.ImageCacheID)
	if used.LastUsedTime.IsZero() {
		t.Fatalf("LastUsedTime did not move: %+v", used)
	}

	// A cache being built serves no group; its events show where it is.
	release := rt.HoldFills()
	building := decodeAs[kci.CreateImageCacheResponse](t, alice.do("CreateImageCache", vals("ImageCacheName", "building", "Image.1", "redis:7"))).ImageCacheID
	mustErr(t, group(alice, "too-early", "sg-a", "ImageCacheId", building), 409, "IncorrectState", "Creating")
	release()
	waitCache(t, alice, building)

	// Too large for its size: Failed with the reason, nothing held.
	rt.SetImage("huge:1", 21<<30, nil)
	huge := decodeAs[kci.CreateImageCacheResponse](t, alice.do("CreateImageCache", vals("ImageCacheName", "huge", "Image.1", "huge:1"))).ImageCacheID
	if got := waitCache(t, alice, huge); got.Status != kci.ImageCacheFailed || !bytes.Contains([]byte(got.Reason), []byte("more than ImageCacheSize 20 GB")) {
		t.Fatalf("huge: %+v", got)
	}
	if h := rt.CacheHolds(huge); len(h) != 0 {
		t.Fatalf("a failed cache holds %v", h)
	}
	// Update pulls again: a larger size makes it Available.
	decodeAs[kci.UpdateImageCacheResponse](t, alice.do("UpdateImageCache", vals("ImageCacheId", huge, "ImageCacheSize", "25")))
	if got := waitCache(t, alice, huge); got.Status != kci.ImageCacheAvailable || got.ImageCacheSize != 25 || got.ImageCacheName != "huge" {
		t.Fatalf("huge after update: %+v", got)
	}

	// Paging and sorting.
	page := decodeAs[kci.DescribeImageCacheResponse](t, alice.do("DescribeImageCache", vals("MaxResults", "2")))
	if page.TotalCount != 3 || len(page.ImageCaches) != 2 || page.Marker != 2 || page.MaxResults != 2 {
		t.Fatalf("first page: %+v", page)
	}
	last := decodeAs[kci.DescribeImageCacheResponse](t, alice.do("DescribeImageCache", vals("MaxResults", "2", "Marker", strconv.Itoa(page.Marker))))
	if len(last.ImageCaches) != 1 || last.Marker != 0 {
		t.Fatalf("last page: %+v", last)
	}
	sorted := decodeAs[kci.DescribeImageCacheResponse](t, alice.do("DescribeImageCache", vals("SortKey", "LastUsedTime", "SortDirection", "desc")))
	if sorted.ImageCaches[0].ImageCacheID != web.ImageCacheID {
		t.Fatalf("desc by LastUsedTime: %+v", sorted.ImageCaches)
	}

	// Delete releases the holds; the cache is gone.
	decodeAs[kci.DeleteImageCacheResponse](t, alice.do("DeleteImageCache", vals("ImageCacheId", building)))
	if h := rt.CacheHolds(building); len(h) != 0 {
		t.Fatalf("deleted cache holds %v", h)
	}
	mustErr(t, alice.do("DescribeImageCacheEvent", vals("ImageCacheId", building)), 404, "ImageCacheNotFound", building)

	// A restart keeps the caches, the password sealed in state.db.
	s.stop()
	raw, err := os.ReadFile(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("cache-s3cret")) {
		t.Fatal("state.db holds the registry password of a cache in plain text")
	}
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir, rt: rt})
	alice, _, _ = tenants(s)
	if got := waitCache(t, alice, web.ImageCacheID); got.Status != kci.ImageCacheAvailable || !got.LastUsedTime.Equal(used.LastUsedTime.Time) {
		t.Fatalf("after restart: %+v", got)
	}
	if n := cacheCount(t, alice); n != 2 {
		t.Fatalf("%d caches after restart, want 2", n)
	}
}

type refusedKCI struct {
	name            string
	c               *client
	action          string
	params          map[string][]string
	status          int
	code, inMessage string
}

func runRefusedKCI(t *testing.T, calls []refusedKCI) {
	t.Helper()
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.c.do(tc.action, tc.params), tc.status, tc.code, tc.inMessage) })
	}
}

// A runtime that cannot hold images (no Puller): the
// six actions answer 409 IncorrectState saying so, ImageCacheId is an
// unknown cache (400 naming it), and AutoMatchImageCache is a normal pull.
func TestImageCachesWithoutPuller(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig, runtimeOnly: true})
	alice, _, _ := tenants(s)
	for _, action := range []string{"CreateImageCache", "UpdateImageCache", "DeleteImageCache", "DescribeImageCache", "MatchImageCache", "DescribeImageCacheEvent"} {
		mustErr(t, alice.do(action, vals("ImageCacheId", "ic-1", "Image.1", "a:1")), 409, "IncorrectState", "image caches are not served by this kcid")
	}
	p := createParams("by-id")
	p.Set("SecurityGroupId.1", "sg-a")
	p.Set("ImageCacheId", "ic-1")
	mustErr(t, alice.do("CreateContainerGroup", p), 400, "InvalidParameterValue", "ImageCacheId")
	p = createParams("auto")
	p.Set("SecurityGroupId.1", "sg-a")
	p.Set("AutoMatchImageCache", "true")
	mustOK(t, alice.do("CreateContainerGroup", p))
}
