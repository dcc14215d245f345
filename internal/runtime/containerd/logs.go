package containerd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
)

// Container logs: each task's stdout and stderr go to a logging process
// that containerd's shim runs (package containerlog, kcid re-executed),
// which writes them to one file per container, capped at LogMaxBytes, with
// one rotated file <file>.1: at most 2·LogMaxBytes on disk, and the output
// keeps flowing while kcid is down.
//
// rotateLog below is the copy-and-truncate of earlier releases, whose
// tasks had the shim write the file directly (cio.LogFile): the worker
// still applies it to every log, so that a task adopted from such a
// release is capped too (between checks only). It never touches a log of
// a containerlog writer, which never exceeds the cap.

// rotateLog moves the last max bytes of path (from a line start) to
// path.1 when path exceeds max bytes, and truncates path: at most about
// 2·max bytes are kept per container (plus what is written between two
// checks, see group.rotateLogs). It reports whether it rotated.
func rotateLog(path string, max int64) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= max {
		return false, nil
	}
	return true, rotateFile(path, fi.Size(), max)
}

// rotateFile copies the last max bytes of the size bytes seen to path.1
// and truncates path.
func rotateFile(path string, size, max int64) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.Seek(size-max, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReader(src)
	if _, err := r.ReadBytes('\n'); err != nil && !errors.Is(err, io.EOF) {
		return err // skip the partial first line
	}
	tmp := path + ".1.tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, io.LimitReader(r, max)); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path+".1"); err != nil {
		return err
	}
	return os.Truncate(path, 0)
}

// maxTailBytes caps what one Logs call returns (a variable for tests):
// a container that prints megabytes without a newline, or a large Tail,
// must not make every DescribeContainerLog read and copy the whole file.
// When the requested lines exceed it, the last maxTailBytes bytes are
// returned, starting after the first newline in them when there is one (so
// the answer starts at a line boundary), else in the middle of a line.
var maxTailBytes = 1 << 20

// tailBlock is how much tailFile reads at a time (a variable for tests).
var tailBlock = 32 << 10

// tailFile returns the last n lines of path (n <= 0: all), at most
// maxBytes bytes of them (see maxTailBytes), along with how many lines it
// returned and whether it returned the file from its start (the file had
// fewer than n lines and fit in maxBytes). It reads backwards in blocks,
// counting the newlines of each block once, and never reads more than
// about maxBytes.
func tailFile(path string, n, maxBytes int) (_ []byte, lines int, whole bool, _ error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	size := fi.Size()
	if size == 0 {
		return nil, 0, true, nil
	}
	if n <= 0 {
		n = math.MaxInt - 1
	}
	// limit is the lowest offset returned; reading starts one byte before
	// it so that a line starting exactly there is recognised.
	limit := max(size-int64(max(maxBytes, 0)), 0)
	floor := max(limit-1, 0)

	var chunks [][]byte // last block first
	off := size
	start := int64(-1) // offset of the tail's first byte, once found
	// The tail's n lines start after the n-th newline from the end, not
	// counting a newline that ends the file.
	need := n
	for off > floor && start < 0 {
		sz := min(int64(tailBlock), off-floor)
		off -= sz
		chunk := make([]byte, sz)
		if _, err := f.ReadAt(chunk, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, false, err
		}
		chunks = append(chunks, chunk)
		end := len(chunk)
		if off+sz == size && chunk[end-1] == '\n' {
			end-- // the newline ending the file ends the last line
		}
		if c := bytes.Count(chunk[:end], []byte{'\n'}); c < need {
			need -= c
			continue
		}
		for {
			j := bytes.LastIndexByte(chunk[:end], '\n')
			if need--; need == 0 {
				start = off + int64(j) + 1
				break
			}
			end = j
		}
	}
	buf := chunks[0]
	if len(chunks) > 1 {
		buf = make([]byte, 0, size-off)
		for i := len(chunks) - 1; i >= 0; i-- {
			buf = append(buf, chunks[i]...)
		}
	}
	switch {
	case start >= 0:
	case off == 0 && limit == 0:
		start, whole = 0, true
	default:
		// Capped: from the first line start at or after limit, if any line
		// starts there before the end; else mid-line from limit.
		start = limit
		if j := bytes.IndexByte(buf, '\n'); j >= 0 && off+int64(j)+1 < size {
			start = off + int64(j) + 1
		}
	}
	buf = buf[start-off:]
	return buf, countLines(buf), whole, nil
}

// countLines counts lines, a last one without newline included.
func countLines(b []byte) int {
	c := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		c++
	}
	return c
}

// tailLog returns the last n lines (n <= 0: all) of a rotated log, at most
// maxTailBytes of them: the current file, preceded by the rotated one when
// the current file holds fewer than n lines.
func tailLog(path string, n int) (string, error) {
	cur, got, whole, err := tailFile(path, n, maxTailBytes)
	if err != nil {
		return "", err
	}
	if !whole || (n > 0 && got >= n) {
		return string(cur), nil
	}
	rest := 0
	if n > 0 {
		rest = n - got
	}
	budget := maxTailBytes - len(cur) - 1 // 1: a newline ending the rotated file
	if budget <= 0 {
		return string(cur), nil
	}
	old, _, _, err := tailFile(path+".1", rest, budget)
	if err != nil {
		return "", err
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	return string(old) + string(cur), nil
}
