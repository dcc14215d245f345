package api

import (
	"context"
	"strings"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/imagecache"
	"github.com/openkci/openkci/pkg/kci"
)

// ImageCaches is what the API needs of the image cache manager.
type ImageCaches interface {
	Create(ctx context.Context, account, region string, spec imagecache.Spec) (*core.ImageCache, error)
	Update(ctx context.Context, account, id string, spec imagecache.Spec) (*core.ImageCache, error)
	Delete(ctx context.Context, account, id string) error
	Describe(ctx context.Context, q imagecache.Query) ([]*core.ImageCache, int, error)
	Match(ctx context.Context, account string, images []string) ([]*core.ImageCache, error)
	Events(ctx context.Context, account, id string) ([]core.Event, error)
	Cache(account, id string) (*core.ImageCache, error)
}

// caches returns the manager, or the error of a kcid without one.
func (h *Handler) caches() (ImageCaches, error) {
	if h.o.ImageCaches == nil {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, "image caches are not served by this kcid: its runtime cannot hold images for them")
	}
	return h.o.ImageCaches, nil
}

func (h *Handler) createImageCache(c *call) (any, error) {
	ic, err := h.caches()
	if err != nil {
		return nil, err
	}
	var req createImageCacheRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	creds, err := buildCredentials(req.ImageRegistryCredential)
	if err != nil {
		return nil, err
	}
	spec := imagecache.Spec{
		Name: &req.ImageCacheName, SubnetID: &req.SubnetID, SecurityGroupID: &req.SecurityGroupID,
		SizeGiB: req.ImageCacheSize, RetentionDays: req.RetentionDays, Images: req.Image,
		Credentials: creds, SetCredentials: true, EnableWarm: req.EnableWarm,
	}
	if req.ImageCacheType != "" {
		spec.Type = &req.ImageCacheType
	}
	if req.Image == nil {
		return nil, missing("Image.N")
	}
	if err := h.checkCacheNetwork(c, req.SubnetID, req.SecurityGroupID); err != nil {
		return nil, err
	}
	spec.DryRun = c.dryRun
	out, err := ic.Create(c.ctx, c.accountID, c.region, spec)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.CreateImageCacheResponse{RequestID: c.requestID, ImageCacheID: out.ID}, nil
}

// checkCacheNetwork refuses a SubnetId or SecurityGroupId that is not the
// caller's (kcid builds caches without a group, so they are only kept).
func (h *Handler) checkCacheNetwork(c *call, subnet, sg string) error {
	nets := h.o.Service.Networks()
	if subnet != "" {
		if _, _, err := nets.SubnetFor(c.accountID, c.region, subnet); err != nil {
			return invalid("SubnetId", "subnet %q does not exist in region %s", subnet, c.region)
		}
	}
	if sg != "" {
		if _, ok := nets.SecurityGroup(c.accountID, sg); !ok {
			return invalid("SecurityGroupId", "security group %q does not exist", sg)
		}
	}
	return nil
}

func (h *Handler) updateImageCache(c *call) (any, error) {
	ic, err := h.caches()
	if err != nil {
		return nil, err
	}
	var req updateImageCacheRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.ImageCacheID == "" {
		return nil, missing("ImageCacheId")
	}
	creds, err := buildCredentials(req.ImageRegistryCredential)
	if err != nil {
		return nil, err
	}
	spec := imagecache.Spec{
		Name: req.ImageCacheName, SubnetID: req.SubnetID, SecurityGroupID: req.SecurityGroupID,
		SizeGiB: req.ImageCacheSize, RetentionDays: req.RetentionDays, Images: req.Image,
		Credentials: creds, SetCredentials: req.ImageRegistryCredential != nil,
		Type: req.ImageCacheType, EnableWarm: req.EnableWarm,
	}
	var subnet, sg string
	if req.SubnetID != nil {
		subnet = *req.SubnetID
	}
	if req.SecurityGroupID != nil {
		sg = *req.SecurityGroupID
	}
	if err := h.checkCacheNetwork(c, subnet, sg); err != nil {
		return nil, err
	}
	spec.DryRun = c.dryRun
	out, err := ic.Update(c.ctx, c.accountID, req.ImageCacheID, spec)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.UpdateImageCacheResponse{RequestID: c.requestID, ImageCacheID: out.ID}, nil
}

