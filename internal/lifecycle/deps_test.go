package lifecycle

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package pure: standard library and internal/core only.
func TestImports(t *testing.T) {
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]bool{"os": true, "os/exec": true, "net": true, "net/http": true, "math/rand": true, "math/rand/v2": true, "sync": true}
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case path == "github.com/openkci/openkci/internal/core":
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: only the standard library and internal/core are allowed", name, path)
			case banned[path]:
				t.Errorf("%s imports %s: lifecycle does no I/O, concurrency or randomness", name, path)
			}
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "time.Now(") || strings.Contains(string(src), "time.Since(") {
			t.Errorf("%s reads the clock: pass now in", name)
		}
	}
}
