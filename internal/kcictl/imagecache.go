package kcictl

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

func (a *app) imageCacheCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "image-cache",
		Aliases: []string{"image-caches", "ic"},
		Short:   "Create, list, describe and delete image caches",
		Long: `An image cache holds images pulled ahead of time: a group started from it
(kcictl run --image-cache ID|NAME|auto) does not contact a registry for the
images it holds, so it starts as fast as from a local image.`,
		Example: `  kcictl image-cache create web --image nginx:1.27 --image busybox:1.36 --wait
  kcictl image-cache get
  kcictl run web --image nginx:1.27 --image-cache web
  kcictl image-cache delete web`,
	}
	cmd.AddCommand(a.imageCacheCreateCommand(), a.imageCacheGetCommand(), a.imageCacheDescribeCommand(), a.imageCacheDeleteCommand())
	return cmd
}

func (a *app) imageCacheCreateCommand() *cobra.Command {
	var (
		images, creds []string
		size, days    int
		typ           string
		wait          bool
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME --image IMAGE [--image IMAGE...]",
		Short: "Create an image cache (CreateImageCache) and print its ID",
		Long: `create asks kcid to pull up to 20 images into a new cache NAME and prints its
ID. The cache is Creating until they are pulled, then Available (or Failed,
with the reason); --wait waits for that, showing the pull's events.`,
		Example: `  kcictl image-cache create web --image nginx:1.27 --wait
  kcictl image-cache create app --image registry.example.com/app:2 \
    --registry-credential user:secret@registry.example.com --retention-days 7`,
		Args: exactArgs(1, "the image cache NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(images) == 0 {
				return usagef(cmd, "--image is required")
			}
			cr, err := parseCredentials(creds)
			if err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			c, err := a.kci()
			if err != nil {
				return err
			}
			out, err := c.CreateImageCache(cmd.Context(), &kci.CreateImageCacheRequest{ImageCacheName: args[0], Images: images,
				ImageRegistryCredentials: cr, ImageCacheSize: size, RetentionDays: days, ImageCacheType: typ})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, out.ImageCacheID)
			if !wait {
				return nil
			}
			return a.waitImageCache(cmd.Context(), c, out.ImageCacheID, timeout)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&images, "image", nil, "image to cache; repeatable, up to 20")
	f.StringArrayVar(&creds, "registry-credential", nil, "registry login `USER:PASSWORD@SERVER`; repeatable")
	f.IntVar(&size, "size", 0, "size of the cache in GB, 20-500 (default 20): the images must fit")
	f.IntVar(&days, "retention-days", 0, "delete the cache this many days after it was created (0: keep it)")
	f.StringVar(&typ, "type", "", "cache type: Common (default) or Rapid")
	f.BoolVar(&wait, "wait", false, "wait until the cache is Available or Failed, showing its events")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
	return cmd
}

