package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/openkci/openkci/internal/app"
	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/metrics"
	ctrdruntime "github.com/openkci/openkci/internal/runtime/containerd"
	"github.com/openkci/openkci/internal/runtime/kube"
	"github.com/openkci/openkci/internal/supervisor"
)

// The containerd runtime tells the recorder of each start step when the
// recorder takes them (an optional interface): keep it taking them.
var _ ctrdruntime.StartObserver = (*metrics.Recorder)(nil)

// runServer builds the runtime --runtime names (containerd, ours or the
// system's; or a Kubernetes cluster) and the app, and serves until ctx is
// done.
func runServer(ctx context.Context, f *serveFlags, l net.Listener, out io.Writer, log *slog.Logger) error {
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	clock, err := newClock(ctx, log)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	opts := app.Options{
		Listen: f.listen, DataDir: f.dataDir, Config: cfg, Insecure: f.insecure,
		AccessKeyID: os.Getenv("KCID_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("KCID_SECRET_ACCESS_KEY"),
		Logger: log, Out: out, Clock: clock, Metrics: metrics.New(),
	}
	switch f.runtime {
	case "kubernetes":
		if len(cfg.Node.GPUs.Devices) > 0 {
			return fmt.Errorf("node.gpus.devices are device nodes of this host, which only the containerd runtime hands to containers; on Kubernetes declare node.gpus.kubernetesResource (e.g. nvidia.com/gpu) instead")
		}
		rt, err := kube.New(kube.Config{
			Kubeconfig: f.kubeconfig, NamespacePrefix: f.kubeNSPrefix, ImageCacheHelper: f.kubeCacheHelper,
			PodCIDRs:  f.kubePodCIDRs,
			StopGrace: time.Duration(cfg.StopGracePeriod), Logger: log,
			ResyncInterval:     time.Duration(cfg.ResyncInterval),
			DiskStorageClasses: cfg.OnDemandDisks.StorageClasses,
			GPUResource:        cfg.Node.GPUs.KubernetesResource,
			Observer:           opts.Metrics,
		})
		if err != nil {
			return fmt.Errorf("kubernetes runtime: %w", err)
		}
		defer rt.Close()
		opts.Runtime, opts.Groups = rt, rt.Store()
	default:
		if cfg.Node.GPUs.KubernetesResource != "" {
			return fmt.Errorf("node.gpus.kubernetesResource is for the Kubernetes runtime; on containerd list the GPUs' device nodes under node.gpus.devices instead")
		}
		rcfg := ctrdruntime.Config{
			Address:            f.containerdAddress,
			DataDir:            filepath.Join(f.dataDir, "runtime"),
			OwnerDataDir:       f.dataDir,
			StopGrace:          time.Duration(cfg.StopGracePeriod),
			InsecureRegistries: cfg.InsecureRegistries,
			Disks:              cfg.CoreDisks(),
			LogMaxBytes:        cfg.ContainerLogMaxBytes,
			ResyncInterval:     time.Duration(cfg.ResyncInterval),
			Namespace:          f.namespace,
			Logger:             log.With("component", "runtime"),
			Clock:              clock,
			Observer:           opts.Metrics,
			GPUExtraDevices:    cfg.Node.GPUs.ExtraDevices,
		}
		// The host lock comes first: a second kcid on this namespace
		// must not even start a containerd.
		claim, err := ctrdruntime.ClaimHost(rcfg)
		if err != nil {
			return err
		}
		addr, stopContainerd, err := supervisor.Ensure(startCtx, f.containerdAddress, f.dataDir, log)
		if err != nil {
			claim.Release()
			return err
		}
		defer stopContainerd()
		rcfg.Address, rcfg.Claim = addr, claim
		rt, err := ctrdruntime.New(rcfg)
		if err != nil {
			return fmt.Errorf("containerd runtime: %w", err)
		}
		defer rt.Close()
		opts.Runtime = rt
		opts.HostRoutes = func() ([]app.HostRoute, error) {
			routes, err := rt.ForeignRoutes()
			out := make([]app.HostRoute, len(routes))
			for i, r := range routes {
				out[i] = app.HostRoute{Prefix: r.Prefix, Device: r.Device}
			}
			return out, err
		}
	}
	a, err := app.New(startCtx, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Serve(ctx, l)
}
