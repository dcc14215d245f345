package containerd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func benchLogFile(b *testing.B, newlines bool) string {
	b.Helper()
	line := bytes.Repeat([]byte("x"), 99)
	if newlines {
		line = append(line, '\n')
	} else {
		line = append(line, 'y')
	}
	data := bytes.Repeat(line, (10<<20)/len(line))
	p := filepath.Join(b.TempDir(), "c.log")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkTailFile(b *testing.B) {
	for _, c := range []struct {
		name     string
		newlines bool
		n        int
	}{
		{"lines/tail=1", true, 1},
		{"lines/tail=1000", true, 1000},
		{"lines/all", true, 0},
		{"nonewline/tail=1", false, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := benchLogFile(b, c.newlines)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, _, err := tailFile(p, c.n, maxTailBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