// waitImageCache polls until the cache is no longer Creating, printing new
// events to stderr; a Failed cache is an error with its reason.
func (a *app) waitImageCache(ctx context.Context, c *kci.Client, id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := map[string]int{}
	for {
		// The status first: the events read after it include the one
		// that came with it.
		ic, err := a.imageCacheByID(ctx, c, id)
		if err != nil {
			return err
		}
		ev, err := c.DescribeImageCacheEvent(ctx, &kci.DescribeImageCacheEventRequest{ImageCacheID: id})
		if err != nil {
			return err
		}
		for _, e := range ev.Events {
			key := e.Type + "\x00" + e.Reason + "\x00" + e.Message
			if shown[key] == 0 {
				fmt.Fprintf(a.env.Stderr, "%s\t%s\n", e.Reason, e.Message)
			}
			shown[key] = e.Count
		}
		switch ic.Status {
		case kci.ImageCacheAvailable:
			return nil
		case kci.ImageCacheFailed:
			return fmt.Errorf("image cache %s failed: %s", id, ic.Reason)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("image cache %s is still %s after %s", id, ic.Status, timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (a *app) imageCacheByID(ctx context.Context, c *kci.Client, id string) (*kci.ImageCache, error) {
	out, err := c.DescribeImageCache(ctx, &kci.DescribeImageCacheRequest{ImageCacheIDs: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(out.ImageCaches) != 1 {
		return nil, fmt.Errorf("no image cache has the ID %q ('kcictl image-cache get' lists them)", id)
	}
	return &out.ImageCaches[0], nil
}

// resolveImageCache finds a cache by ID or by exact name.
func (a *app) resolveImageCache(ctx context.Context, ref string) (*kci.ImageCache, error) {
	c, err := a.kci()
	if err != nil {
		return nil, err
	}
	if ic, err := a.imageCacheByID(ctx, c, ref); err == nil {
		return ic, nil
	}
	all, err := a.imageCaches(ctx, c, &kci.DescribeImageCacheRequest{ImageCacheName: ref})
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ImageCacheName == ref {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("no image cache has the ID or name %q ('kcictl image-cache get' lists them)", ref)
}

// imageCaches lists every cache matching req, page after page.
func (a *app) imageCaches(ctx context.Context, c *kci.Client, req *kci.DescribeImageCacheRequest) ([]kci.ImageCache, error) {
	r := *req
	r.MaxResults = 100
	var all []kci.ImageCache
	for {
		out, err := c.DescribeImageCache(ctx, &r)
		if err != nil {
			return nil, err
		}
		all = append(all, out.ImageCaches...)
		if out.Marker == 0 || len(out.ImageCaches) == 0 {
			return all, nil
		}
		r.Marker = out.Marker
	}
}

func (a *app) imageCacheGetCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "get [ID|NAME...]",
		Aliases: []string{"ls", "list"},
		Short:   "List image caches (DescribeImageCache)",
		Example: `  kcictl image-cache get
  kcictl image-cache get web -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.kci()
			if err != nil {
				return err
			}
			var caches []kci.ImageCache
			if len(args) == 0 {
				if caches, err = a.imageCaches(cmd.Context(), c, &kci.DescribeImageCacheRequest{}); err != nil {
					return err
				}
			}
			for _, ref := range args {
				ic, err := a.resolveImageCache(cmd.Context(), ref)
				if err != nil {
					return err
				}
				caches = append(caches, *ic)
			}
			switch output {
			case "json":
				return writeJSON(a.env.Stdout, struct{ ImageCaches []kci.ImageCache }{caches})
			case "id":
				for _, ic := range caches {
					fmt.Fprintln(a.env.Stdout, ic.ImageCacheID)
				}
				return nil
			case "", "table":
			default:
				return usagef(cmd, "-o %q: want table, json or id", output)
			}
			t := newTable(a.env.Stdout, "NAME", "ID", "STATUS", "IMAGES", "SIZE", "USED", "LAST USED", "AGE")
			for _, ic := range caches {
				last := "never"
				if !ic.LastUsedTime.IsZero() {
					last = since(a.env.Now, ic.LastUsedTime.Time)
				}
				t.row(ic.ImageCacheName, ic.ImageCacheID, ic.Status, strconv.Itoa(len(ic.Images)),
					fmt.Sprintf("%dG", ic.ImageCacheSize), mib(uint64(max(ic.UsedBytes, 0))), last, since(a.env.Now, ic.CreateTime.Time))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or id")
	return cmd
}

func (a *app) imageCacheDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "describe ID|NAME",
		Short:   "Show an image cache with its events",
		Example: `  kcictl image-cache describe web`,
		Args:    exactArgs(1, "the image cache ID or NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ic, err := a.resolveImageCache(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			c, err := a.kci()
			if err != nil {
				return err
			}
			ev, err := c.DescribeImageCacheEvent(cmd.Context(), &kci.DescribeImageCacheEventRequest{ImageCacheID: ic.ImageCacheID})
			if err != nil {
				return err
			}
			w := a.env.Stdout
			f := fields{w: w, width: 15}
			f.add("Name", ic.ImageCacheName)
			f.add("ID", ic.ImageCacheID)
			status := ic.Status
			if ic.Reason != "" {
				status += " (" + ic.Reason + ")"
			}
			f.add("Status", status)
			f.add("Type", ic.ImageCacheType)
			f.add("Size", fmt.Sprintf("%d GB, %s used", ic.ImageCacheSize, mib(uint64(max(ic.UsedBytes, 0)))))
			f.add("Created", a.when(ic.CreateTime.Time))
			expires := "never"
			if !ic.ExpireTime.IsZero() {
				expires = utc(ic.ExpireTime.Time)
			}
			f.add("Expires", expires)
			last := "never"
			if !ic.LastUsedTime.IsZero() {
				last = a.when(ic.LastUsedTime.Time)
			}
			f.add("Last used", last)
			f.head("Images")
			for _, img := range ic.Images {
				fmt.Fprintf(w, "  %s\n", img)
			}
			if len(ev.Events) == 0 {
				f.add("Events", "<none>")
				return nil
			}
			f.head("Events")
			a.eventTable(w, "  ", ev.Events)
			return nil
		},
	}
}

func (a *app) imageCacheDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID|NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete image caches (DeleteImageCache); their images are released",
		Example: `  kcictl image-cache delete web`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "missing the image cache ID or NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.kci()
			if err != nil {
				return err
			}
			var ids []string
			for _, ref := range args {
				ic, err := a.resolveImageCache(cmd.Context(), ref)
				if err != nil {
					return err
				}
				ids = append(ids, ic.ImageCacheID)
			}
			for _, id := range ids {
				if _, err := c.DeleteImageCache(cmd.Context(), &kci.DeleteImageCacheRequest{ImageCacheID: id}); err != nil {
					return err
				}
				fmt.Fprintln(a.env.Stdout, strings.TrimSpace(id))
			}
			return nil
		},
	}
}
