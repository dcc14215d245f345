package containerd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/imagecache"
)

// Image caches on containerd.
//
// A cache's images are image records of their own in the runtime's
// namespace, one per image, named cacheImageName(cache, reference) and
// labelled with the cache and its account: containerd's garbage collector
// keeps their content and unpacked snapshots for as long as the records
// exist (GC references from image records), shared by digest with every
// other record. Release deletes the records, the last one synchronously,
// so content no other record or container holds is collected at once.
// The shared records groups pull into (images.ensure) are never touched,
// so a cache changes nothing of the per-account labels they carry.

const (
	labelImageCache = labelPrefix + "image-cache"
	// cacheNamePrefix starts every cache record's name; .invalid keeps it
	// from ever naming a real registry.
	cacheNamePrefix = "image-cache.openkci.invalid/"
)

// cacheImageName is the record of the normalised reference name in cache id.
func cacheImageName(id, name string) string {
	return cacheNamePrefix + id + "/" + name
}

var _ imagecache.Puller = (*Runtime)(nil)

// Fill pulls every image of c into records of the cache, with c's
// credentials, telling r of each step and of the bytes fetched. Records of
// the cache's previous images it no longer lists are deleted at the end.
func (r *Runtime) Fill(ctx context.Context, c *core.ImageCache, rep imagecache.Reporter) error {
	keep := map[string]bool{}
	for _, ref := range c.Images {
		name, err := normalize(ref)
		if err != nil {
			return err
		}
		rep.Pulling(ref)
		img, err := r.pullIntoCache(ctx, c, ref, name, rep)
		if err != nil {
			return fmt.Errorf("pull image %s: %w", ref, err)
		}
		keep[img.Name()] = true
		size, err := r.diskUsage(ctx, img)
		if err != nil {
			return fmt.Errorf("size of image %s: %w", ref, err)
		}
		if err := rep.Pulled(core.CachedImage{Ref: ref, Name: name, Bytes: size}); err != nil {
			return err
		}
	}
	return r.deleteCacheImages(ctx, c.ID, keep)
}

// diskUsage is what an image takes on disk: its content (manifest,
// config, compressed layers) plus every unpacked layer of its chain.
// (containerd's Image.Usage with snapshots counts only the top layer's
// snapshot.)
func (r *Runtime) diskUsage(ctx context.Context, img containerd.Image) (int64, error) {
	size, err := img.Usage(ctx)
	if err != nil {
		return 0, err
	}
	diffs, err := img.RootFS(ctx)
	if err != nil {
		return 0, err
	}
	sn := r.client.SnapshotService(r.cfg.Snapshotter)
	for _, chain := range identity.ChainIDs(diffs) {
		u, err := sn.Usage(ctx, chain.String())
		if err != nil {
			return 0, fmt.Errorf("usage of layer %s: %w", chain, err)
		}
		size += u.Size
	}
	return size, nil
}

// pullIntoCache pulls one image as the cache's record (unpacked), the
// registry reached with the cache's credentials.
func (r *Runtime) pullIntoCache(ctx context.Context, c *core.ImageCache, ref, name string, rep imagecache.Reporter) (containerd.Image, error) {
	record := cacheImageName(c.ID, name)
	prog := &fetchProgress{report: func(done, total int64) { rep.Progress(ref, done, total) }}
	img, err := r.client.Pull(ctx, name,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.cfg.Snapshotter),
		containerd.WithPullLabels(map[string]string{labelImageCache: c.ID, labelAccount: c.AccountID}),
		containerd.WithResolver(renamingResolver{Resolver: r.images.resolver(c.Credentials), record: record}),
		containerd.WithImageHandlerWrapper(prog.wrap))
	if err == nil {
		prog.complete()
	}
	return img, err
}

// renamingResolver resolves and fetches a reference as its Resolver does,
// but names the image record it yields record: containerd's Pull names the
// record after what Resolve returns.
type renamingResolver struct {
	remotes.Resolver
	record string
}

