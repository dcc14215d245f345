package testenv

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// FakeGPU makes a character device dir/name with /dev/null's numbers
// (1:3), which stands for a GPU in kcid's node.gpus.devices: a container
// given it can open it, and writing to it is harmless. Needs root.
func FakeGPU(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod %s: %v", p, err)
	}
	return p
}
