package kci

import "context"

// Image cache types (ImageCacheType).
const (
	ImageCacheTypeCommon = "Common"
	ImageCacheTypeRapid  = "Rapid"
)

// Image cache statuses: Creating while the images are pulled (again after
// UpdateImageCache), then Available, or Failed with a Reason.
const (
	ImageCacheCreating  = "Creating"
	ImageCacheAvailable = "Available"
	ImageCacheFailed    = "Failed"
)

// CreateImageCacheRequest makes an image cache: the images are pulled
// ahead of time, and groups created with ImageCacheId (or
// AutoMatchImageCache) start from them without contacting a registry.
type CreateImageCacheRequest struct {
	// ImageCacheName: at most 63 letters, digits, '-', '.', '_', starting
	// and ending with a letter or digit.
	ImageCacheName  string `query:"ImageCacheName" json:"ImageCacheName,omitempty"`
	SubnetID        string `query:"SubnetId" json:"SubnetId,omitempty"`
	SecurityGroupID string `query:"SecurityGroupId" json:"SecurityGroupId,omitempty"`
	// ImageCacheSize is in GB, 20–500 (server default 20); the images'
	// size on disk must fit.
	ImageCacheSize int `query:"ImageCacheSize" json:"ImageCacheSize,omitempty"`
	// RetentionDays expires the cache; 0 keeps it forever (max 65536).
	RetentionDays int `query:"RetentionDays" json:"RetentionDays,omitempty"`
	// Images: at most 20.
	Images                   []string                  `query:"Image" json:"Image"`
	ImageRegistryCredentials []ImageRegistryCredential `query:"ImageRegistryCredential" json:"ImageRegistryCredential,omitempty"`
	ImageCacheType           string                    `query:"ImageCacheType" json:"ImageCacheType,omitempty"`
	EnableWarm               bool                      `query:"EnableWarm" json:"EnableWarm,omitempty"`
}

// CreateImageCacheResponse carries the new cache's ID.
type CreateImageCacheResponse struct {
	RequestID    string `json:"RequestId"`
	ImageCacheID string `json:"ImageCacheId"`
}

// UpdateImageCacheRequest changes a cache and pulls its images again. A
// field left out keeps its value (RetentionDays is a pointer so that 0,
// keep forever, can be sent); Images and ImageRegistryCredentials, when
// given, replace the lists.
type UpdateImageCacheRequest struct {
	ImageCacheID    string   `query:"ImageCacheId"`
	ImageCacheName  string   `query:"ImageCacheName"`
	SubnetID        string   `query:"SubnetId"`
	SecurityGroupID string   `query:"SecurityGroupId"`
	ImageCacheSize  int      `query:"ImageCacheSize"`
	RetentionDays   *int     `query:"RetentionDays"`
	Images          []string `query:"Image"`
	ImageCacheType  string   `query:"ImageCacheType"`
	EnableWarm      *bool    `query:"EnableWarm"`
	// ImageRegistryCredentials is last on the wire, as in the SDK.
	ImageRegistryCredentials []ImageRegistryCredential `query:"ImageRegistryCredential"`
}

// UpdateImageCacheResponse carries the cache's ID.
type UpdateImageCacheResponse struct {
	RequestID    string `json:"RequestId"`
	ImageCacheID string `json:"ImageCacheId"`
}

// DeleteImageCacheRequest deletes a cache; its images are released.
type DeleteImageCacheRequest struct {
	ImageCacheID string `query:"ImageCacheId"`
}

// DeleteImageCacheResponse is the answer to DeleteImageCache.
type DeleteImageCacheResponse struct {
	RequestID string `json:"RequestId"`
}

// Image cache sort keys and directions of DescribeImageCache.
const (
	ImageCacheSortLastUsedTime = "LastUsedTime"
	SortAsc                    = "asc"
	SortDesc                   = "desc"
)

// DescribeImageCacheRequest lists caches; all fields are optional. With
// ImageCacheIDs, ImageCacheName and Image are ignored.
type DescribeImageCacheRequest struct {
	ImageCacheIDs []string `query:"ImageCacheId"`
	// ImageCacheName and Image are substrings to match.
	ImageCacheName string `query:"ImageCacheName"`
	Image          string `query:"Image"`
	// Marker is the offset of the first record; MaxResults the page size,
	// 1–100 (server default 20).
	Marker     int `query:"Marker"`
	MaxResults int `query:"MaxResults"`
	// SortKey is LastUsedTime; SortDirection asc or desc.
	SortKey       string `query:"SortKey"`
	SortDirection string `query:"SortDirection"`
}

