package containerd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/core"
)

// TestHostNFS: NFSVolumes are refused, with the reason, on a host whose
// kernel lists no NFS file system; the check reads the kernel's list.
func TestHostNFS(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		kernelOK      bool
	}{
		{"no nfs", "nodev\tsysfs\nnodev\ttmpfs\n\text4\n", false},
		{"nfs", "nodev\tsysfs\nnodev\tnfs\n\text4\n", true},
		{"nfs4 only", "nodev\tnfs4\n", true},
		{"nfsd is not a client", "nodev\tnfsd\n", false},
	} {
		f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(f, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		err := hostNFS(f)
		kernelRefused := err != nil && strings.Contains(err.Error(), "has no NFS client")
		if kernelRefused == tc.kernelOK {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := hostNFS(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "cannot tell") {
		t.Errorf("unreadable list: %v", err)
	}
	// This host, as New checks it.
	b, _ := os.ReadFile("/proc/filesystems")
	if err := hostNFS("/proc/filesystems"); !strings.Contains(string(b), "\tnfs") && (err == nil || !strings.Contains(err.Error(), "has no NFS client")) {
		t.Errorf("this host's kernel lists no nfs, but hostNFS says %v", err)
	}
}

func TestNFSSource(t *testing.T) {
	for _, tc := range []struct{ server, path, want string }{
		{"10.0.0.5", "/exports", "10.0.0.5:/exports"},
		{"nfs.example.com", "/", "nfs.example.com:/"},
		{"fd00::5", "/x", "[fd00::5]:/x"},
	} {
		if got := nfsSource(&core.NFSVolume{Server: tc.server, Path: tc.path}); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.server, tc.path, got, tc.want)
		}
	}
}
