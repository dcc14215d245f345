package containerd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Groups get a parent cgroup (<root>/<group>) holding the group's CPU and
// memory limit; runc creates each container's cgroup inside it. Both cgroup
// v1 (cgroupfs, no systemd) and v2 are handled by writing the files
// directly: the limits are two numbers.

const cgroupMount = "/sys/fs/cgroup"

func cgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupMount, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

const cfsPeriod = 100000

// swapAccounting reports whether a v1 memory+swap limit can be set (swap
// accounting on). On v2 the parent's memory.swap.max is written directly.
func swapAccounting() bool {
	if cgroupV2() {
		return false
	}
	_, err := os.Stat(filepath.Join(cgroupMount, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}

// setupGroupCgroup creates the parent cgroup and sets its limits (0: none).
func setupGroupCgroup(path string, cpu float64, memBytes int64) error {
	if cgroupV2() {
		dir := filepath.Join(cgroupMount, path)
		// Controllers must be enabled down the tree for limits to apply.
		parts := strings.Split(strings.Trim(path, "/"), "/")
		cur := cgroupMount
		for _, p := range parts {
			_ = os.WriteFile(filepath.Join(cur, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0)
			cur = filepath.Join(cur, p)
			if err := os.MkdirAll(cur, 0o755); err != nil {
				return err
			}
		}
		if memBytes > 0 {
			if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(memBytes, 10)), 0); err != nil {
				return err
			}
			// No swap past the limit; absent when the kernel has no swap.
			_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
		}
		if cpu > 0 {
			v := fmt.Sprintf("%d %d", int64(cpu*cfsPeriod), cfsPeriod)
			if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(v), 0); err != nil {
				return err
			}
		}
		return nil
	}
	if memBytes > 0 {
		dir := filepath.Join(cgroupMount, "memory", path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(memBytes, 10)), 0); err != nil {
			return err
		}
		if swapAccounting() {
			if err := os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(memBytes, 10)), 0); err != nil {
				return err
			}
		}
	}
	if cpu > 0 {
		dir := filepath.Join(cgroupMount, "cpu", path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(cfsPeriod)), 0); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.FormatInt(int64(cpu*cfsPeriod), 10)), 0); err != nil {
			return err
		}
	}
	return nil
}

// cgroupDirs lists the directories of cgroup path in every hierarchy.
func cgroupDirs(path string) []string {
	if cgroupV2() {
		return []string{filepath.Join(cgroupMount, path)}
	}
	ents, err := os.ReadDir(cgroupMount)
	if err != nil {
		return nil
	}
	var dirs []string
	seen := map[string]bool{}
	for _, e := range ents {
		d := filepath.Join(cgroupMount, e.Name())
		// Co-mounted controllers appear as symlinks (cpu -> cpu,cpuacct).
		if r, err := filepath.EvalSymlinks(d); err == nil {
			d = r
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		dirs = append(dirs, filepath.Join(d, path))
	}
	return dirs
}

// removeCgroup removes the cgroup path and everything below it in every
// hierarchy, deepest first. Missing directories are fine; a cgroup that
// still has processes fails with EBUSY.
func removeCgroup(path string) error {
	var errs []error
	for _, root := range cgroupDirs(path) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupProcs lists the processes in cgroup path and below, in every
// hierarchy.
func cgroupProcs(path string) []int {
	seen := map[int]bool{}
	var out []int
	for _, root := range cgroupDirs(path) {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	sort.Ints(out)
	return out
}

// thawCgroup thaws a frozen (paused) cgroup so that its processes can die.
func thawCgroup(path string) {
	if cgroupV2() {
		_ = filepath.WalkDir(filepath.Join(cgroupMount, path), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.WriteFile(filepath.Join(p, "cgroup.freeze"), []byte("0"), 0)
			}
			return nil
		})
		return
	}
	_ = filepath.WalkDir(filepath.Join(cgroupMount, "freezer", path), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.WriteFile(filepath.Join(p, "freezer.state"), []byte("THAWED"), 0)
		}
		return nil
	})
}

// procName is a process's command name, for logs ("" if it is gone).
func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// oomKilled reports whether the kernel OOM-killed a process of the cgroup
// (read before the task is deleted, while the cgroup still exists).
func oomKilled(path string) bool {
	var file, key string
	if cgroupV2() {
		file, key = filepath.Join(cgroupMount, path, "memory.events"), "oom_kill"
	} else {
		file, key = filepath.Join(cgroupMount, "memory", path, "memory.oom_control"), "oom_kill"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n > 0
		}
	}
	return false
}

// listCgroupChildren lists the child cgroups of path (group IDs under the
// runtime's root), from the memory hierarchy (or the unified one).
func listCgroupChildren(path string) []string {
	dir := filepath.Join(cgroupMount, path)
	if !cgroupV2() {
		dir = filepath.Join(cgroupMount, "memory", path)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
