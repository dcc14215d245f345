package containerd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
)

// specOpts builds a container's OCI spec on top of containerd's default
// (default capabilities, masked and read-only paths) plus seccomp's default
// profile and no-new-privileges: unprivileged as the issue asks. A
// container given GPUs gets their devices and gpuExtraDevices (the
// driver's control devices), at the same paths as on the host.
func specOpts(ctx context.Context, img containerd.Image, g *core.Group, c *core.Container, groupDir, netnsPath, cgroupPath, nodeName string, gpuExtraDevices []string) ([]oci.SpecOpts, error) {
	ic, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	// Kubernetes semantics: Command replaces the entrypoint (and drops the
	// image's cmd), Args replace the cmd.
	var argv []string
	switch {
	case len(c.Command) > 0:
		argv = append(append(argv, c.Command...), c.Args...)
	case len(c.Args) > 0:
		argv = append(append(argv, ic.Config.Entrypoint...), c.Args...)
	default:
		argv = append(append(argv, ic.Config.Entrypoint...), ic.Config.Cmd...)
	}
	if len(argv) == 0 {
		return nil, errors.New("no command specified")
	}
	env, err := containerEnv(g, c, nodeName)
	if err != nil {
		return nil, err
	}
	mounts := []specs.Mount{
		bind(filepath.Join(groupDir, hostsFile), "/etc/hosts", false),
		bind(filepath.Join(groupDir, resolvFile), "/etc/resolv.conf", false),
		bind(filepath.Join(groupDir, hostnameFile), "/etc/hostname", false),
	}
	for _, vm := range c.VolumeMounts {
		var vol *core.Volume
		for i := range g.Volumes {
			if g.Volumes[i].Name == vm.Name {
				vol = &g.Volumes[i]
			}
		}
		if vol == nil {
			return nil, fmt.Errorf("volume mount %q: no such volume", vm.Name)
		}
		ro := vm.ReadOnly || vol.Type == core.VolumeConfigFile || vol.NFS != nil && vol.NFS.ReadOnly
		src := filepath.Join(groupDir, volumesDir, vol.Name)
		if vol.Type == core.VolumeHostPath {
			src = vol.HostPath
		}
		mounts = append(mounts, bind(src, vm.MountPath, ro))
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(argv...),
		oci.WithEnv(env),
		oci.WithHostname(hostname(g)),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netnsPath}),
		oci.WithMounts(mounts),
		oci.WithCgroup(cgroupPath),
	}
	if c.Privileged {
		// As kubelet and containerd's CRI run a privileged container: every
		// capability and host device, no seccomp filter, nothing masked or
		// read-only, writable sysfs and cgroupfs.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices,
			oci.WithMaskedPaths(nil), oci.WithReadonlyPaths(nil), oci.WithWriteableSysfs, oci.WithWriteableCgroupfs)
	} else {
		opts = append(opts, seccomp.WithDefaultProfile(), oci.WithNoNewPrivileges)
		// A privileged container has every host device already.
		if len(c.GPUDevices) > 0 {
			for _, d := range append(slices.Clone(c.GPUDevices), gpuExtraDevices...) {
				opts = append(opts, oci.WithDevices(d, d, "rwm"))
			}
		}
	}
	if g.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if c.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(c.WorkingDir))
	}
	if c.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(gib(c.Memory))))
		// Memory plus swap equal to memory: no swapping past the limit, as
		// Kubernetes (v1 needs swap accounting for it).
		if swapAccounting() {
			opts = append(opts, oci.WithMemorySwap(gib(c.Memory)))
		}
	}
	if c.CPU > 0 {
		opts = append(opts, oci.WithCPUCFS(int64(c.CPU*cfsPeriod), cfsPeriod))
	}
	// Requests as kubelet sets them: CPU shares of 1024 per core (at
	// least 2; runc turns them into cpu.weight on cgroup v2), memory as a
	// soft limit (memory.soft_limit_in_bytes, memory.low on v2).
	if c.RequestCPU > 0 {
		opts = append(opts, oci.WithCPUShares(cpuShares(c.RequestCPU)))
	}
	if c.RequestMemory > 0 {
		opts = append(opts, withMemoryReservation(gib(c.RequestMemory)))
	}
	return append(opts, withHostLimits), nil
}

// containerEnv is a container's environment, values from fields resolved
// (as kubelet does when it starts a container).
func containerEnv(g *core.Group, c *core.Container, nodeName string) ([]string, error) {
	env := make([]string, 0, len(c.Env))
	for _, e := range c.Env {
		v := e.Value
		if e.FieldPath != "" {
			var ok bool
			if v, ok = g.FieldValue(e.FieldPath, nodeName); !ok {
				return nil, fmt.Errorf("environment variable %s: field path %q is not supported", e.Key, e.FieldPath)
			}
		}
		env = append(env, e.Key+"="+v)
	}
	return env, nil
}

// cpuShares is kubelet's conversion of a CPU request to cgroup shares.
func cpuShares(cores float64) uint64 {
	return max(2, uint64(math.Round(cores*1000))*1024/1000)
}

func withMemoryReservation(bytes int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if s.Linux.Resources.Memory == nil {
			s.Linux.Resources.Memory = &specs.LinuxMemory{}
		}
		s.Linux.Resources.Memory.Reservation = &bytes
		return nil
	}
}

func bind(src, dst string, ro bool) specs.Mount {
	o := []string{"rbind", "rprivate", "rw"}
	if ro {
		o[2] = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: o}
}

func gib(g float64) int64 { return int64(g * (1 << 30)) }

// withHostLimits drops what this host refuses: a negative oomScoreAdj
// (needs CAP_SYS_RESOURCE, runc then fails with "can't get final child's
// PID from pipe") and rlimits above the host's hard limits.
func withHostLimits(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
	if s.Process == nil {
		return nil
	}
	if s.Process.OOMScoreAdj != nil && *s.Process.OOMScoreAdj < 0 {
		s.Process.OOMScoreAdj = nil
	}
	for i := range s.Process.Rlimits {
		rl := &s.Process.Rlimits[i]
		res, ok := rlimitByName[rl.Type]
		if !ok {
			continue
		}
		var host unix.Rlimit
		if unix.Getrlimit(res, &host) != nil {
			continue
		}
		rl.Hard = min(rl.Hard, host.Max)
		rl.Soft = min(rl.Soft, rl.Hard)
	}
	return nil
}

var rlimitByName = map[string]int{
	"RLIMIT_NOFILE":  unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":   unix.RLIMIT_NPROC,
	"RLIMIT_CORE":    unix.RLIMIT_CORE,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_STACK":   unix.RLIMIT_STACK,
}