func (rr renamingResolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	_, desc, err := rr.Resolver.Resolve(ctx, ref)
	if err != nil {
		return "", desc, err
	}
	return rr.record, desc, nil
}

func (rr renamingResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	if name, ok := strings.CutPrefix(ref, cacheNamePrefix); ok {
		// <cache>/<name>: fetch from name.
		if _, real, ok := strings.Cut(name, "/"); ok {
			ref = real
		}
	}
	return rr.Resolver.Fetcher(ctx, ref)
}

// fetchProgress counts the bytes of the descriptors fetched so far against
// the size of everything the manifests list.
type fetchProgress struct {
	report      func(done, total int64)
	mu          sync.Mutex
	done, total int64
}

func (p *fetchProgress) wrap(h ctrimages.Handler) ctrimages.Handler {
	return ctrimages.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		children, err := h.Handle(ctx, desc)
		if err != nil {
			return children, err
		}
		p.mu.Lock()
		if ctrimages.IsManifestType(desc.MediaType) {
			for _, ch := range children {
				p.total += ch.Size
			}
		} else if !ctrimages.IsIndexType(desc.MediaType) {
			p.done += desc.Size
		}
		// Reported under the lock: handlers run concurrently, and a report
		// made after unlocking could overtake a later, larger one.
		p.report(p.done, p.total)
		p.mu.Unlock()
		return children, nil
	})
}

// complete reports everything fetched once the pull succeeded: layers
// whose content the store already held (a base layer another image
// brought) are never fetched, so the handler never counts them.
func (p *fetchProgress) complete() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done < p.total {
		p.done = p.total
	}
	p.report(p.done, p.total)
}

// Release deletes every record of cache id; content and snapshots no
// other record or container holds are collected before it returns.
func (r *Runtime) Release(ctx context.Context, id string) error {
	return r.deleteCacheImages(ctx, id, nil)
}

// deleteCacheImages deletes the records of cache id not in keep, the last
// one with a synchronous garbage collection.
func (r *Runtime) deleteCacheImages(ctx context.Context, id string, keep map[string]bool) error {
	ctx = r.nsCtx(ctx)
	is := r.client.ImageService()
	list, err := is.List(ctx, fmt.Sprintf("labels.%q==%q", labelImageCache, id))
	if err != nil {
		return fmt.Errorf("list images of image cache %s: %w", id, err)
	}
	var drop []string
	for _, img := range list {
		if !keep[img.Name] {
			drop = append(drop, img.Name)
		}
	}
	for i, name := range drop {
		var opts []ctrimages.DeleteOpt
		if i == len(drop)-1 {
			opts = append(opts, ctrimages.SynchronousDelete())
		}
		if err := is.Delete(ctx, name, opts...); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete image %s of image cache %s: %w", name, id, err)
		}
	}
	return nil
}

// Held lists the caches that have image records here.
func (r *Runtime) Held(ctx context.Context) ([]string, error) {
	list, err := r.client.ImageService().List(r.nsCtx(ctx), fmt.Sprintf("labels.%q", labelImageCache))
	if err != nil {
		return nil, fmt.Errorf("list images of image caches: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, img := range list {
		if id := img.Labels[labelImageCache]; id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// errNotCached: the group's cache does not hold the image.
var errNotCached = errors.New("not in the image cache")

// fromCache returns the group's cache's record of ref, if the cache holds
// it for the group's account, unpacked.
func (r *Runtime) fromCache(ctx context.Context, g *core.Group, ref string) (containerd.Image, error) {
	name, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	img, ok := r.images.present(ctx, cacheImageName(g.ImageCacheID, name))
	if img == nil || img.Labels()[labelAccount] != g.AccountID || img.Labels()[labelImageCache] != g.ImageCacheID {
		return nil, errNotCached
	}
	if !ok {
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s of image cache %s: %w", ref, g.ImageCacheID, err)
		}
	}
	return img, nil
}