// DescribeImageCacheResponse is one page of caches.
type DescribeImageCacheResponse struct {
	RequestID  string `json:"RequestId"`
	MaxResults int    `json:"MaxResults"`
	// Marker is the offset of the next page, 0 after the last page.
	Marker      int          `json:"Marker"`
	TotalCount  int          `json:"TotalCount"`
	ImageCaches []ImageCache `json:"ImageCaches"`
}

// ImageCache is a cache as DescribeImageCache shows it. Times are in the
// console format; ExpireTime and LastUsedTime are null for never.
type ImageCache struct {
	ImageCacheID   string    `json:"ImageCacheId"`
	ImageCacheName string    `json:"ImageCacheName"`
	ExpireTime     CloudTime `json:"ExpireTime"`
	CreateTime     CloudTime `json:"CreateTime"`
	Status         string    `json:"Status"`
	ImageCacheSize int       `json:"ImageCacheSize"`
	// SnapshotID and ContainerGroupID are empty: kcid builds caches
	// without a disk snapshot or a builder group.
	SnapshotID       string    `json:"SnapshotId"`
	ContainerGroupID string    `json:"ContainerGroupId"`
	Images           []string  `json:"Images"`
	Reason           string    `json:"Reason"`
	ImageCacheType   string    `json:"ImageCacheType"`
	LastUsedTime     CloudTime `json:"LastUsedTime"`
	// UsedBytes is an OpenKCI extension: the images' size on disk.
	UsedBytes int64 `json:"UsedBytes,omitempty"`
}

// MatchImageCacheRequest finds caches that hold every one of Images (at
// most 5).
type MatchImageCacheRequest struct {
	Images []string `query:"Image"`
}

// MatchImageCacheResponse lists the matching caches, best first.
type MatchImageCacheResponse struct {
	RequestID   string              `json:"RequestId"`
	ImageCaches []ImageCacheSummary `json:"ImageCaches"`
}

// ImageCacheSummary names one cache.
type ImageCacheSummary struct {
	ImageCacheID   string `json:"ImageCacheId"`
	ImageCacheName string `json:"ImageCacheName"`
}

// DescribeImageCacheEventRequest asks for a cache's build events.
type DescribeImageCacheEventRequest struct {
	ImageCacheID string `query:"ImageCacheId"`
}

// DescribeImageCacheEventResponse holds the cache's events, oldest first:
// each image's Pulling, PullProgress and Pulled, then Available or Failed.
type DescribeImageCacheEventResponse struct {
	RequestID string  `json:"RequestId"`
	Events    []Event `json:"Events"`
}

// CreateImageCache makes an image cache and returns its ID; it is
// Creating until its images are pulled (see WaitImageCache).
func (c *Client) CreateImageCache(ctx context.Context, req *CreateImageCacheRequest) (*CreateImageCacheResponse, error) {
	out := &CreateImageCacheResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "CreateImageCache", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateImageCache changes a cache and pulls its images again.
func (c *Client) UpdateImageCache(ctx context.Context, req *UpdateImageCacheRequest) (*UpdateImageCacheResponse, error) {
	out := &UpdateImageCacheResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "UpdateImageCache", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteImageCache deletes a cache.
func (c *Client) DeleteImageCache(ctx context.Context, req *DeleteImageCacheRequest) (*DeleteImageCacheResponse, error) {
	out := &DeleteImageCacheResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DeleteImageCache", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeImageCache returns one page of caches.
func (c *Client) DescribeImageCache(ctx context.Context, req *DescribeImageCacheRequest) (*DescribeImageCacheResponse, error) {
	out := &DescribeImageCacheResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeImageCache", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// MatchImageCache finds the caller's Available caches holding images.
func (c *Client) MatchImageCache(ctx context.Context, req *MatchImageCacheRequest) (*MatchImageCacheResponse, error) {
	out := &MatchImageCacheResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "MatchImageCache", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeImageCacheEvent returns a cache's events.
func (c *Client) DescribeImageCacheEvent(ctx context.Context, req *DescribeImageCacheEventRequest) (*DescribeImageCacheEventResponse, error) {
	out := &DescribeImageCacheEventResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeImageCacheEvent", req, out); err != nil {
		return nil, err
	}
	return out, nil
}
