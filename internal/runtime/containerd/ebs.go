package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
)

// EBS volumes are sparse files under DataDir/disks, one per declared disk,
// formatted on first use (only when blkid finds no file system, so data
// survives groups) and loop-mounted at the group's volume directory, from
// where they are bind-mounted into containers. mount(8)'s -o loop sets the
// loop device to auto-clear: unmounting frees it, so teardown only has to
// unmount what is under the group's directory.

func (r *Runtime) diskFile(id string) string {
	return filepath.Join(r.cfg.DataDir, "disks", id+".img")
}

// mountEBS makes the disk's file system available at target. It is
// idempotent: an existing mount (a re-adopted group) is kept.
func (r *Runtime) mountEBS(ctx context.Context, v core.Volume, target string) error {
	if v.EBS == nil {
		return fmt.Errorf("volume %q: EBSVolume without a disk", v.Name)
	}
	d, ok := r.disks[v.EBS.VolumeID]
	if !ok {
		return fmt.Errorf("volume %q: unknown disk %q", v.Name, v.EBS.VolumeID)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if isMountPoint(target) {
		return nil
	}
	file := r.diskFile(d.ID)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// Sparse: only written blocks take space.
	fi, err := f.Stat()
	if err == nil && fi.Size() < int64(d.SizeGB)<<30 {
		err = f.Truncate(int64(d.SizeGB) << 30)
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("disk file %s: %w", file, err)
	}
	fsType, err := blkidType(ctx, file)
	if err != nil {
		return err
	}
	if fsType == "" {
		fsType = v.EBS.FsType
		if fsType == "" {
			fsType = "ext4"
		}
		args := []string{"-q", "-F", file}
		if fsType == "xfs" {
			args = []string{"-q", "-f", file}
		}
		if out, err := exec.CommandContext(ctx, "mkfs."+fsType, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("mkfs.%s %s: %v: %s", fsType, d.ID, err, strings.TrimSpace(string(out)))
		}
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", "loop", "-t", fsType, file, target).CombinedOutput(); err != nil {
		return fmt.Errorf("mount disk %s: %v: %s", d.ID, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// blkidType returns the file system type on file, "" if none.
func blkidType(ctx context.Context, file string) (string, error) {
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-o", "value", "-s", "TYPE", file).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		return "", nil // nothing found
	}
	if err != nil {
		return "", fmt.Errorf("blkid %s: %w", file, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// isMountPoint reports whether path is a mount point (of this mount
// namespace).
func isMountPoint(path string) bool {
	for _, m := range mountsUnder(path) {
		if m == filepath.Clean(path) {
			return true
		}
	}
	return false
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := unescapeOctal(fields[4])
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unmountAll unmounts everything at or below dir (loop-mounted disks free
// their loop device with it).
func unmountAll(dir string) error {
	var errs []error
	for _, m := range mountsUnder(dir) {
		if err := unix.Unmount(m, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			// Busy: detach lazily rather than leave the group half removed.
			if err2 := unix.Unmount(m, unix.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			o := s[i+1 : i+4]
			if o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7' {
				b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
