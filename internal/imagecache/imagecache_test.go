package imagecache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/imagecache"
	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/internal/store"
)

var (
	bg    = context.Background()
	epoch = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
)

type rig struct {
	m   *imagecache.Manager
	st  *store.Store
	rt  *fake.Runtime
	clk *clock.Fake
	dir string
}

// newRig is a Manager over a real state.db and the fake runtime's cache
// holds, on a fake clock.
func newRig(t *testing.T, dir string, rt *fake.Runtime, clk *clock.Fake) *rig {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := imagecache.New(imagecache.Options{Store: st, Puller: rt, Clock: clk, ExpiryInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.Start(bg); err != nil {
		t.Fatal(err)
	}
	r := &rig{m: m, st: st, rt: rt, clk: clk, dir: dir}
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	r.m.Close()
	r.st.Close()
}

func start(t *testing.T) *rig {
	return newRig(t, t.TempDir(), fake.New(), clock.NewFake(epoch))
}

func ptr[T any](v T) *T { return &v }

// wait polls until the cache leaves Creating and returns it.
func wait(t *testing.T, m *imagecache.Manager, account, id string) *core.ImageCache {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := m.Cache(account, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != core.ImageCacheCreating {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache %s still Creating", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func reasons(c *core.ImageCache) string {
	var out []string
	for _, e := range c.Events {
		out = append(out, e.Reason)
	}
	return strings.Join(out, ",")
}

func TestBuildOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		images     []string
		size       int
		script     func(rt *fake.Runtime)
		wantStatus core.ImageCacheStatus
		wantReason string
		wantEvents string
	}{
		{"available", []string{"busybox:1", "nginx:1.25"}, 0, nil, core.ImageCacheAvailable, "",
			"Creating,Pulling,PullProgress,Pulled,Pulling,PullProgress,Pulled,Available"},
		{"pull fails", []string{"busybox:1", "private/app:1"}, 0, func(rt *fake.Runtime) {
			rt.SetImage("private/app:1", 0, errors.New("pull access denied"))
		}, core.ImageCacheFailed, "pull access denied", "Creating,Pulling,PullProgress,Pulled,Pulling,Failed"},
		{"larger than the cache", []string{"big:1", "bigger:1"}, 20, func(rt *fake.Runtime) {
			rt.SetImage("big:1", 15<<30, nil)
			rt.SetImage("bigger:1", 6<<30, nil)
		}, core.ImageCacheFailed, "the images need 21.0 GiB, more than ImageCacheSize 20 GB", "Creating,Pulling,PullProgress,Pulled,Pulling,PullProgress,Pulled,Failed"},
		{"fits a larger cache", []string{"big:1", "bigger:1"}, 25, func(rt *fake.Runtime) {
			rt.SetImage("big:1", 15<<30, nil)
			rt.SetImage("bigger:1", 6<<30, nil)
		}, core.ImageCacheAvailable, "", "Creating,Pulling,PullProgress,Pulled,Pulling,PullProgress,Pulled,Available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t)
			if tc.script != nil {
				tc.script(r.rt)
			}
			spec := imagecache.Spec{Images: tc.images}
			if tc.size != 0 {
				spec.SizeGiB = &tc.size
			}
			c, err := r.m.Create(bg, "1001", "cn-beijing-6", spec)
			if err != nil {
				t.Fatal(err)
			}
			got := wait(t, r.m, "1001", c.ID)
			if got.Status != tc.wantStatus || !strings.Contains(got.Reason, tc.wantReason) {
				t.Fatalf("status %s reason %q, want %s %q", got.Status, got.Reason, tc.wantStatus, tc.wantReason)
			}
			if ev := reasons(got); ev != tc.wantEvents {
				t.Errorf("events %s\nwant   %s", ev, tc.wantEvents)
			}
			held := r.rt.CacheHolds(c.ID)
			if tc.wantStatus == core.ImageCacheFailed && len(held) != 0 {
				t.Errorf("a failed cache still holds %v", held)
			}
			if tc.wantStatus == core.ImageCacheAvailable && (len(held) != len(tc.images) || len(got.Pulled) != len(tc.images)) {
				t.Errorf("holds %v, pulled %v", held, got.Pulled)
			}
		})
	}
}

func TestSpecChecks(t *testing.T) {
	r := start(t)
	if _, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Name: ptr("taken"), Images: []string{"a:1"}}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = "img" + string(rune('a'+i)) + ":1"
	}
	for _, tc := range []struct {
		name  string
		spec  imagecache.Spec
		param string
	}{
		{"no images", imagecache.Spec{}, "Image.N"},
		{"empty images", imagecache.Spec{Images: []string{}}, "Image.N"},
		{"21 images", imagecache.Spec{Images: many}, "Image.N"},
		{"bad reference", imagecache.Spec{Images: []string{"Not A Ref"}}, "Image.N"},
		{"same image twice", imagecache.Spec{Images: []string{"nginx", "docker.io/library/nginx:latest"}}, "Image.N"},
		{"name starts with a dash", imagecache.Spec{Name: ptr("-x"), Images: []string{"a:1"}}, "ImageCacheName"},
		{"name too long", imagecache.Spec{Name: ptr(strings.Repeat("a", 64)), Images: []string{"a:1"}}, "ImageCacheName"},
		{"name taken", imagecache.Spec{Name: ptr("taken"), Images: []string{"a:1"}}, "ImageCacheName"},
		{"size too small", imagecache.Spec{SizeGiB: ptr(19), Images: []string{"a:1"}}, "ImageCacheSize"},
		{"size too large", imagecache.Spec{SizeGiB: ptr(501), Images: []string{"a:1"}}, "ImageCacheSize"},
		{"retention negative", imagecache.Spec{RetentionDays: ptr(-1), Images: []string{"a:1"}}, "RetentionDays"},
		{"retention too long", imagecache.Spec{RetentionDays: ptr(65537), Images: []string{"a:1"}}, "RetentionDays"},
		{"type", imagecache.Spec{Type: ptr("Fast"), Images: []string{"a:1"}}, "ImageCacheType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.m.Create(bg, "1001", "r", tc.spec)
			var pe *errdefs.ParamError
			if !errors.As(err, &pe) || pe.Param != tc.param {
				t.Fatalf("err = %v, want a ParamError naming %s", err, tc.param)
			}
		})
	}
	// Another account may use the name.
	if _, err := r.m.Create(bg, "1002", "r", imagecache.Spec{Name: ptr("taken"), Images: []string{"a:1"}}); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := r.m.Describe(bg, imagecache.Query{AccountID: "1001", Limit: 100}); n != 1 {
		t.Fatalf("account 1001 has %d caches after refused creates, want 1", n)
	}
}

