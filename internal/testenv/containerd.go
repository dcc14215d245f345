package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SystemContainerdAddress is where the system containerd (the one that
// hack/start-containerd.sh starts) listens.
const SystemContainerdAddress = "/run/containerd/containerd.sock"

var (
	containerdOnce sync.Once
	containerdAddr string
	containerdErr  error // why containerd cannot be had
)

// Containerd returns the address (a unix socket path) of a running
// containerd: $KCI_CONTAINERD_ADDRESS if set (it must answer), else the
// system one on /run/containerd/containerd.sock if it answers, else a
// private containerd started for this test process (root, state and socket
// in a temporary directory, its own config with the CRI plugin disabled),
// stopped by Main/Cleanup. Set KCI_TESTENV_PRIVATE_CONTAINERD=1 to always use
// a private one.
//
// If containerd cannot be had the test is skipped, or fails when CI=true.
func Containerd(t testing.TB) string {
	t.Helper()
	containerdOnce.Do(func() {
		containerdAddr, containerdErr = findContainerd()
	})
	if containerdErr != nil {
		SkipOrFatal(t, "containerd unavailable: %v", containerdErr)
	}
	return containerdAddr
}

func findContainerd() (string, error) {
	if _, err := exec.LookPath("ctr"); err != nil {
		return "", fmt.Errorf("ctr not found (install containerd): %w", err)
	}
	if addr := os.Getenv("KCI_CONTAINERD_ADDRESS"); addr != "" {
		if err := containerdAnswers(addr); err != nil {
			return "", fmt.Errorf("$KCI_CONTAINERD_ADDRESS=%s: %w", addr, err)
		}
		return addr, nil
	}
	if os.Getenv("KCI_TESTENV_PRIVATE_CONTAINERD") != "1" {
		if containerdAnswers(SystemContainerdAddress) == nil {
			return SystemContainerdAddress, nil
		}
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("no containerd answers on %s and starting one needs root", SystemContainerdAddress)
	}
	return startPrivateContainerd()
}

// containerdAnswers checks that a containerd serves on addr. The socket is
// looked at first: ctr retries for a long time on a missing one.
func containerdAnswers(addr string) error {
	fi, err := os.Stat(addr)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s is not a socket", addr)
	}
	_, err = run(context.Background(), 5*time.Second, "ctr", "--address", addr, "version")
	return err
}

const privateContainerdConfig = `version = 2
root = %[1]q
state = %[2]q
# The CRI plugin is of no use to OpenKCI and only logs CNI errors.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = %[5]q
  level = "info"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[6]q
`

