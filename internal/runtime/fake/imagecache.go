package fake

import (
	"context"
	"sync"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/imagecache"
)

// DefaultImageBytes is the size the fake gives an image it was told
// nothing about.
const DefaultImageBytes = 10 << 20

// caches is the fake's side of image caches: images have scripted sizes
// and pull errors, and fills can be held.
type caches struct {
	mu    sync.Mutex
	sizes map[string]int64 // by reference as given
	errs  map[string]error
	held  map[string][]core.CachedImage // by cache
	gate  chan struct{}
	fills int
}

var _ imagecache.Puller = (*Runtime)(nil)

// SetImage scripts an image's size (bytes) and, if err is set, its pull
// failure.
func (r *Runtime) SetImage(ref string, bytes int64, err error) {
	r.ic.mu.Lock()
	defer r.ic.mu.Unlock()
	if r.ic.sizes == nil {
		r.ic.sizes, r.ic.errs = map[string]int64{}, map[string]error{}
	}
	r.ic.sizes[ref], r.ic.errs[ref] = bytes, err
}

// HoldFills makes cache fills wait (after their first Pulling report)
// until release is called.
func (r *Runtime) HoldFills() (release func()) {
	gate := make(chan struct{})
	r.ic.mu.Lock()
	r.ic.gate = gate
	r.ic.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.ic.mu.Lock()
			r.ic.gate = nil
			r.ic.mu.Unlock()
			close(gate)
		})
	}
}

// CacheHolds returns what the fake holds for a cache.
func (r *Runtime) CacheHolds(id string) []core.CachedImage {
	r.ic.mu.Lock()
	defer r.ic.mu.Unlock()
	return append([]core.CachedImage(nil), r.ic.held[id]...)
}

// Fill "pulls" each image: Pulling, one Progress report, Pulled.
func (r *Runtime) Fill(ctx context.Context, c *core.ImageCache, rep imagecache.Reporter) error {
	var got []core.CachedImage
	for i, ref := range c.Images {
		rep.Pulling(ref)
		r.ic.mu.Lock()
		gate, size, err := r.ic.gate, r.ic.sizes[ref], r.ic.errs[ref]
		r.ic.mu.Unlock()
		if i == 0 && gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
		if size == 0 {
			size = DefaultImageBytes
		}
		name, nerr := imagecache.Normalize(ref)
		if nerr != nil {
			return nerr
		}
		rep.Progress(ref, size, size)
		img := core.CachedImage{Ref: ref, Name: name, Bytes: size}
		got = append(got, img)
		r.ic.mu.Lock()
		if r.ic.held == nil {
			r.ic.held = map[string][]core.CachedImage{}
		}
		r.ic.held[c.ID] = append([]core.CachedImage(nil), got...)
		r.ic.mu.Unlock()
		if err := rep.Pulled(img); err != nil {
			return err
		}
	}
	return nil
}

// Release forgets what a cache holds.
func (r *Runtime) Release(_ context.Context, id string) error {
	r.ic.mu.Lock()
	defer r.ic.mu.Unlock()
	delete(r.ic.held, id)
	return nil
}

// Held lists the caches holding images.
func (r *Runtime) Held(context.Context) ([]string, error) {
	r.ic.mu.Lock()
	defer r.ic.mu.Unlock()
	var out []string
	for id := range r.ic.held {
		out = append(out, id)
	}
	return out, nil
}
