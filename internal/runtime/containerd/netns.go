package containerd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Network namespaces are bind-mounted files with deterministic names
// (<NetNSDir>/<namespace>-<group>) so that teardown after a crash can find
// them from the group ID alone, and `ip netns` shows them.

// createNetNS creates a new network namespace pinned at path. It fails if
// path exists.
func createNetNS(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = unix.Unmount(path, unix.MNT_DETACH)
			os.Remove(path)
		}
	}()

	return inNamespace(unix.CLONE_NEWNET, "", func() error {
		if err := setLoopbackUp(); err != nil {
			return err
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount netns at %s: %w", path, err)
		}
		return nil
	})
}

// setLoopbackUp brings up lo in the calling thread's network namespace.
// A new namespace's lo is down, and the bridge plugin only sets up the
// group's eth0: without this, 127.0.0.1 is unreachable inside a group,
// so containers of one group could not talk over localhost (as pods do)
// and probes run from inside the namespace could not dial it.
func setLoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: set flags: %w", err)
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// removeNetNS unmounts and removes the namespace file. It is idempotent.
func removeNetNS(path string) error {
	for isNetNS(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount netns %s: %w", path, err)
		} else if err != nil {
			break
		}
	}
	err := os.Remove(path)
	if errors.Is(err, unix.EBUSY) {
		err = removeHiddenPin(path)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// removeHiddenPin removes a pin whose mount another mount hides
// (reliability defect 7). `ip netns add` (and anything else that does
// what it does) bind-mounts the pin directory onto itself, recursively,
// when it is not a mount point yet: each pin then has a visible copy
// on the new mount and its original under it, out of reach of any path.
// The path's unmount takes the copy; the hidden original keeps the file a
// mount point, so its removal fails with EBUSY for good.
//
// The way out is a private mount namespace of one thread: there the
// covering mounts are detached (privately: nothing propagates back), the
// original pin is reachable and unmounted, and the file is removed; the
// kernel then detaches the mounts on the removed file in every other
// mount namespace, the hidden original included.
func removeHiddenPin(path string) error {
	return inNamespace(unix.CLONE_NEWNS, "", func() error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make mounts private: %w", err)
		}
		dir := filepath.Dir(path)
		for i := 0; i < 16; i++ {
			err := os.Remove(path)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if !errors.Is(err, unix.EBUSY) {
				return err
			}
			if isNetNS(path) {
				_ = unix.Unmount(path, unix.MNT_DETACH)
				continue
			}
			// A mount over the directory hides the pin: detach it here.
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("remove %s: busy, and nothing covers %s (%v)", path, dir, err)
			}
		}
		return fmt.Errorf("remove %s: still busy", path)
	})
}
