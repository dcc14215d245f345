package main

// The image cache benchmark (-imagecache, make bench-imagecache):
// create→Running of a group whose image is a few hundred MB in a local
// registry, cold (the image nowhere on the machine: every blob fetched
// and unpacked) against from an image cache (CreateImageCache first; the
// registry is stopped before the cached starts, so they cannot reach it).

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

// localRegistry is a docker-registry of the benchmark's own, without
// authentication, on a loopback port.
type localRegistry struct {
	host string
	cmd  *exec.Cmd
}

func startRegistry(dir string) (*localRegistry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not found (make deps installs it): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "registry.yml")
	body := fmt.Sprintf("version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %q}, delete: {enabled: true}}\nhttp: {addr: %q, secret: %q}\n",
		filepath.Join(dir, "registry"), host, randHex(16))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	r := &localRegistry{host: host, cmd: exec.Command(bin, "serve", cfg)}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("registry not answering after 30s (log: %s): %v", logf.Name(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *localRegistry) stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
	}
}

// push uploads a blob (monolithic upload) and returns its descriptor.
func (r *localRegistry) push(repo, mediaType string, data []byte) (map[string]any, error) {
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	resp, err := http.Post("http://"+r.host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		return nil, fmt.Errorf("start upload: %s", resp.Status)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + r.host + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+digest, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("upload %s: %s", digest, resp.Status)
	}
	return map[string]any{"mediaType": mediaType, "digest": digest, "size": len(data)}, nil
}

// pushBigImage builds and pushes repo:tag: the host's busybox as the first
// layer and layers of random data (incompressible) of mb MiB in all, and
// returns the reference.
func (r *localRegistry) pushBigImage(repo, tag string, mb, layers int) (string, error) {
	const (
		mtLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		mtConfig   = "application/vnd.docker.container.image.v1+json"
		mtManifest = "application/vnd.docker.distribution.manifest.v2+json"
	)
	bb, err := busyboxTar()
	if err != nil {
		return "", err
	}
	tars := [][]byte{bb}
	per := mb << 20 / layers
	for i := range layers {
		var t bytes.Buffer
		tw := tar.NewWriter(&t)
		data := make([]byte, per)
		_, _ = rand.Read(data)
		_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data-%d.bin", i), Mode: 0o644, Size: int64(per)})
		_, _ = tw.Write(data)
		if err := tw.Close(); err != nil {
			return "", err
		}
		tars = append(tars, t.Bytes())
	}
	var descs []map[string]any
	var diffIDs []string
	for _, t := range tars {
		diffIDs = append(diffIDs, fmt.Sprintf("sha256:%x", sha256.Sum256(t)))
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		_, _ = zw.Write(t)
		if err := zw.Close(); err != nil {
			return "", err
		}
		d, err := r.push(repo, mtLayer, z.Bytes())
		if err != nil {
			return "", err
		}
		descs = append(descs, d)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd, err := r.push(repo, mtConfig, cfg)
	if err != nil {
		return "", err
	}
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtManifest, "config": cd, "layers": descs})
	req, _ := http.NewRequest(http.MethodPut, "http://"+r.host+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(man))
	req.Header.Set("Content-Type", mtManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("push manifest: %s", resp.Status)
	}
	return r.host + "/" + repo + ":" + tag, nil
}

