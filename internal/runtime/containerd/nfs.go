package containerd

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/openkci/openkci/internal/core"
)

// NFSVolumes are mounted with the kernel's NFS client (mount -t nfs,
// through mount.nfs of nfs-common) at the group's volume directory, from
// where they are bind-mounted into containers like EBS volumes; teardown
// unmounts them with everything under the group's directory. A host
// whose kernel has no NFS client cannot mount them: New finds that out
// (hostNFS) and NFS reports it, so the service refuses such groups at
// create instead of leaving them failing to set up.

// NFS says why NFSVolumes cannot be mounted on this host; nil if they can
// (service.NFSMounter).
func (r *Runtime) NFS() error { return r.nfs }

// hostNFS checks that the kernel lists an NFS file system in filesystems
// (/proc/filesystems) and that mount.nfs is installed.
func hostNFS(filesystems string) error {
	b, err := os.ReadFile(filesystems)
	if err != nil {
		return fmt.Errorf("cannot tell whether this host's kernel has an NFS client: %w", err)
	}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[len(f)-1] == "nfs" || f[len(f)-1] == "nfs4") {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("this host's kernel has no NFS client (nfs is not in %s: a kernel built without CONFIG_NFS_FS, or its nfs module not loaded; load it and restart kcid)", filesystems)
	}
	if _, err := exec.LookPath("mount.nfs"); err != nil {
		return fmt.Errorf("mount.nfs is not installed on this host (Debian: apt-get install nfs-common; then restart kcid)")
	}
	return nil
}

// nfsSource is mount's source for an export: server:path, an IPv6
// address in brackets.
func nfsSource(n *core.NFSVolume) string {
	if a, err := netip.ParseAddr(n.Server); err == nil && a.Is6() {
		return "[" + n.Server + "]:" + n.Path
	}
	return n.Server + ":" + n.Path
}

// mountNFS mounts the volume's export at target; idempotent (a
// re-adopted group's mount is kept).
func (r *Runtime) mountNFS(ctx context.Context, v core.Volume, target string) error {
	if v.NFS == nil {
		return fmt.Errorf("volume %q: NFSVolume without an export", v.Name)
	}
	if r.nfs != nil {
		return fmt.Errorf("volume %q: %w", v.Name, r.nfs)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if isMountPoint(target) {
		return nil
	}
	opt := "rw"
	if v.NFS.ReadOnly {
		opt = "ro"
	}
	if out, err := exec.CommandContext(ctx, "mount", "-t", "nfs", "-o", opt, nfsSource(v.NFS), target).CombinedOutput(); err != nil {
		return fmt.Errorf("volume %q: mount nfs %s: %v: %s", v.Name, nfsSource(v.NFS), err, strings.TrimSpace(string(out)))
	}
	return nil
}