// cacheByID reads the ImageCacheId of DeleteImageCache and
// DescribeImageCacheEvent.
func (h *Handler) cacheByID(c *call) (ImageCaches, string, error) {
	ic, err := h.caches()
	if err != nil {
		return nil, "", err
	}
	var req imageCacheIDRequest
	if err := c.decode(&req); err != nil {
		return nil, "", err
	}
	if req.ImageCacheID == "" {
		return nil, "", missing("ImageCacheId")
	}
	return ic, req.ImageCacheID, nil
}

func (h *Handler) deleteImageCache(c *call) (any, error) {
	ic, id, err := h.cacheByID(c)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		if _, err := ic.Cache(c.accountID, id); err != nil {
			return nil, err
		}
		return nil, errDryRun
	}
	if err := ic.Delete(c.ctx, c.accountID, id); err != nil {
		return nil, err
	}
	return kci.DeleteImageCacheResponse{RequestID: c.requestID}, nil
}

func (h *Handler) describeImageCache(c *call) (any, error) {
	ic, err := h.caches()
	if err != nil {
		return nil, err
	}
	var req describeImageCacheRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	limit, offset, err := paging(req.MaxResults, req.Marker)
	if err != nil {
		return nil, err
	}
	if len(req.ImageCacheName) > imagecache.MaxNameLen {
		return nil, invalid("ImageCacheName", "must be at most %d characters", imagecache.MaxNameLen)
	}
	q := imagecache.Query{AccountID: c.accountID, IDs: req.ImageCacheID, Name: req.ImageCacheName, Image: req.Image,
		Offset: offset, Limit: limit}
	switch req.SortKey {
	case "":
	case kci.ImageCacheSortLastUsedTime:
		q.SortByLastUsed = true
	default:
		return nil, invalid("SortKey", "the only sort key is %s", kci.ImageCacheSortLastUsedTime)
	}
	switch strings.ToLower(req.SortDirection) {
	case "", kci.SortAsc:
	case kci.SortDesc:
		q.Desc = true
	default:
		return nil, invalid("SortDirection", "must be asc or desc")
	}
	if c.dryRun {
		return nil, errDryRun
	}
	page, total, err := ic.Describe(c.ctx, q)
	if err != nil {
		return nil, err
	}
	out := kci.DescribeImageCacheResponse{RequestID: c.requestID, MaxResults: limit, Marker: nextMarker(offset, len(page), total), TotalCount: total,
		ImageCaches: make([]kci.ImageCache, 0, len(page))}
	for _, x := range page {
		out.ImageCaches = append(out.ImageCaches, imageCacheOut(x))
	}
	return out, nil
}

// imageCacheOut renders a cache.
func imageCacheOut(x *core.ImageCache) kci.ImageCache {
	return kci.ImageCache{
		ImageCacheID: x.ID, ImageCacheName: x.Name, ExpireTime: kci.CloudTime{Time: x.ExpireAt()}, CreateTime: kci.CloudTime{Time: x.CreatedAt},
		Status: string(x.Status), ImageCacheSize: x.SizeGiB, Images: append([]string{}, x.Images...), Reason: x.Reason,
		ImageCacheType: x.Type, LastUsedTime: kci.CloudTime{Time: x.LastUsedAt}, UsedBytes: x.Bytes(),
	}
}

func (h *Handler) matchImageCache(c *call) (any, error) {
	ic, err := h.caches()
	if err != nil {
		return nil, err
	}
	var req matchImageCacheRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	found, err := ic.Match(c.ctx, c.accountID, req.Image)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	out := kci.MatchImageCacheResponse{RequestID: c.requestID, ImageCaches: make([]kci.ImageCacheSummary, 0, len(found))}
	for _, x := range found {
		out.ImageCaches = append(out.ImageCaches, kci.ImageCacheSummary{ImageCacheID: x.ID, ImageCacheName: x.Name})
	}
	return out, nil
}

func (h *Handler) describeImageCacheEvent(c *call) (any, error) {
	ic, id, err := h.cacheByID(c)
	if err != nil {
		return nil, err
	}
	events, err := ic.Events(c.ctx, c.accountID, id)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.DescribeImageCacheEventResponse{RequestID: c.requestID, Events: eventsOut(events)}, nil
}
