package containerd

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/core"
)

// tailRef is tailFile's specification, the slow way: split into lines,
// take the last n; over maxBytes, the last maxBytes from a line start
// when one starts there before the end.
func tailRef(data []byte, n, maxBytes int) ([]byte, bool) {
	var lines [][]byte
	for rest := data; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest) - 1
		}
		lines = append(lines, rest[:i+1])
		rest = rest[i+1:]
	}
	whole := true
	if n > 0 && len(lines) > n {
		lines, whole = lines[len(lines)-n:], false
	}
	out := bytes.Join(lines, nil)
	if len(out) <= maxBytes {
		return out, whole
	}
	limit := len(data) - maxBytes
	if j := bytes.IndexByte(data[limit-1:], '\n'); j >= 0 && limit+j < len(data) {
		return data[limit+j:], false
	}
	return data[limit:], false
}

func TestTailFileMatchesReference(t *testing.T) {
	defer func(b int) { tailBlock = b }(tailBlock)
	tailBlock = 7
	dir := t.TempDir()
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < 1000; i++ {
		data := make([]byte, rnd.Intn(80))
		for j := range data {
			if rnd.Intn(6) == 0 {
				data[j] = '\n'
			} else {
				data[j] = 'a' + byte(j%26)
			}
		}
		p := filepath.Join(dir, "c.log")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		n, maxBytes := rnd.Intn(12)-1, 1+rnd.Intn(90)
		got, lines, whole, err := tailFile(p, n, maxBytes)
		want, wantWhole := tailRef(data, n, maxBytes)
		if err != nil || !bytes.Equal(got, want) || whole != wantWhole || lines != countLines(want) {
			t.Fatalf("tailFile(%q, %d, max %d) = %q, %d lines, whole %v, %v; want %q, whole %v",
				data, n, maxBytes, got, lines, whole, err, want, wantWhole)
		}
	}
}

// TestTailFileCapped: a log without newlines, or a tail larger than the
// cap, returns at most maxTailBytes, reading only about that much.
func TestTailFileCapped(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.log")
	noNL := bytes.Repeat([]byte("0123456789"), 300<<10) // 3 MB, no newline
	os.WriteFile(p, noNL, 0o600)
	got, err := tailLog(p, 1)
	if err != nil || len(got) != maxTailBytes || got != string(noNL[len(noNL)-maxTailBytes:]) {
		t.Errorf("tail 1 of a newline-less log: %d bytes, %v", len(got), err)
	}
	if got, _ := tailLog(p, 0); len(got) != maxTailBytes {
		t.Errorf("tail all of a newline-less log: %d bytes", len(got))
	}

	var b strings.Builder
	for b.Len() < 3<<20 {
		b.WriteString("a line of forty bytes, newline included\n")
	}
	os.WriteFile(p, []byte(b.String()), 0o600)
	got, _ = tailLog(p, 1000000)
	if len(got) > maxTailBytes || len(got) < maxTailBytes-40 || !strings.HasPrefix(got, "a line") || !strings.HasSuffix(got, "included\n") {
		t.Errorf("capped tail: %d bytes, starts %.10q", len(got), got)
	}

	// The rotated file fills the budget the current one leaves.
	os.WriteFile(p+".1", []byte(b.String()), 0o600)
	os.WriteFile(p, []byte("new\n"), 0o600)
	got, _ = tailLog(p, 0)
	if len(got) > maxTailBytes || len(got) < maxTailBytes-40 || !strings.HasPrefix(got, "a line") || !strings.HasSuffix(got, "included\nnew\n") {
		t.Errorf("capped tail across rotation: %d bytes, starts %.10q", len(got), got)
	}
}

// TestRotateBounded: the rotated file holds at most max bytes even when
// the log grew past the size seen (a fast writer), and a rotation makes
// the worker check again sooner.
func TestRotateBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	line := []byte(strings.Repeat("y", 99) + "\n")
	os.WriteFile(p, bytes.Repeat(line, 50), 0o600)
	// 5000 bytes were seen; 5000 more arrive before the copy.
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(bytes.Repeat(line, 50))
	f.Close()
	if err := rotateFile(p, 5000, 1000); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p + ".1"); len(b) > 1000 || len(b) < 800 {
		t.Errorf("rotated file: %d bytes", len(b))
	}

	g := &group{r: &Runtime{cfg: Config{LogMaxBytes: 1000}}, spec: &core.Group{Containers: []core.Container{{Name: "c"}}}, dir: t.TempDir()}
	os.MkdirAll(filepath.Dir(g.logPath("c")), 0o700)
	os.WriteFile(g.logPath("c"), bytes.Repeat(line, 5), 0o600)
	if d := g.rotateLogs(); d != logCheckInterval {
		t.Errorf("quiet log: next check in %v", d)
	}
	os.WriteFile(g.logPath("c"), bytes.Repeat(line, 50), 0o600)
	if d := g.rotateLogs(); d != logCheckInterval/20 {
		t.Errorf("log over its cap: next check in %v", d)
	}
}
