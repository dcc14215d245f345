package arch

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/testenv"
)

const module = "github.com/openkci/openkci/"

// goTool is the go command of the toolchain running the tests.
var goTool = filepath.Join(runtime.GOROOT(), "bin", "go")

// pkgDeps maps every package of the module (tests excluded) to its
// transitive imports, as `go list -deps` sees them.
func pkgDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command(goTool, "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", module+"...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[strings.TrimPrefix(f[0], module)] = f[1:]
	}
	return deps
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLayering keeps the dependency arrows of docs/architecture.md true:
// the API edge knows the service, the service knows domain types and the
// interfaces it declares, and only the composition roots (cmd/, internal/app)
// know concrete stores and runtimes.
func TestLayering(t *testing.T) {
	rules := []struct {
		pkg       string // a package, or a prefix ending in "/"
		forbidden []string
		why       string
	}{
		{"internal/core", []string{"internal/", "net/http"}, "domain types depend on nothing of ours (but errdefs/clock, allowed below)"},
		{"internal/errdefs", []string{"internal/", "net/http"}, "error classes are a leaf"},
		{"internal/clock", []string{"internal/"}, "the clock is a leaf"},
		{"internal/version", []string{"internal/"}, "the version is a leaf"},
		{"internal/lifecycle", []string{"internal/store", "internal/runtime/", "internal/service", "internal/api", "net/http"}, "the state machine is pure"},
		{"internal/service", []string{"internal/store", "internal/runtime/", "internal/api", "internal/app", "internal/config", "net/http"}, "the service sees stores and runtimes only through the interfaces it declares"},
		{"internal/api", []string{"internal/runtime/", "internal/store", "internal/app", "internal/supervisor"}, "the HTTP edge talks to the service only"},
		{"internal/store", []string{"internal/runtime/", "internal/service", "internal/api", "internal/app"}, "the embedded store knows records, not users of them"},
		{"internal/runtime/containerd", []string{"internal/api", "internal/store", "internal/app", "internal/runtime/kube"}, "a runtime knows the domain, not the edge or the other runtime"},
		{"internal/runtime/kube", []string{"internal/api", "internal/store", "internal/app", "internal/runtime/containerd"}, "a runtime knows the domain, not the edge or the other runtime"},
		{"internal/imagecache", []string{"internal/store", "internal/runtime/", "internal/service", "internal/api", "internal/app", "net/http"}, "image caches see stores and runtimes only through the interfaces they declare"},
		{"internal/exec", []string{"internal/runtime/", "internal/store", "internal/app", "internal/api"}, "exec sessions run commands through the service"},
		{"internal/auth", []string{"internal/"}, "signature checking is self-contained"},
		{"internal/console", []string{"internal/"}, "the console is static files; it reaches kcid only through the API, from the browser"},
		{"pkg/", []string{"internal/"}, "public packages cannot expose internal ones"},
		{"internal/kcictl", []string{"internal/api", "internal/service", "internal/store", "internal/runtime/", "internal/app"}, "kcictl is an API client (through pkg/kci)"},
		{"internal/vkprovider", []string{"internal/api", "internal/service", "internal/store", "internal/runtime/", "internal/app", "internal/kcictl"}, "the virtual kubelet speaks only the public API (pkg/kci), so it serves Kingsoft Cloud too"},
	}
	allowedLeaf := map[string]bool{"internal/errdefs": true, "internal/clock": true}
	deps := pkgDeps(t)
	if len(deps) < 10 {
		t.Fatalf("go list found only %d packages", len(deps))
	}
	matched := map[string]bool{}
	for pkg, ds := range deps {
		for _, r := range rules {
			if !(pkg == r.pkg || strings.HasSuffix(r.pkg, "/") && strings.HasPrefix(pkg, r.pkg)) {
				continue
			}
			if strings.HasPrefix(pkg, "internal/kcictl/kcidtest") {
				continue // an in-process kcid for kcictl's tests
			}
			matched[r.pkg] = true
			for _, d := range ds {
				if !strings.HasPrefix(d, module) && !strings.Contains(d, ".") && strings.HasPrefix(d, "internal/") {
					continue // the standard library's own internal packages
				}
				d := strings.TrimPrefix(d, module)
				if d == pkg || r.pkg == "internal/core" && allowedLeaf[d] {
					continue
				}
				for _, f := range r.forbidden {
					if d == f || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f) {
						t.Errorf("%s imports %s: %s", pkg, d, r.why)
					}
				}
			}
		}
	}
	for _, r := range rules {
		if !matched[r.pkg] {
			t.Errorf("rule for %s matched no package: the layout changed, update the rule", r.pkg)
		}
	}
}

// TestPackageDocs: every package says what it owns.
func TestPackageDocs(t *testing.T) {
	root := repoRoot(t)
	for pkg := range pkgDeps(t) {
		dir := filepath.Join(root, pkg)
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		documented := false
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				documented = true
				break
			}
		}
		if !documented {
			t.Errorf("package %s has no package comment: say what it owns", pkg)
		}
	}
}

// TestMakeBuildStampsVersion: `make build` puts one version into both
// binaries.
func TestMakeBuildStampsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	if _, err := exec.LookPath("make"); err != nil {
		testenv.SkipOrFatal(t, "make not installed: %v", err)
	}
	bin := t.TempDir()
	const want = "v0.0.0-archtest"
	cmd := exec.Command("make", "build", "BIN="+bin, "VERSION="+want, "GO="+goTool)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, b := range []string{"kcid", "kcictl"} {
		out, err := exec.Command(filepath.Join(bin, b), "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", b, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != b+" "+want {
			t.Errorf("%s version printed %q, want %q", b, got, b+" "+want)
		}
	}
}
