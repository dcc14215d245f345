package containerlog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriterCap: whatever the writes, neither file ever exceeds the cap,
// and the two files together end with exactly the last bytes written, cut
// at a line start when the lines are shorter than the cap.
func TestWriterCap(t *testing.T) {
	line := func(i, n int) string { return fmt.Sprintf("%06d %s\n", i, strings.Repeat("y", n)) }
	for _, tc := range []struct {
		name       string
		max        int64
		lineLen    int // bytes of filler per line
		perWrite   int // lines per Write
		lines      int
		wholeLines bool // both files hold whole lines only
	}{
		{"short lines, one per write", MinMax, 10, 1, 5000, true},
		{"short lines, many per write", MinMax, 10, 300, 5000, true},
		{"lines near the cap", MinMax, MinMax - 100, 1, 50, true},
		{"lines over the cap", MinMax, 3 * MinMax, 1, 20, false},
		{"big cap, big writes", 1 << 20, 100, 2000, 50000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.log")
			w := NewWriter(p, tc.max)
			var all bytes.Buffer
			for i := 0; i < tc.lines; i += tc.perWrite {
				var b bytes.Buffer
				for j := i; j < min(i+tc.perWrite, tc.lines); j++ {
					b.WriteString(line(j, tc.lineLen))
				}
				all.Write(b.Bytes())
				w.Write(b.Bytes())
				for _, f := range []string{p, p + ".1"} {
					if fi, err := os.Stat(f); err == nil && fi.Size() > tc.max {
						t.Fatalf("after %d lines %s holds %d bytes, cap %d", i, f, fi.Size(), tc.max)
					}
				}
			}
			if code := w.Close(); code != 0 {
				t.Errorf("Close = %d", code)
			}
			old, _ := os.ReadFile(p + ".1")
			cur, _ := os.ReadFile(p)
			kept := append(old, cur...)
			if !bytes.HasSuffix(all.Bytes(), kept) || len(cur) == 0 {
				t.Fatalf("the files (%d+%d bytes) are not the end of the output", len(old), len(cur))
			}
			if len(old) == 0 && int64(all.Len()) > tc.max {
				t.Errorf("no rotation after %d bytes", all.Len())
			}
			if tc.wholeLines {
				for _, b := range [][]byte{old, cur} {
					if len(b) > 0 && b[len(b)-1] != '\n' {
						t.Errorf("a file does not end a line: %.20q...%.20q", b, b[len(b)-20:])
					}
				}
				if len(old) > 0 && !isLineStart(all.Bytes(), len(all.Bytes())-len(kept)) {
					t.Errorf("the rotated file starts mid-line")
				}
			}
		})
	}
}

func isLineStart(b []byte, off int) bool { return off == 0 || b[off-1] == '\n' }

// TestWriterReportsLoss: output that cannot be written is counted, the
// writer does not block or fail, and the log says what was lost once the
// file can be written again.
func TestWriterReportsLoss(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	p := filepath.Join(dir, "c.log")
	w := NewWriter(p, MinMax)
	if n, err := w.Write([]byte("lost line\n")); n != 10 || err != nil {
		t.Fatalf("Write without a directory = %d, %v", n, err)
	}
	os.MkdirAll(dir, 0o700)
	w.Write([]byte("kept line\n"))
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "[openkci: 10 bytes of this container's output were lost: ") || !strings.HasSuffix(string(b), "]\nkept line\n") {
		t.Errorf("log = %q", b)
	}

	// A full disk (/dev/full, through a symlink so that a rotation could
	// only rename the link): writes are counted, the failed note is not.
	full := filepath.Join(t.TempDir(), "c.log")
	if err := os.Symlink("/dev/full", full); err != nil {
		t.Fatal(err)
	}
	wf := NewWriter(full, MinMax)
	wf.Write([]byte("ab\n"))
	wf.Write([]byte("cd\n"))
	os.Remove(full) // the disk has room again
	wf.Write([]byte("ef\n"))
	if b, _ := os.ReadFile(full); !strings.HasPrefix(string(b), "[openkci: 6 bytes of this container's output were lost: ") ||
		!strings.Contains(string(b), "no space left on device") || !strings.HasSuffix(string(b), "]\nef\n") {
		t.Errorf("log after a full disk = %q", b)
	}

	// Lost and never reported: Close says so in its exit code.
	w2 := NewWriter(filepath.Join(t.TempDir(), "none", "c.log"), MinMax)
	w2.Write([]byte("x\n"))
	if code := w2.Close(); code != 1 {
		t.Errorf("Close after unreported loss = %d", code)
	}
}

// TestWriterResumesOverCap: a logger started on a file left over its cap
// (by a task logged before the cap was hard) rotates it first.
func TestWriterResumesOverCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	os.WriteFile(p, bytes.Repeat([]byte("old\n"), 3*MinMax), 0o600)
	w := NewWriter(p, MinMax)
	w.Write([]byte("new\n"))
	w.Close()
	if b, _ := os.ReadFile(p); string(b) != "new\n" {
		t.Errorf("current file = %.20q", b)
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{argFile, "/l/c.log", argMax, "1024"}, true},
		{[]string{argMax, "1024", argFile, "/l/c.log"}, true},
		{[]string{argFile, "/l/c.log"}, false},
		{[]string{argFile, "/l/c.log", argMax, "x"}, false},
		{[]string{argFile, "/l/c.log", "-test.run", "X"}, false},
		{[]string{"-test.v", "-test.run", "X", "y"}, false},
		{nil, false},
	} {
		path, max, ok := parseArgs(tc.args)
		if ok != tc.ok || ok && (path != "/l/c.log" || max != 1024) {
			t.Errorf("parseArgs(%q) = %q, %d, %v", tc.args, path, max, ok)
		}
	}
}
