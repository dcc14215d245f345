package containerd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// EBS volumes are sparse files under DataDir/disks, <id>.img, one per
// disk, formatted on first use (only when blkid finds no file system, so
// data survives groups) and loop-mounted at the group's volume directory,
// from where they are bind-mounted into containers. mount(8)'s -o loop
// sets the loop device to auto-clear: unmounting frees it, so teardown
// only has to unmount what is under the group's directory.
//
// A disk of the config is only an <id>.img. A disk made on demand (the
// volume's EBS.SizeGB > 0) also has <id>.json, its diskRecord: account,
// zone, size, type and the group that mounts it. The record is written
// before the file is made and names its group, so a crash anywhere leaves
// a disk that the group's teardown (or start-up's orphan teardown, which
// finds groups by their records too) releases: deleted with the file if
// the group said DeleteWithInstance, else kept with no group, for a later
// group of the same account.

func (r *Runtime) disksDir() string { return filepath.Join(r.cfg.DataDir, "disks") }

func (r *Runtime) diskFile(id string) string {
	return filepath.Join(r.disksDir(), id+".img")
}

func (r *Runtime) diskRecordFile(id string) string {
	return filepath.Join(r.disksDir(), id+".json")
}

// diskRecord is DataDir/disks/<id>.json, a disk made on demand.
type diskRecord struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Zone    string `json:"zone"`
	SizeGB  int    `json:"sizeGb"`
	Type    string `json:"type"`
	FsType  string `json:"fsType"`
	// Group mounts the disk; "" while it is kept.
	Group string `json:"group,omitempty"`
	// DeleteWithInstance: Group's teardown deletes the disk.
	DeleteWithInstance bool      `json:"deleteWithInstance,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
}

// readDiskRecord returns the record of disk id, nil if it has none.
func (r *Runtime) readDiskRecord(id string) (*diskRecord, error) {
	b, err := os.ReadFile(r.diskRecordFile(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d diskRecord
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("disk record %s: %w", r.diskRecordFile(id), err)
	}
	return &d, nil
}

func (r *Runtime) writeDiskRecord(d *diskRecord) error {
	if err := os.MkdirAll(r.disksDir(), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return writeFileAtomic(r.diskRecordFile(d.ID), b, 0o600)
}

// diskRecords lists the records of every disk made on demand.
func (r *Runtime) diskRecords() ([]*diskRecord, error) {
	ents, err := os.ReadDir(r.disksDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*diskRecord
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, ".") {
			continue
		}
		d, err := r.readDiskRecord(id)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Disks lists the account's disks made on demand (service.DiskMaker).
func (r *Runtime) Disks(_ context.Context, accountID string) ([]core.Disk, error) {
	r.diskMu.Lock()
	defer r.diskMu.Unlock()
	recs, err := r.diskRecords()
	if err != nil {
		return nil, err
	}
	var out []core.Disk
	for _, d := range recs {
		if d.Account == accountID {
			out = append(out, core.Disk{ID: d.ID, AccountID: d.Account, Zone: d.Zone, SizeGB: d.SizeGB, Type: d.Type, FsType: d.FsType, GroupID: d.Group})
		}
	}
	return out, nil
}

// claimDisk records g as the user of the disk made on demand behind v,
// making the record of a new disk; it returns the disk's size. A disk of
// another account, or one another group mounts, is refused.
func (r *Runtime) claimDisk(g *core.Group, v core.Volume) (sizeGB int, err error) {
	r.diskMu.Lock()
	defer r.diskMu.Unlock()
	e := v.EBS
	d, err := r.readDiskRecord(e.VolumeID)
	if err != nil {
		return 0, err
	}
	if d == nil {
		d = &diskRecord{ID: e.VolumeID, Account: g.AccountID, Zone: g.Zone, SizeGB: e.SizeGB, Type: e.Type, FsType: e.FsType, CreatedAt: r.cfg.Clock.Now().UTC()}
	}
	switch {
	case d.Account != g.AccountID:
		return 0, fmt.Errorf("volume %q: disk %s is not account %s's: %w", v.Name, d.ID, g.AccountID, kcierr.ErrInvalidArgument)
	case d.Group != "" && d.Group != g.ID:
		return 0, fmt.Errorf("volume %q: disk %s is mounted by group %s: %w", v.Name, d.ID, d.Group, kcierr.ErrConflict)
	}
	if d.Group != g.ID || d.DeleteWithInstance != e.DeleteWithInstance {
		d.Group, d.DeleteWithInstance = g.ID, e.DeleteWithInstance
		if err := r.writeDiskRecord(d); err != nil {
			return 0, fmt.Errorf("volume %q: record disk %s: %w", v.Name, d.ID, err)
		}
	}
	return d.SizeGB, nil
}

// releaseDisks lets go of the disks made on demand that group id
// mounts, once they are unmounted: each is deleted (file, then record) if
// the group said DeleteWithInstance, else kept with no group. Idempotent.
func (r *Runtime) releaseDisks(id string) error {
	r.diskMu.Lock()
	defer r.diskMu.Unlock()
	recs, err := r.diskRecords()
	if err != nil {
		return err
	}
	for _, d := range recs {
		if d.Group != id {
			continue
		}
		if d.DeleteWithInstance {
			if err := os.Remove(r.diskFile(d.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delete disk %s: %w", d.ID, err)
			}
			if err := os.Remove(r.diskRecordFile(d.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delete disk %s: %w", d.ID, err)
			}
			r.log.Info("deleted a disk with its group", "disk", d.ID, "group", id, "account", d.Account)
			continue
		}
		d.Group = ""
		if err := r.writeDiskRecord(d); err != nil {
			return fmt.Errorf("keep disk %s: %w", d.ID, err)
		}
		r.log.Info("kept a disk after its group", "disk", d.ID, "group", id, "account", d.Account)
	}
	return nil
}

// diskGroups are the groups the disk records name (for the orphan sweep).
func (r *Runtime) diskGroups() []string {
	recs, _ := r.diskRecords()
	var out []string
	for _, d := range recs {
		if d.Group != "" {
			out = append(out, d.Group)
		}
	}
	return out
}

// mountEBS makes the disk's file system available at target. It is
// idempotent: an existing mount (a re-adopted group) is kept.
func (r *Runtime) mountEBS(ctx context.Context, g *core.Group, v core.Volume, target string) error {
	if v.EBS == nil {
		return fmt.Errorf("volume %q: EBSVolume without a disk", v.Name)
	}
	id, sizeGB := v.EBS.VolumeID, 0
	if v.EBS.OnDemand() {
		if validID(id) != nil {
			return fmt.Errorf("volume %q: disk ID %q: %w", v.Name, id, kcierr.ErrInvalidArgument)
		}
		var err error
		if sizeGB, err = r.claimDisk(g, v); err != nil {
			return err
		}
	} else {
		d, ok := r.disks[id]
		if !ok {
			return fmt.Errorf("volume %q: unknown disk %q", v.Name, id)
		}
		sizeGB = d.SizeGB
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if isMountPoint(target) {
		return nil
	}
	file := r.diskFile(id)
	if devs := loopsOf(file); len(devs) > 0 {
		// Still attached after an unmount that had to detach lazily: a
		// second file system on the same file would corrupt it.
		return fmt.Errorf("volume %q: disk %s is still attached to %s (a previous mount has not ended); retrying", v.Name, id, strings.Join(devs, ", "))
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// Sparse: only written blocks take space.
	fi, err := f.Stat()
	if err == nil && fi.Size() < int64(sizeGB)<<30 {
		err = f.Truncate(int64(sizeGB) << 30)
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
		// The file is new (or was never formatted): zeros, so the journal
		// and inode tables need not be written out now.
		args := []string{"-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", file}
		if fsType == "xfs" {
			args = []string{"-q", "-f", file}
		}
		if out, err := exec.CommandContext(ctx, "mkfs."+fsType, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("mkfs.%s %s: %v: %s", fsType, id, err, strings.TrimSpace(string(out)))
		}
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", "loop", "-t", fsType, file, target).CombinedOutput(); err != nil {
		return fmt.Errorf("mount disk %s: %v: %s", id, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sweepLoops detaches loop devices backed by a file under this runtime's
// disks directory that nothing mounts: left by a mount cut short (the
// auto-clear flag frees a device only when a mount of it ends). A device
// with a file system mounted on it, in any mount namespace, is never
// touched: the kernel's exclusive claim of a mounted device says so,
// whatever this thread's mount table shows. Failures are logged.
func (r *Runtime) sweepLoops() {
	dir := r.disksDir() + "/"
	mounted := map[string]bool{}
	for _, src := range mountSources() {
		mounted[src] = true
	}
	for dev, backing := range loopDevices() {
		if !strings.HasPrefix(backing, dir) || mounted[dev] || loopClaimed(dev) {
			continue
		}
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			r.log.Error("could not detach a loop device of a disk that nothing mounts", "device", dev, "file", backing, "err", err, "output", strings.TrimSpace(string(out)))
			continue
		}
		r.log.Warn("detached a loop device of a disk that nothing mounts", "device", dev, "file", backing)
	}
}

// loopClaimed reports whether something holds the block device dev
// exclusively, as a mounted file system does in every mount namespace;
// also when dev cannot be opened to tell (a sweep must not guess).
func loopClaimed(dev string) bool {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	unix.Close(fd)
	return false
}

// loopDevices maps each attached loop device to its backing file.
func loopDevices() map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, bf := range files {
		b, err := os.ReadFile(bf)
		if err != nil {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(bf)))
		out[dev] = strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
	}
	return out
}

// loopsOf lists the loop devices attached to file.
func loopsOf(file string) []string {
	var out []string
	for dev, backing := range loopDevices() {
		if backing == file {
			out = append(out, dev)
		}
	}
	sort.Strings(out)
	return out
}

// mountTable is the mount table of the calling thread's mount namespace,
// the one its mount and unmount calls act in. /proc/self/mountinfo is the
// main thread's, which need not be the same (see nsthread.go).
const mountTable = "/proc/thread-self/mountinfo"

// mountSources lists the sources of this mount namespace's mounts.
func mountSources() []string {
	b, err := os.ReadFile(mountTable)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		if f := strings.Fields(after); ok && len(f) >= 2 {
			out = append(out, unescapeOctal(f[1]))
		}
	}
	return out
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
	f, err := os.Open(mountTable)
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
