package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/pkg/kci"
)

// TestImageCache: the kcid binary on real containerd pulls a private image
// into a cache (Creating → Available, progress in its events), then starts
// groups from it — by ImageCacheId and by AutoMatchImageCache — while the
// registry is blocked and receives no request, each with an event naming
// the cache; DeleteImageCache removes the cache's image records from
// containerd and the cache from the API.
func TestImageCache(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e, subnetCache)
	c := newClient(k)
	proxy := testenv.NewRegistryProxy(t, e.reg)
	repo := "openkci/e2e-cache-" + randHex(3)
	testenv.BusyboxImageInfo(t, testenv.ImageConfig{Repo: repo, Files: []testenv.File{{Path: "/cache-id", Content: []byte(randHex(16))}}})
	ref := proxy.Ref(repo, "test")
	creds := vals("ImageRegistryCredential.1.Server", proxy.Host,
		"ImageRegistryCredential.1.Username", e.reg.Username, "ImageRegistryCredential.1.Password", e.reg.Password)

	// Refusals on the binary (the Kubernetes runtime's twin is
	// TestImageCacheOverHTTPOnCluster): code, status and wire parameter,
	// and nothing made.
	for _, r := range []struct {
		action      string
		params      url.Values
		status      int
		code, param string
	}{
		{"CreateImageCache", vals("ImageCacheName", "none"), 400, kci.CodeMissingParameter, "Image.N"},
		{"CreateImageCache", vals("Image.1", "Not A Ref"), 400, kci.CodeInvalidParameterValue, "Image.N"},
		{"DeleteImageCache", vals("ImageCacheId", "ic-missing"), 404, kci.CodeImageCacheNotFound, "ic-missing"},
		{"DescribeImageCacheEvent", vals("ImageCacheId", "ic-missing"), 404, kci.CodeImageCacheNotFound, "ic-missing"},
		{"CreateContainerGroup", vals("ContainerGroupName", "e2e-no-cache", "SubnetId", subnetCache, "SecurityGroupId.1", sgID,
			"ChargeType", "HourlyInstantSettlement", "Cpu", "0.5", "Memory", "0.5", "Container.1.Name", "main", "Container.1.Image", ref,
			"ImageCacheId", "ic-missing"), 400, kci.CodeInvalidParameterValue, "ImageCacheId"},
	} {
		err := c.call(r.action, r.params, nil)
		if ae, ok := err.(*apiError); !ok || ae.Status != r.status || ae.Code != r.code || !strings.Contains(ae.Message, r.param) {
			t.Errorf("%s %v: %v, want HTTP %d %s naming %s", r.action, r.params, err, r.status, r.code, r.param)
		}
	}
	var none kci.DescribeImageCacheResponse
	if err := c.callStrict("DescribeImageCache", nil, &none); err != nil || none.TotalCount != 0 {
		t.Errorf("caches after the refusals: %s %v", dump(none), err)
	}
	var groups kci.DescribeContainerGroupResponse
	if err := c.callStrict("DescribeContainerGroup", nil, &groups); err != nil || len(groups.ContainerGroups) != 0 {
		t.Errorf("groups after the refused create: %s %v", dump(groups), err)
	}

	p := vals("ImageCacheName", "e2e", "Image.1", ref)
	for k, v := range creds {
		p[k] = v
	}
	var created kci.CreateImageCacheResponse
	if err := c.callStrict("CreateImageCache", p, &created); err != nil {
		t.Fatal(err)
	}
	id := created.ImageCacheID
	var cache kci.ImageCache
	deadline := time.Now().Add(runningTimeout)
	for {
		var out kci.DescribeImageCacheResponse
		if err := c.callStrict("DescribeImageCache", vals("ImageCacheId.1", id), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.ImageCaches) == 1 && out.ImageCaches[0].Status != kci.ImageCacheCreating {
			cache = out.ImageCaches[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache still Creating: %s", dump(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cache.Status != kci.ImageCacheAvailable || cache.UsedBytes == 0 {
		t.Fatalf("cache: %s", dump(cache))
	}
	var events kci.DescribeImageCacheEventResponse
	if err := c.callStrict("DescribeImageCacheEvent", vals("ImageCacheId", id), &events); err != nil {
		t.Fatal(err)
	}
	reasons := ""
	for _, ev := range events.Events {
		reasons += ev.Reason + ","
	}
	if reasons != "Creating,Pulling,PullProgress,Pulled,Available," {
		t.Errorf("events: %s", dump(events.Events))
	}

	proxy.Block()
	before := proxy.Requests()
	for _, how := range [][]string{{"ImageCacheId", id}, {"AutoMatchImageCache", "true"}} {
		extra := vals("Container.1.Image", ref, how[0], how[1])
		for k, v := range creds {
			extra[k] = v
		}
		gid := createGroup(t, e, c, groupSpec{name: "e2e-cache-" + strings.ToLower(how[0][:4]), subnet: subnetCache, script: "sleep 3600", extra: extra})
		g := waitGroup(t, k, c, gid, runningTimeout, "Running", running)
		if !g.hasEvent("Pulled", "Container image `"+ref+"` served from image cache "+id+", no registry contacted") {
			t.Errorf("%s: no event naming the cache:\n%s", how[0], dump(g.Events))
		}
	}
	if n := proxy.Requests() - before; n != 0 {
		t.Errorf("starts from the cache sent %d requests to the registry", n)
	}
	proxy.Unblock()

	var used kci.DescribeImageCacheResponse
	if err := c.callStrict("DescribeImageCache", vals("ImageCacheId.1", id), &used); err != nil || used.ImageCaches[0].LastUsedTime.IsZero() {
		t.Errorf("LastUsedTime after use: %s %v", dump(used), err)
	}
	records := func() (n int) {
		for _, img := range testenv.ContainerdImages(t, e.ctrd, k.ns) {
			if strings.Contains(img, id) {
				n++
			}
		}
		return n
	}
	if n := records(); n != 1 {
		t.Fatalf("%d image records of the cache in containerd, want 1", n)
	}
	if err := c.callStrict("DeleteImageCache", vals("ImageCacheId", id), nil); err != nil {
		t.Fatal(err)
	}
	if n := records(); n != 0 {
		t.Errorf("%d image records of the deleted cache left in containerd", n)
	}
	err := c.call("DescribeImageCacheEvent", vals("ImageCacheId", id), nil)
	if ae, ok := err.(*apiError); !ok || ae.Status != http.StatusNotFound || ae.Code != kci.CodeImageCacheNotFound {
		t.Errorf("events of the deleted cache: %v", err)
	}
}
