package containerd

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace threads. Everything kcid does inside another namespace — a
// group's netns being made (createNetNS), its security-group rules being
// applied (applyFirewall), a hidden netns pin being removed in a private
// mount namespace (removeHiddenPin) — runs through inNamespace, on an OS
// thread locked for it. Three rules keep the rest of kcid in its own
// namespaces (docs/host.md, "Namespace threads"):
//
//   - The thread is never the process's main thread. Go ends a goroutine's
//     locked thread when the goroutine returns without unlocking it, except
//     the main thread, which it parks for good; /proc/self is the main
//     thread's, so a main thread left in a group's netns or a private mount
//     namespace skews every later read of /proc/self (a stale mount table
//     once made teardown miss disks), and keeps a deleted group's netns
//     alive.
//   - The thread goes back to the namespace it had before fn returns to
//     the caller.
//   - The thread is unlocked (returned to Go's pool) only when it is back
//     and nothing else about it changed; otherwise it stays locked and
//     ends with its goroutine. Entering a mount namespace unshares the
//     thread's root and working directory from the process (CLONE_FS),
//     which a setns back cannot undo: such a thread always ends.

// nsFiles names the /proc/thread-self/ns file of each namespace type
// inNamespace enters.
var nsFiles = map[int]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWNS: "mnt"}

// inNamespace runs fn on a locked OS thread of its own inside a namespace
// of type nstype (unix.CLONE_NEWNET or unix.CLONE_NEWNS): the one pinned
// at path (setns), or a new one when path is "" (unshare). See the rules
// above.
func inNamespace(nstype int, path string, fn func() error) error {
	var target *os.File
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s namespace %s: %w", nsFiles[nstype], path, err)
		}
		defer f.Close()
		target = f
	}
	errc := make(chan error, 1)
	go namespaceThread(nstype, target, fn, errc)
	return <-errc
}

// namespaceThread is inNamespace's goroutine: it locks its thread, steps
// off the main thread, runs fn in the namespace and sends fn's error (or
// the entry's or the return's) on errc.
func namespaceThread(nstype int, target *os.File, fn func() error, errc chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread: start again on another goroutine and leave
		// this one locked, so that the main thread, untouched, is parked
		// and the new goroutine cannot land on it.
		go namespaceThread(nstype, target, fn, errc)
		return
	}
	reusable, err := inNamespaceLocked(nstype, target, fn)
	if reusable {
		runtime.UnlockOSThread()
	}
	errc <- err
}

// inNamespaceLocked runs fn in the namespace on the calling goroutine,
// whose thread must be locked and not the main thread, and returns the
// thread to the namespace it had. It reports whether the thread may go
// back to Go's pool: it is back and nothing else about it changed.
func inNamespaceLocked(nstype int, target *os.File, fn func() error) (reusable bool, err error) {
	name := nsFiles[nstype]
	orig, err := os.Open("/proc/thread-self/ns/" + name)
	if err != nil {
		return true, fmt.Errorf("%s namespace of this thread: %w", name, err)
	}
	defer orig.Close()
	if nstype == unix.CLONE_NEWNS {
		// setns into a mount namespace needs a thread with a root and
		// working directory of its own (unshare of one implies it).
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return false, fmt.Errorf("unshare the thread's file system attributes: %w", err)
		}
	}
	if target == nil {
		err = unix.Unshare(nstype)
	} else {
		err = unix.Setns(int(target.Fd()), nstype)
	}
	if err != nil {
		how := "unshare"
		if target != nil {
			how = "enter " + target.Name() + ":"
		}
		return nstype != unix.CLONE_NEWNS, fmt.Errorf("%s %s namespace: %w", how, name, err)
	}
	err = fn()
	if e := unix.Setns(int(orig.Fd()), nstype); e != nil {
		return false, errors.Join(err, fmt.Errorf("return to the %s namespace the thread had: %w", name, e))
	}
	return nstype != unix.CLONE_NEWNS, err
}
