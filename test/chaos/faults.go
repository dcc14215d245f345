package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// faultKind is a fault the suite injects.
type faultKind string

const (
	// kcidKill: SIGKILL of kcid at a random moment of a batch of creates and
	// deletes; the suite starts it again.
	kcidKill faultKind = "kcid-kill"
	// containerdKill: SIGKILL of kcid's own containerd (the run's, never the
	// system's); kcid's supervisor is to start it again.
	containerdKill faultKind = "containerd-kill"
	// diskFull: the data dir's file system (the run's loop device) is filled
	// to the last block while the batch runs, then freed.
	diskFull faultKind = "disk-full"
	// clockJump: kcid's wall clock (and the suite's signing clock) jumps by
	// one hour, forward or back (offsets stay within ±1h).
	clockJump faultKind = "clock-jump"
)

var allFaults = []faultKind{kcidKill, containerdKill, diskFull, clockJump}

// defaultMix is the share of each fault (out of 100): the issue asks for
// ten kcid kills per containerd kill.
const defaultMix = "kcid-kill=80,containerd-kill=10,disk-full=5,clock-jump=5"

// faultMix is a weighted choice of faults.
type faultMix struct {
	kinds   []faultKind
	weights []int
	total   int
}

// parseMix parses "kind=weight,..." (a kind without "=weight" weighs 1).
func parseMix(s string) (*faultMix, error) {
	m := &faultMix{}
	seen := map[faultKind]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, hasWeight := strings.Cut(part, "=")
		k := faultKind(name)
		known := false
		for _, f := range allFaults {
			known = known || f == k
		}
		if !known {
			return nil, fmt.Errorf("-faults: unknown fault %q (known: %s)", name, joinKinds(allFaults))
		}
		if seen[k] {
			return nil, fmt.Errorf("-faults: %s given twice", name)
		}
		seen[k] = true
		weight := 1
		if hasWeight {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("-faults: weight of %s: %q is not a whole number >= 0", name, w)
			}
			weight = n
		}
		if weight == 0 {
			continue
		}
		m.kinds = append(m.kinds, k)
		m.weights = append(m.weights, weight)
		m.total += weight
	}
	if m.total == 0 {
		return nil, fmt.Errorf("-faults: %q selects no fault", s)
	}
	return m, nil
}

func (m *faultMix) pick(rng *rand.Rand) faultKind {
	n := rng.IntN(m.total)
	for i, w := range m.weights {
		if n < w {
			return m.kinds[i]
		}
		n -= w
	}
	panic("unreachable")
}

func (m *faultMix) String() string {
	parts := make([]string, len(m.kinds))
	for i, k := range m.kinds {
		parts[i] = fmt.Sprintf("%s=%d", k, m.weights[i])
	}
	return strings.Join(parts, ",")
}

func joinKinds(ks []faultKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// fill takes every free block of the file system at dir (root's reserve
// included: kcid runs as root) with one file, and returns its path. The
// file is removed with free.
func fill(dir string) (string, error) {
	path := filepath.Join(dir, "chaos-filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return path, err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return path, err
	}
	size := int64(st.Bfree) * st.Bsize
	// fallocate takes most of it in one call; writes take the rest, down
	// to the last block (fallocate leaves some for extent metadata).
	if size > 0 {
		_ = unix.Fallocate(int(f.Fd()), 0, 0, size-size/64)
	}
	if _, err := f.Seek(0, 2); err != nil {
		return path, err
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break // ENOSPC
		}
	}
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	return path, nil
}