func startPrivateContainerd() (string, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return "", fmt.Errorf("containerd not found (install containerd): %w", err)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "", fmt.Errorf("runc not found (install runc): %w", err)
	}
	// Short path: unix socket paths are limited to 108 bytes.
	dir, err := makeDir("openkci-ctrd-")
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "containerd.sock")
	cfg := fmt.Sprintf(privateContainerdConfig,
		filepath.Join(dir, "root"), filepath.Join(dir, "state"),
		sock, sock+".ttrpc", filepath.Join(dir, "debug.sock"),
		filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	d, err := startDaemon("containerd", filepath.Join(dir, "containerd.log"),
		[]string{bin, "--config", cfgPath}, os.Environ())
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	addCleanup(func() { stopPrivateContainerd(d, dir, sock) })

	deadline := time.Now().Add(30 * time.Second)
	for {
		if d.exited() {
			return "", fmt.Errorf("private containerd exited (%v); log %s:\n%s", d.err, d.log, d.logTail(30))
		}
		if containerdAnswers(sock) == nil {
			return sock, nil
		}
		if time.Now().After(deadline) {
			d.stop(5 * time.Second)
			return "", fmt.Errorf("private containerd did not answer on %s within 30s; log %s:\n%s", sock, d.log, d.logTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopPrivateContainerd kills what tests left running in it (so no shim
// outlives it), stops it, unmounts what is left under its directory and
// removes the directory.
func stopPrivateContainerd(d *daemon, dir, sock string) {
	if !d.exited() {
		ctx := context.Background()
		if out, err := run(ctx, 5*time.Second, "ctr", "--address", sock, "namespaces", "ls", "-q"); err == nil {
			for _, ns := range lines(out) {
				removeAllContainers(ctx, sock, ns)
			}
		}
	}
	d.stop(10 * time.Second)
	for _, m := range MountsUnderDir(dir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	if keepDirs() {
		fmt.Fprintf(os.Stderr, "testenv: kept private containerd directory %s\n", dir)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: removing %s: %v\n", dir, err)
	}
}

// removeAllContainers kills and deletes every task and container of the
// namespace, best effort.
func removeAllContainers(ctx context.Context, addr, ns string) {
	out, err := run(ctx, 10*time.Second, "ctr", "--address", addr, "-n", ns, "containers", "ls", "-q")
	if err != nil {
		return
	}
	for _, id := range lines(out) {
		removeContainer(ctx, addr, ns, id)
	}
}

// removeContainer kills and deletes the container's task, then the
// container (and its snapshot), best effort.
func removeContainer(ctx context.Context, addr, ns, id string) {
	ctr := func(args ...string) error {
		_, err := run(ctx, 10*time.Second, "ctr", append([]string{"--address", addr, "-n", ns}, args...)...)
		return err
	}
	if ctr("tasks", "kill", "-a", "-s", "SIGKILL", id) == nil {
		// delete fails while the task is still dying: retry briefly.
		for i := 0; i < 20; i++ {
			if ctr("tasks", "delete", "-f", id) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	} else {
		_ = ctr("tasks", "delete", "-f", id) // a created or stopped task
	}
	_ = ctr("containers", "delete", id)
}

// RemoveContainer kills and deletes the containerd task and container id
// of the namespace, best effort (no error if they do not exist); handy in
// a t.Cleanup.
func RemoveContainer(addr, ns, id string) {
	removeContainer(context.Background(), addr, ns, id)
}

// Ctr runs `ctr --address addr -n ns args...` with a 2-minute timeout and
// returns its standard output; it fails the test on error.
func Ctr(t testing.TB, addr, ns string, args ...string) string {
	t.Helper()
	out, err := CtrE(addr, ns, args...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return out
}

// CtrE is Ctr returning the error (which includes ctr's stderr).
func CtrE(addr, ns string, args ...string) (string, error) {
	full := append([]string{"--address", addr, "-n", ns}, args...)
	return run(context.Background(), 2*time.Minute, "ctr", full...)
}

// ContainerdContainers lists the IDs of the containerd containers in the
// namespace.
func ContainerdContainers(t testing.TB, addr, ns string) []string {
	t.Helper()
	return lines(Ctr(t, addr, ns, "containers", "ls", "-q"))
}

// ContainerdTasks lists the IDs of the containerd tasks in the namespace.
func ContainerdTasks(t testing.TB, addr, ns string) []string {
	t.Helper()
	return lines(Ctr(t, addr, ns, "tasks", "ls", "-q"))
}

// ContainerdImages lists the image names in the namespace.
func ContainerdImages(t testing.TB, addr, ns string) []string {
	t.Helper()
	return lines(Ctr(t, addr, ns, "images", "ls", "-q"))
}

// ContainerdSnapshots lists the snapshot keys of the snapshotter ("" for
// overlayfs) in the namespace.
func ContainerdSnapshots(t testing.TB, addr, ns, snapshotter string) []string {
	t.Helper()
	if snapshotter == "" {
		snapshotter = "overlayfs"
	}
	out := Ctr(t, addr, ns, "snapshots", "--snapshotter", snapshotter, "ls")
	var keys []string
	for i, l := range lines(out) {
		if i == 0 && strings.HasPrefix(l, "KEY") {
			continue
		}
		if f := strings.Fields(l); len(f) > 0 {
			keys = append(keys, f[0])
		}
	}
	return keys
}

// CleanNamespace kills and deletes every task and container in the
// namespace, best effort. Test processes run in parallel (go test runs
// packages at once) and share the system containerd: give each package a
// namespace of its own before cleaning it whole.
func CleanNamespace(addr, ns string) {
	removeAllContainers(context.Background(), addr, ns)
}

// NetNSList lists the names of the named network namespaces (as `ip netns
// list` shows them, i.e. the entries of /run/netns).
func NetNSList(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Mounts returns the mount points of this process's mount namespace, from
// /proc/thread-self/mountinfo (the calling thread's: the main thread may be
// elsewhere), in mount order.
func Mounts(t testing.TB) []string {
	t.Helper()
	ms, err := readMountPoints()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return ms
}

// MountsUnder returns the mount points at or below dir.
func MountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	if _, err := readMountPoints(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return MountsUnderDir(dir)
}

// MountsUnderDir is MountsUnder without a test: nil on error. The deepest
// mounts come first, the order to unmount them in.
func MountsUnderDir(dir string) []string {
	ms, err := readMountPoints()
	if err != nil {
		return nil
	}
	dir = filepath.Clean(dir)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	var out []string
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m == dir || strings.HasPrefix(m, dir+"/") || dir == "/" {
			out = append(out, m)
		}
	}
	return out
}

func readMountPoints() ([]string, error) {
	ms, err := ReadMounts()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Point
	}
	return out, nil
}

// Mount is one line of /proc/thread-self/mountinfo.
type Mount struct {
	Point  string // where it is mounted
	Source string // what: a device (/dev/loop3), overlay, tmpfs, ...
}

// ReadMounts lists the mounts of this process's mount namespace, in
// mount order.
func ReadMounts() ([]Mount, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		m := Mount{Point: unescapeMountinfo(f[4])}
		// Optional fields end with "-", then fstype and source.
		for i := 5; i+2 < len(f); i++ {
			if f[i] == "-" {
				m.Source = unescapeMountinfo(f[i+2])
				break
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space, ...) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			o := s[i+1 : i+4]
			if len(o) == 3 && o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7' {
				b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// LoopDevice is an attached loop device.
type LoopDevice struct {
	Name        string // /dev/loopN
	BackingFile string
}

// LoopDevices lists the attached loop devices (`losetup --list`).
func LoopDevices(t testing.TB) []LoopDevice {
	t.Helper()
	devs, err := ListLoopDevices()
	if err != nil {
		SkipOrFatal(t, "%v", err)
	}
	return devs
}

// ListLoopDevices is LoopDevices for programs (no testing.TB).
func ListLoopDevices() ([]LoopDevice, error) {
	out, err := run(context.Background(), 10*time.Second, "losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-FILE")
	if err != nil {
		return nil, fmt.Errorf("losetup: %w", err)
	}
	var devs []LoopDevice
	for _, l := range lines(out) {
		name, back, _ := strings.Cut(l, " ")
		devs = append(devs, LoopDevice{Name: name, BackingFile: unescapeRaw(back)})
	}
	return devs, nil
}

// LoopDevicesBackedUnder returns the loop devices whose backing file is at
// or below dir.
func LoopDevicesBackedUnder(t testing.TB, dir string) []LoopDevice {
	t.Helper()
	dir = filepath.Clean(dir)
	var out []LoopDevice
	for _, d := range LoopDevices(t) {
		b := strings.TrimSuffix(d.BackingFile, " (deleted)")
		if b == dir || strings.HasPrefix(b, dir+"/") {
			out = append(out, d)
		}
	}
	return out
}

// unescapeRaw undoes losetup --raw's \xHH escapes.
func unescapeRaw(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			var v byte
			if _, err := fmt.Sscanf(s[i+2:i+4], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