// busyboxTar is a layer with the host's static busybox as /bin/sh and
// /bin/sleep.
func busyboxTar() ([]byte, error) {
	bin, err := exec.LookPath("busybox")
	if err != nil {
		return nil, err
	}
	bb, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	_ = tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	_, _ = tw.Write(bb)
	for _, a := range []string{"sh", "sleep"} {
		_ = tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	err = tw.Close()
	return layer.Bytes(), err
}

// runImageCache is the -imagecache benchmark.
func runImageCache(kcidBin, socket string, runs, mb, layers int) error {
	b := &bench{tag: "kcibench-" + randHex(3), socket: socket}
	b.ns = b.tag
	var err error
	if b.dir, err = os.MkdirTemp("", b.tag); err != nil {
		return err
	}
	defer b.cleanup()
	reg, err := startRegistry(b.dir)
	if err != nil {
		return err
	}
	defer reg.stop()
	began := time.Now()
	ref, err := reg.pushBigImage("bench/big", "1", mb, layers)
	if err != nil {
		return fmt.Errorf("push the image: %w", err)
	}
	fmt.Printf("image %s: busybox + %d MiB of random data in %d layers, pushed in %v\n", ref, mb, layers, ms(time.Since(began)))
	if err := b.startKcid(kcidBin); err != nil {
		return err
	}
	ctx := context.Background()
	// The bridge and the group machinery warmed with a small local image.
	if err := b.importBusybox(); err != nil {
		return fmt.Errorf("import busybox: %w", err)
	}
	if _, _, err := b.kcidStart(ctx, "warm"); err != nil {
		return fmt.Errorf("kcid warm-up: %w", err)
	}

	var cold, cached []time.Duration
	for i := range runs {
		if err := b.forgetImage(ctx, ref); err != nil {
			return err
		}
		d, err := b.startImage(ctx, fmt.Sprintf("cold-%d", i), ref, "")
		if err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
		cold = append(cold, d)
	}
	if err := b.forgetImage(ctx, ref); err != nil {
		return err
	}

	began = time.Now()
	c, err := b.client.CreateImageCache(ctx, &kci.CreateImageCacheRequest{ImageCacheName: "bench", Images: []string{ref}})
	if err != nil {
		return err
	}
	ic, err := b.waitCache(ctx, c.ImageCacheID)
	if err != nil {
		return err
	}
	fmt.Printf("CreateImageCache → Available: %v (%.1f MiB on disk)\n", ms(time.Since(began)), float64(ic.UsedBytes)/(1<<20))
	reg.stop() // from here on nothing can reach the registry
	for i := range runs {
		d, err := b.startImage(ctx, fmt.Sprintf("cached-%d", i), ref, c.ImageCacheID)
		if err != nil {
			return fmt.Errorf("start from the cache: %w", err)
		}
		cached = append(cached, d)
	}
	if _, err := b.client.DeleteImageCache(ctx, &kci.DeleteImageCacheRequest{ImageCacheID: c.ImageCacheID}); err != nil {
		return err
	}
	mc, mk := median(cold), median(cached)
	fmt.Printf("create→Running, %d runs each, image of %d MiB:\n", runs, mb)
	fmt.Printf("  cold (image not on the machine, pulled from the local registry): median %v, min %v, max %v\n", ms(mc), ms(slices.Min(cold)), ms(slices.Max(cold)))
	fmt.Printf("  from an image cache (registry stopped):                          median %v, min %v, max %v\n", ms(mk), ms(slices.Min(cached)), ms(slices.Max(cached)))
	fmt.Printf("  ratio of medians cold/cached: %.1f\n", float64(mc)/float64(mk))
	return nil
}

// startImage creates a group of ref (from the cache if given), waits until
// it is Running, deletes it and waits until its teardown is done.
func (b *bench) startImage(ctx context.Context, name, ref, cache string) (time.Duration, error) {
	req := b.request(name, 1, 2)
	req.Containers[0].Image, req.Containers[0].ImagePullPolicy = ref, "IfNotPresent"
	req.ImageCacheID = cache
	began := time.Now()
	r, err := b.client.CreateContainerGroup(ctx, req)
	if err != nil {
		return 0, err
	}
	g, err := b.waitRunning(ctx, r.ContainerGroupID)
	d := time.Since(began)
	if err != nil {
		return 0, err
	}
	if cache != "" && !servedFromCache(g, cache) {
		return 0, fmt.Errorf("group %s did not start from cache %s: %+v", g.ContainerGroupID, cache, g.Events)
	}
	if _, err := b.client.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: r.ContainerGroupID}); err != nil {
		return 0, err
	}
	return d, b.waitTornDown()
}

func servedFromCache(g *kci.ContainerGroup, cache string) bool {
	for _, e := range g.Events {
		if e.Reason == "Pulled" && strings.Contains(e.Message, "served from image cache "+cache) {
			return true
		}
	}
	return false
}

// waitTornDown waits until kcid has no group left, in the API and in its
// runtime's directories.
func (b *bench) waitTornDown() error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := b.client.DescribeContainerGroup(context.Background(), &kci.DescribeContainerGroupRequest{MaxResults: 100})
		ents, _ := os.ReadDir(filepath.Join(b.dir, "data", "runtime", "groups"))
		if err == nil && out.TotalCount == 0 && len(ents) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("groups not torn down after 2m")
}

// forgetImage removes ref from kcid's namespace with a synchronous garbage
// collection, so that its content and unpacked layers are gone and the
// next start is cold.
func (b *bench) forgetImage(ctx context.Context, ref string) error {
	out, err := exec.CommandContext(ctx, "ctr", "-a", b.socket, "-n", b.ns, "images", "rm", "--sync", ref).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not found") {
		return fmt.Errorf("ctr images rm %s: %v: %s", ref, err, out)
	}
	return nil
}

func (b *bench) waitCache(ctx context.Context, id string) (*kci.ImageCache, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		out, err := b.client.DescribeImageCache(ctx, &kci.DescribeImageCacheRequest{ImageCacheIDs: []string{id}})
		if err != nil {
			return nil, err
		}
		if len(out.ImageCaches) == 1 {
			switch ic := out.ImageCaches[0]; ic.Status {
			case kci.ImageCacheAvailable:
				return &ic, nil
			case kci.ImageCacheFailed:
				return nil, fmt.Errorf("image cache failed: %s", ic.Reason)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("image cache %s not Available after 10m", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
