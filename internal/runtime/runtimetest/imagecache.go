package runtimetest

import (
	"sync"

	"github.com/openkci/openkci/internal/core"
)

// CacheReports is an imagecache.Reporter that keeps what a runtime's
// image cache fill told it.
type CacheReports struct {
	mu     sync.Mutex
	Pulls  []string            // refs, in the order their pulls began
	Last   map[string][2]int64 // last progress (done, total) per ref
	Images []core.CachedImage  // pulled images, in order
}

func (r *CacheReports) Pulling(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Pulls = append(r.Pulls, ref)
}

func (r *CacheReports) Progress(ref string, done, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Last == nil {
		r.Last = map[string][2]int64{}
	}
	r.Last[ref] = [2]int64{done, total}
}

func (r *CacheReports) Pulled(img core.CachedImage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Images = append(r.Images, img)
	return nil
}