// Expiry follows the one clock: a cache with RetentionDays goes (its
// images released) once that many days passed since its creation, one
// without stays.
func TestExpiry(t *testing.T) {
	r := start(t)
	keep, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Images: []string{"a:1"}})
	if err != nil {
		t.Fatal(err)
	}
	week, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Images: []string{"b:1"}, RetentionDays: ptr(7)})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, r.m, "1001", keep.ID)
	wait(t, r.m, "1001", week.ID)
	if at := week.ExpireAt(); !at.Equal(epoch.AddDate(0, 0, 7)) {
		t.Fatalf("ExpireAt %v", at)
	}
	r.clk.Advance(7*24*time.Hour - time.Second)
	if n := r.m.ExpireDue(bg); n != 0 {
		t.Fatalf("expired %d a second early", n)
	}
	r.clk.Advance(time.Second)
	if n := r.m.ExpireDue(bg); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if _, err := r.m.Cache("1001", week.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("expired cache: %v", err)
	}
	if h := r.rt.CacheHolds(week.ID); len(h) != 0 {
		t.Fatalf("expired cache still holds %v", h)
	}
	if h := r.rt.CacheHolds(keep.ID); len(h) != 1 {
		t.Fatalf("kept cache holds %v", h)
	}
	all, err := r.st.ImageCaches(bg)
	if err != nil || len(all) != 1 || all[0].ID != keep.ID {
		t.Fatalf("stored after expiry: %v %v", all, err)
	}
}

