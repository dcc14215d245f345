package core

import "time"

// ImageCacheStatus is where an image cache is in its life.
type ImageCacheStatus string

// Image cache statuses. A cache is Creating while its images are pulled
// (again after UpdateImageCache), then Available, or Failed with a reason
// (a pull failed, or the images exceed the cache's size).
const (
	ImageCacheCreating  ImageCacheStatus = "Creating"
	ImageCacheAvailable ImageCacheStatus = "Available"
	ImageCacheFailed    ImageCacheStatus = "Failed"
)

// MaxImageCacheEvents bounds the events kept per cache (the oldest go).
const MaxImageCacheEvents = 100

// ImageCache is a set of an account's images pulled ahead of time, so
// that groups created from it start without contacting a registry.
type ImageCache struct {
	ID        string
	Name      string
	AccountID string
	Region    string
	// Images are the references as given (at most 20).
	Images []string
	// Credentials authenticate the pulls of private images.
	Credentials []RegistryCredential
	// SizeGiB bounds the size of the pulled images (ImageCacheSize, GB).
	SizeGiB int
	// RetentionDays, if not 0, expires the cache that many days after it
	// was created.
	RetentionDays int
	// Type is Common or Rapid (both are served the same way).
	Type       string
	EnableWarm bool
	// SubnetID and SecurityGroupID are recorded as given.
	SubnetID        string
	SecurityGroupID string

	Status ImageCacheStatus
	// Reason says why the cache Failed.
	Reason string
	// Generation counts the pulls asked for (1 at create, +1 per update),
	// so that the result of an older pull never overwrites a newer one.
	Generation int
	// Pulled are the images held once the cache is Available, with their
	// size on disk.
	Pulled []CachedImage

	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt time.Time // zero until a group used the cache
	Events     []Event
}

// CachedImage is one image a cache holds.
type CachedImage struct {
	// Ref is the image as given; Name the normalised reference
	// (docker.io/library/nginx:latest).
	Ref, Name string
	// Bytes is its size on disk: content plus unpacked layers (containerd)
	// or what the node reports (Kubernetes).
	Bytes int64
}

// ExpireAt is when the cache expires; zero if never.
func (c *ImageCache) ExpireAt() time.Time {
	if c.RetentionDays <= 0 {
		return time.Time{}
	}
	return c.CreatedAt.AddDate(0, 0, c.RetentionDays)
}

// Bytes is the size of every image the cache holds.
func (c *ImageCache) Bytes() int64 {
	var n int64
	for _, p := range c.Pulled {
		n += p.Bytes
	}
	return n
}

// Clone returns a deep copy.
func (c *ImageCache) Clone() *ImageCache {
	d := *c
	d.Images = append([]string(nil), c.Images...)
	d.Credentials = append([]RegistryCredential(nil), c.Credentials...)
	d.Pulled = append([]CachedImage(nil), c.Pulled...)
	d.Events = append([]Event(nil), c.Events...)
	return &d
}
