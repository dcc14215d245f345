package record

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// ImageCacheVersion is the version of image cache records this kcid
// writes.
//
// Versions:
//
//	1  ImageCache below, wrapped as {"version":1,"imageCache":{...}};
//	   registry passwords sealed, bound to the cache ID and server.
const ImageCacheVersion = 1

// ImageCacheDoc is a self-describing image cache record.
type ImageCacheDoc struct {
	Version    int        `json:"version"`
	ImageCache ImageCache `json:"imageCache"`
}

// ImageCache is version 1 of a persisted core.ImageCache.
type ImageCache struct {
	ID              string               `json:"id"`
	Name            string               `json:"name"`
	AccountID       string               `json:"accountId"`
	Region          string               `json:"region"`
	Images          []string             `json:"images"`
	Credentials     []RegistryCredential `json:"registryCredentials,omitempty"`
	SizeGiB         int                  `json:"sizeGiB"`
	RetentionDays   int                  `json:"retentionDays,omitempty"`
	Type            string               `json:"type"`
	EnableWarm      bool                 `json:"enableWarm,omitempty"`
	SubnetID        string               `json:"subnetId,omitempty"`
	SecurityGroupID string               `json:"securityGroupId,omitempty"`
	Status          string               `json:"status"`
	Reason          string               `json:"reason,omitempty"`
	Generation      int                  `json:"generation"`
	Pulled          []CachedImage        `json:"pulled,omitempty"`
	CreatedAt       time.Time            `json:"createdAt"`
	UpdatedAt       time.Time            `json:"updatedAt"`
	LastUsedAt      time.Time            `json:"lastUsedAt,omitzero"`
	Events          []Event              `json:"events,omitempty"`
}

// CachedImage is version 1 of core.CachedImage.
type CachedImage struct {
	Ref   string `json:"ref"`
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// Event is version 1 of core.Event in an image cache record.
type Event struct {
	Type           string    `json:"type"`
	Reason         string    `json:"reason"`
	Message        string    `json:"message"`
	Count          int       `json:"count"`
	FirstTimestamp time.Time `json:"firstTimestamp"`
	LastTimestamp  time.Time `json:"lastTimestamp"`
}

// cacheCredentialAAD binds a sealed password to its cache and server.
func cacheCredentialAAD(cacheID, server string) []byte {
	return []byte("image-cache-registry-password\x00" + cacheID + "\x00" + server)
}

// MarshalImageCache encodes a cache as the current record, its registry
// passwords sealed with s.
func MarshalImageCache(c *core.ImageCache, s Sealer) ([]byte, error) {
	r := ImageCache{
		ID: c.ID, Name: c.Name, AccountID: c.AccountID, Region: c.Region, Images: clone(c.Images),
		SizeGiB: c.SizeGiB, RetentionDays: c.RetentionDays, Type: c.Type, EnableWarm: c.EnableWarm,
		SubnetID: c.SubnetID, SecurityGroupID: c.SecurityGroupID, Status: string(c.Status), Reason: c.Reason,
		Generation: c.Generation, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, LastUsedAt: c.LastUsedAt,
	}
	creds, err := sealCredentials(c.Credentials, s, func(server string) []byte { return cacheCredentialAAD(c.ID, server) })
	if err != nil {
		return nil, err
	}
	r.Credentials = creds
	for _, p := range c.Pulled {
		r.Pulled = append(r.Pulled, CachedImage{Ref: p.Ref, Name: p.Name, Bytes: p.Bytes})
	}
	for _, e := range c.Events {
		r.Events = append(r.Events, Event{Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count,
			FirstTimestamp: e.FirstTimestamp, LastTimestamp: e.LastTimestamp})
	}
	return json.Marshal(ImageCacheDoc{Version: ImageCacheVersion, ImageCache: r})
}

// UnmarshalImageCache decodes a cache record, opening its passwords with s.
func UnmarshalImageCache(b []byte, s Sealer) (*core.ImageCache, error) {
	var doc ImageCacheDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("image cache record: %w", err)
	}
	if doc.Version > ImageCacheVersion {
		return nil, fmt.Errorf("image cache record version %d (this kcid reads up to %d): %w; run that kcid or a newer one", doc.Version, ImageCacheVersion, ErrNewerVersion)
	}
	if doc.Version != ImageCacheVersion {
		return nil, fmt.Errorf("image cache record version %d is unknown", doc.Version)
	}
	r := doc.ImageCache
	c := &core.ImageCache{
		ID: r.ID, Name: r.Name, AccountID: r.AccountID, Region: r.Region, Images: clone(r.Images),
		SizeGiB: r.SizeGiB, RetentionDays: r.RetentionDays, Type: r.Type, EnableWarm: r.EnableWarm,
		SubnetID: r.SubnetID, SecurityGroupID: r.SecurityGroupID, Status: core.ImageCacheStatus(r.Status), Reason: r.Reason,
		Generation: r.Generation, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, LastUsedAt: r.LastUsedAt,
	}
	creds, err := openCredentials(r.Credentials, s, func(server string) []byte { return cacheCredentialAAD(r.ID, server) })
	if err != nil {
		return nil, fmt.Errorf("image cache %s: %w", r.ID, err)
	}
	c.Credentials = creds
	for _, p := range r.Pulled {
		c.Pulled = append(c.Pulled, core.CachedImage{Ref: p.Ref, Name: p.Name, Bytes: p.Bytes})
	}
	for _, e := range r.Events {
		c.Events = append(c.Events, core.Event{Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count,
			FirstTimestamp: e.FirstTimestamp, LastTimestamp: e.LastTimestamp})
	}
	return c, nil
}