// Tenancy and choice: ForGroup and Match see only the account's Available
// caches; an explicit ID of another account is refused naming ImageCacheId;
// auto picks the cache holding most of the images, then the most recently
// used.
func TestForGroupAndMatch(t *testing.T) {
	r := start(t)
	mk := func(account string, images ...string) string {
		c, err := r.m.Create(bg, account, "r", imagecache.Spec{Images: images})
		if err != nil {
			t.Fatal(err)
		}
		wait(t, r.m, account, c.ID)
		r.clk.Advance(time.Second)
		return c.ID
	}
	one := mk("1001", "busybox:1")
	both := mk("1001", "busybox:1", "nginx:1.25")
	bobs := mk("1002", "busybox:1", "nginx:1.25", "redis:7")

	for _, tc := range []struct {
		name    string
		account string
		id      string
		auto    bool
		images  []string
		want    string
		param   string
	}{
		{"explicit", "1001", one, false, []string{"nginx:1.25"}, one, ""},
		{"explicit beats auto", "1001", one, true, []string{"nginx:1.25"}, one, ""},
		{"another account's", "1001", bobs, false, []string{"busybox:1"}, "", "ImageCacheId"},
		{"missing", "1001", "ic-nope", false, nil, "", "ImageCacheId"},
		{"auto: most images", "1001", "", true, []string{"docker.io/library/busybox:1", "nginx:1.25"}, both, ""},
		{"auto: none holds them", "1001", "", true, []string{"redis:7"}, "", ""},
		{"auto: never another account's", "1002", "", true, []string{"redis:7"}, bobs, ""},
		{"neither", "1001", "", false, []string{"busybox:1"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.m.ForGroup(bg, tc.account, tc.id, tc.auto, tc.images)
			if tc.param != "" {
				var pe *errdefs.ParamError
				if !errors.As(err, &pe) || pe.Param != tc.param {
					t.Fatalf("err = %v, want a ParamError naming %s", err, tc.param)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
	// Used last, one is now the preferred of equal matches.
	r.m.MarkUsed(bg, one)
	if got, _ := r.m.ForGroup(bg, "1001", "", true, []string{"busybox:1"}); got != one {
		t.Fatalf("auto after use picked %s, want %s", got, one)
	}
	c, _ := r.m.Cache("1001", one)
	if !c.LastUsedAt.Equal(r.clk.Now()) {
		t.Fatalf("LastUsedAt %v, want %v", c.LastUsedAt, r.clk.Now())
	}
	match, err := r.m.Match(bg, "1001", []string{"busybox:1"})
	if err != nil || len(match) != 2 || match[0].ID != one || match[1].ID != both {
		t.Fatalf("match: %v %v", match, err)
	}
	if match, _ := r.m.Match(bg, "1001", []string{"redis:7"}); len(match) != 0 {
		t.Fatalf("account 1001 matched another account's cache: %v", match)
	}

	// A cache being built is not used.
	release := r.rt.HoldFills()
	defer release()
	building, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Images: []string{"redis:7"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.ForGroup(bg, "1001", building.ID, false, nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("a Creating cache: %v", err)
	}
	if got, _ := r.m.ForGroup(bg, "1001", "", true, []string{"redis:7"}); got != "" {
		t.Fatalf("auto picked the Creating cache %s", got)
	}
}

// Update pulls again with the new images: the build of the old generation
// is cancelled, the cache is Creating and then holds only the new images.
func TestUpdate(t *testing.T) {
	r := start(t)
	release := r.rt.HoldFills()
	c, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Images: []string{"a:1", "b:1"}})
	if err != nil {
		t.Fatal(err)
	}
	release()
	up, err := r.m.Update(bg, "1001", c.ID, imagecache.Spec{Images: []string{"c:1"}, RetentionDays: ptr(3)})
	if err != nil {
		t.Fatal(err)
	}
	if up.Generation != 2 || up.Status != core.ImageCacheCreating {
		t.Fatalf("updated: %+v", up)
	}
	got := wait(t, r.m, "1001", c.ID)
	if got.Status != core.ImageCacheAvailable || len(got.Pulled) != 1 || got.Pulled[0].Ref != "c:1" || got.RetentionDays != 3 {
		t.Fatalf("after update: %+v", got)
	}
	if _, err := r.m.Update(bg, "1002", c.ID, imagecache.Spec{}); !errdefs.IsNotFound(err) {
		t.Fatalf("another account's update: %v", err)
	}
}

// A restart resumes a build cut short and releases holds of caches that
// are gone; credentials survive sealed.
func TestRestart(t *testing.T) {
	dir, rt, clk := t.TempDir(), fake.New(), clock.NewFake(epoch)
	r := newRig(t, dir, rt, clk)
	release := rt.HoldFills()
	c, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Images: []string{"a:1"},
		Credentials: []core.RegistryCredential{{Server: "r.example", Username: "u", Password: "pw"}}, SetCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	r.close()
	release()
	// What a deleted cache left behind (a crash between release and forget).
	if err := rt.Fill(bg, &core.ImageCache{ID: "ic-gone", Images: []string{"x:1"}}, nopReporter{}); err != nil {
		t.Fatal(err)
	}

	r2 := newRig(t, dir, rt, clk)
	got := wait(t, r2.m, "1001", c.ID)
	if got.Status != core.ImageCacheAvailable || len(got.Credentials) != 1 || got.Credentials[0].Password != "pw" {
		t.Fatalf("after restart: %+v", got)
	}
	if h := rt.CacheHolds("ic-gone"); len(h) != 0 {
		t.Fatalf("holds of a gone cache kept: %v", h)
	}
}

type nopReporter struct{}

func (nopReporter) Pulling(string)                {}
func (nopReporter) Progress(string, int64, int64) {}
func (nopReporter) Pulled(core.CachedImage) error { return nil }

// Describe pages and sorts as the SDK defines.
func TestDescribe(t *testing.T) {
	r := start(t)
	var ids []string
	for _, name := range []string{"web-a", "web-b", "db"} {
		c, err := r.m.Create(bg, "1001", "r", imagecache.Spec{Name: ptr(name), Images: []string{name + ":1"}})
		if err != nil {
			t.Fatal(err)
		}
		wait(t, r.m, "1001", c.ID)
		ids = append(ids, c.ID)
		r.clk.Advance(time.Second)
	}
	r.m.MarkUsed(bg, ids[2])
	r.clk.Advance(time.Second)
	r.m.MarkUsed(bg, ids[0])
	names := func(cs []*core.ImageCache) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name      string
		q         imagecache.Query
		want      string
		wantTotal int
	}{
		{"all, by creation", imagecache.Query{}, "web-a,web-b,db", 3},
		{"page", imagecache.Query{Offset: 1, Limit: 1}, "web-b", 3},
		{"past the end", imagecache.Query{Offset: 3}, "", 3},
		{"by name", imagecache.Query{Name: "WEB"}, "web-a,web-b", 2},
		{"by image", imagecache.Query{Image: "docker.io/library/db"}, "db", 1},
		{"IDs win over name", imagecache.Query{IDs: []string{ids[2]}, Name: "web"}, "db", 1},
		{"last used asc", imagecache.Query{SortByLastUsed: true}, "web-b,db,web-a", 3},
		{"last used desc", imagecache.Query{SortByLastUsed: true, Desc: true}, "web-a,db,web-b", 3},
		{"another account", imagecache.Query{AccountID: "1002"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			if q.AccountID == "" {
				q.AccountID = "1001"
			}
			if q.Limit == 0 {
				q.Limit = 20
			}
			page, total, err := r.m.Describe(bg, q)
			if err != nil || names(page) != tc.want || total != tc.wantTotal {
				t.Fatalf("got %q of %d (%v), want %q of %d", names(page), total, err, tc.want, tc.wantTotal)
			}
		})
	}
}
