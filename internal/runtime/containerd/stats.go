package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// GroupStats reads a group's usage from its cgroups (the group's parent
// cgroup for the group, each container's cgroup for the container) and
// from the interface counters of its network namespace, seen through one
// of its processes. A group without a cgroup yet (still being set up), or
// unknown, is ErrNotFound. A container without a cgroup (not started, or
// between attempts) is left out; a container's counters start again with
// each attempt, the group's do not.
func (r *Runtime) GroupStats(_ context.Context, groupID string) (core.GroupStats, error) {
	r.mu.Lock()
	w := r.groups[groupID]
	r.mu.Unlock()
	if w == nil {
		return core.GroupStats{}, fmt.Errorf("group %q: %w", groupID, kcierr.ErrNotFound)
	}
	st := core.GroupStats{Time: r.cfg.Clock.Now()}
	cpu, mem, err := readCgroupUsage(w.cgroup)
	if errors.Is(err, fs.ErrNotExist) {
		return core.GroupStats{}, fmt.Errorf("group %q has no cgroup yet: %w", groupID, kcierr.ErrNotFound)
	}
	if err != nil {
		return core.GroupStats{}, fmt.Errorf("group %q: %w", groupID, err)
	}
	st.CPUNanos, st.Memory = cpu, mem
	for _, c := range w.spec.Containers {
		cpu, mem, err := readCgroupUsage(w.ctrCgroup(c.Name))
		if err != nil {
			continue
		}
		st.Containers = append(st.Containers, core.ContainerStats{Name: c.Name, CPUNanos: cpu, Memory: mem})
	}
	for _, pid := range cgroupProcs(w.cgroup) {
		ifs, err := readNetDev(fmt.Sprintf("/proc/%d/net/dev", pid))
		if err == nil {
			st.Interfaces = ifs
			break
		}
	}
	return st, nil
}

// readCgroupUsage reads the CPU time (ns) and memory of cgroup path, from
// cgroup v2's unified files or v1's cpuacct and memory controllers.
func readCgroupUsage(path string) (cpuNanos uint64, mem core.MemoryStats, err error) {
	if cgroupV2() {
		dir := filepath.Join(cgroupMount, path)
		cpuStat, err := readKeyed(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return 0, mem, err
		}
		cur, err := readUint(filepath.Join(dir, "memory.current"))
		if err != nil {
			return 0, mem, err
		}
		ms, err := readKeyed(filepath.Join(dir, "memory.stat"))
		if err != nil {
			return 0, mem, err
		}
		return cpuStat["usage_usec"] * 1000, memoryStats(cur, ms["anon"], ms["file"], ms["inactive_file"]), nil
	}
	cpuNanos, err = readUint(filepath.Join(cgroupMount, "cpuacct", path, "cpuacct.usage"))
	if err != nil {
		return 0, mem, err
	}
	usage, err := readUint(filepath.Join(cgroupMount, "memory", path, "memory.usage_in_bytes"))
	if err != nil {
		return 0, mem, err
	}
	ms, err := readKeyed(filepath.Join(cgroupMount, "memory", path, "memory.stat"))
	if err != nil {
		return 0, mem, err
	}
	return cpuNanos, memoryStats(usage, ms["total_rss"], ms["total_cache"], ms["total_inactive_file"]), nil
}

// memoryStats derives the working set as the kubelet does: usage less
// inactive file pages, never below zero.
func memoryStats(usage, rss, cache, inactiveFile uint64) core.MemoryStats {
	ws := uint64(0)
	if usage > inactiveFile {
		ws = usage - inactiveFile
	}
	return core.MemoryStats{Usage: usage, WorkingSet: ws, RSS: rss, Cache: cache}
}

func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKeyed reads a flat keyed file ("key value" lines: cpu.stat,
// memory.stat).
func readKeyed(file string) (map[string]uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// readNetDev parses /proc/<pid>/net/dev: the counters of every interface
// of that process's network namespace but loopback.
func readNetDev(file string) ([]core.InterfaceStats, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseNetDev(bufio.NewScanner(f))
}

func parseNetDev(sc *bufio.Scanner) ([]core.InterfaceStats, error) {
	var out []core.InterfaceStats
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue // the two header lines
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if name == "lo" || len(f) < 16 {
			continue
		}
		var n [16]uint64
		for i := range n {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("interface %s: field %d: %w", name, i+1, err)
			}
			n[i] = v
		}
		out = append(out, core.InterfaceStats{Name: name,
			RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDrops: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDrops: n[11]})
	}
	return out, sc.Err()
}
