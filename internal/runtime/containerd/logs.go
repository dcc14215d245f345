package containerd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
)

// Container logs: containerd's shim writes the container's stdout and
// stderr, in the order it reads them, straight into one file per container
// (cio.LogFile), so logs keep flowing while kcid is down. The file is
// capped by copy-and-truncate into <file>.1 (the shim keeps its O_APPEND
// descriptor, so truncation is the only way to shrink it); a few lines
// written during the copy may be lost, as with logrotate's copytruncate.

// rotateLog moves the last max bytes of path (from a line start) to
// path.1 when path exceeds max bytes, and truncates path: at most about
// 2·max bytes are kept per container.
func rotateLog(path string, max int64) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= max {
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.Seek(fi.Size()-max, io.SeekStart); err != nil {
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
	if _, err := io.Copy(dst, r); err != nil {
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

// tailFile returns the last n lines of path (n <= 0: all) by reading
// backwards in blocks, never the whole file, along with how many lines it
// found.
func tailFile(path string, n int) ([]byte, int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	if n <= 0 {
		b, err := io.ReadAll(f)
		return b, bytes.Count(b, []byte{'\n'}), err
	}
	const block = 32 << 10
	var buf []byte
	off := size
	for off > 0 {
		sz := int64(block)
		if off < sz {
			sz = off
		}
		off -= sz
		chunk := make([]byte, sz)
		if _, err := f.ReadAt(chunk, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		buf = append(chunk, buf...)
		// n lines need n newlines before them (or the file start); a final
		// line without newline counts as a line.
		if countLines(buf) > n {
			break
		}
	}
	lines := countLines(buf)
	if lines > n {
		// Drop the leading lines beyond n.
		drop := lines - n
		for i := 0; i < drop; i++ {
			j := bytes.IndexByte(buf, '\n')
			buf = buf[j+1:]
		}
		lines = n
	}
	return buf, lines, nil
}

// countLines counts lines, a last one without newline included.
func countLines(b []byte) int {
	c := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		c++
	}
	return c
}

// tailLog returns the last n lines of a rotated log: the current file,
// preceded by the rotated one when the current has fewer than n lines.
func tailLog(path string, n int) (string, error) {
	cur, got, err := tailFile(path, n)
	if err != nil {
		return "", err
	}
	if n > 0 && got >= n {
		return string(cur), nil
	}
	rest := 0
	if n > 0 {
		rest = n - got
	}
	old, _, err := tailFile(path+".1", rest)
	if err != nil {
		return "", err
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	return string(old) + string(cur), nil
}
