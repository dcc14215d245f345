package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/errdefs/pkg/errgrpc"
)

// Stray shims (reliability defects 2 and 3; docs/host.md).
//
// containerd starts a shim (containerd-shim-runc-v2) for each task, in a
// bundle directory named after the container ID
// (<containerd state>/io.containerd.runtime.v2.task/<namespace>/<id>),
// and then asks it to create the task. If the client that asked for the
// task dies in between (kcid is SIGKILLed), containerd gives up on the
// request and cleans up, but its clean-up can lose a race with the shim's
// create: the shim lives on, often with a `runc init` in the container's
// cgroup, while containerd lists no task, and nothing in containerd ever
// removes it. If containerd itself dies in that window, the next
// containerd re-adopts the shim from its bundle though the shim holds no
// container: Get and Delete say "not found" while Create says "already
// exists".
//
// A shim of this runtime's namespace and containerd address whose
// container containerd shows no task for, and that has run for
// strayMinAge, is a stray. Before a container's task is created, when a
// container is deleted, at Sync and every ResyncInterval for containers
// of groups without a worker, strays are removed: the task is deleted
// through containerd (which drops a shim it re-adopted), the shim's own
// `delete` action removes the runc container (killing its `runc init`)
// and unmounts the rootfs, the shim is killed, and its bundle is left to
// containerd's clean-up for a moment and then removed.

// shimProc is a containerd shim process of this host.
type shimProc struct {
	pid       int
	exe       string // its executable
	namespace string // -namespace
	id        string // -id: the container ID
	address   string // -address: containerd's socket
	bundle    string // its working directory: the task's bundle
}

// shimComm is what /proc/<pid>/comm holds for containerd's shims (the
// name is cut at 15 bytes).
const shimComm = "containerd-shim"

// findShims lists the shims of containerd namespace ns on containerd's
// socket address.
func findShims(ns, address string) []shimProc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	address = socketPath(address)
	var out []shimProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if !strings.HasPrefix(procName(pid), shimComm) {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		// The daemon has no action; `start` and `delete` are short-lived
		// runs of the binary (containerd's own clean-up among them).
		if last := argv[len(argv)-1]; last == "start" || last == "delete" {
			continue
		}
		s := parseShimArgs(argv)
		if s.namespace != ns || socketPath(s.address) != address || s.id == "" {
			continue
		}
		s.pid = pid
		s.exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		// A bundle containerd already removed reads "<path> (deleted)".
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if !strings.HasSuffix(cwd, " (deleted)") {
			s.bundle = cwd
		}
		out = append(out, s)
	}
	return out
}

// parseShimArgs reads a shim's command line: flags -namespace, -id and
// -address, as "-flag value" or "-flag=value", with one or two dashes.
func parseShimArgs(argv []string) shimProc {
	var s shimProc
	for i := 1; i < len(argv); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(argv[i], "-"), "=")
		if !strings.HasPrefix(argv[i], "-") {
			continue
		}
		if !hasVal && i+1 < len(argv) {
			val = argv[i+1]
		}
		switch name {
		case "namespace":
			s.namespace = val
		case "id":
			s.id = val
		case "address":
			s.address = val
		}
	}
	return s
}

// socketPath is a containerd address as a clean file path.
func socketPath(address string) string {
	return filepath.Clean(strings.TrimPrefix(address, "unix://"))
}

// errTaskAppeared: a shim found with no task was one containerd was
// still creating the task of; it lists the task now.
var errTaskAppeared = errors.New("containerd lists the task now")

// strayMinAge is how long a shim without a task must have run before it
// is taken for a stray: containerd may still be creating its task for a
// client that is gone (a killed kcid), and then lists the task or cleans
// the shim up itself within about a second. Killing such a shim races
// with that clean-up, which removes the bundle by path, the next task's
// included. A variable for tests.
var strayMinAge = 5 * time.Second

// removeStrayShims removes the stray shims of container ctrID (see
// above), waiting for a young one to become a task or a stray; it returns
// errTaskAppeared if containerd lists a task for ctrID meanwhile. Call it
// with the container's group locked (Start and Remove are serialised per
// group).
func (r *Runtime) removeStrayShims(ctx context.Context, ctrID string) error {
	for {
		var shims []shimProc
		young := false
		for _, s := range findShims(r.cfg.Namespace, r.cfg.Address) {
			if s.id == ctrID {
				shims = append(shims, s)
				young = young || procAge(s.pid) < strayMinAge
			}
		}
		if len(shims) == 0 {
			return nil
		}
		if !young {
			return r.removeShims(ctx, shims)
		}
		_, err := r.client.TaskService().Get(r.nsCtx(ctx), &tasks.GetRequest{ContainerID: ctrID})
		if err == nil {
			return errTaskAppeared
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// shimExitWait is how long a shim gets to exit by itself after its task
// was deleted.
const shimExitWait = 2 * time.Second

// reapShims makes sure no shim of container ctrID outlives its task, which
// was just deleted: a shim normally exits then, but one whose delete was
// cut short (the worker's context cancelled by a group delete, in the
// chaos run) stays with no task. After shimExitWait, what is left is
// removed as a stray, whatever its age: nothing creates a task for ctrID
// while its group is locked.
func (r *Runtime) reapShims(ctx context.Context, ctrID string) error {
	for deadline := time.Now().Add(shimExitWait); ; time.Sleep(50 * time.Millisecond) {
		var shims []shimProc
		for _, s := range findShims(r.cfg.Namespace, r.cfg.Address) {
			if s.id == ctrID {
				shims = append(shims, s)
			}
		}
		if len(shims) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return r.removeShims(ctx, shims)
		}
	}
}

// procAge is how long process pid has run (0 if it is gone).
func procAge(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	// After "pid (comm)": state is field 3, starttime field 22 (in clock
	// ticks since boot; USER_HZ is 100 on Linux).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0
	}
	start, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return 0
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	secs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return 0
	}
	return time.Duration(secs*float64(time.Second)) - time.Duration(start)*(time.Second/100)
}

// removeShims removes shims that containerd shows no task for.
func (r *Runtime) removeShims(ctx context.Context, shims []shimProc) error {
	ctx = r.nsCtx(ctx)
	var errs []error
	for _, s := range shims {
		_, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: s.id})
		err = errgrpc.ToNative(err)
		if err == nil {
			continue // a task containerd knows: not a stray
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !isNotFound(err) {
			errs = append(errs, fmt.Errorf("task of %s: %w", s.id, err))
			continue
		}
		r.log.Warn("removing a stray shim (a task containerd lists no more)", "container", s.id, "pid", s.pid, "bundle", s.bundle)
		// A shim containerd re-adopted after its own restart is dropped
		// by a task delete; one it never adopted is not known to it.
		_, _ = r.client.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: s.id})
		if err := removeShim(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("stray shim of %s (pid %d): %w", s.id, s.pid, err))
		}
	}
	return errors.Join(errs...)
}

// removeShim undoes what a shim holds, the way containerd cleans up after
// a shim that died: the shim binary's `delete` action in the bundle
// (runc delete --force, rootfs unmounted), then the process is killed
// and the bundle, its work directory and the shim's socket are removed.
func removeShim(ctx context.Context, s shimProc) error {
	if fi, err := os.Stat(s.bundle); err == nil && fi.IsDir() && s.exe != "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cmd := exec.CommandContext(cctx, s.exe, "-namespace", s.namespace, "-address", s.address,
			"-publish-binary", "containerd", "-id", s.id, "-bundle", s.bundle, "delete")
		cmd.Dir = s.bundle
		_ = cmd.Run() // best effort: what it leaves is removed below
		cancel()
	}
	if err := killAndWait(s.pid, 5*time.Second); err != nil {
		return err
	}
	return awaitBundleRemoval(s.bundle)
}

// bundleCleanupWait is how long containerd's own clean-up of a shim that
// died gets to remove its bundle before kcid does.
const bundleCleanupWait = 5 * time.Second

// awaitBundleRemoval waits for containerd to remove a bundle it cleans up
// after a shim that died (it does so for every shim it was connected to),
// and removes the bundle itself when containerd does not: removing it
// first would race with containerd's clean-up, which deletes whatever
// bundle is at that path by then, the next task's included.
func awaitBundleRemoval(bundle string) error {
	if bundle == "" {
		return nil
	}
	for deadline := time.Now().Add(bundleCleanupWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(bundle); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	return removeBundle(bundle)
}

// killAndWait SIGKILLs pid and waits until it is gone (a zombie counts as
// gone: its parent reaps it).
func killAndWait(pid int, timeout time.Duration) error {
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		// pid (comm) state ...: the state follows the last ')'.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not die after SIGKILL", pid)
		}
	}
}

// removeBundle removes a task's bundle directory: what is mounted under
// it, its work directory (the "work" link into containerd's root), the
// shim's socket named in its "address" file, and the directory itself.
func removeBundle(bundle string) error {
	if bundle == "" || !filepath.IsAbs(bundle) {
		return nil
	}
	if b, err := os.ReadFile(filepath.Join(bundle, "address")); err == nil {
		if sock := strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://"); filepath.IsAbs(sock) {
			_ = os.Remove(sock)
		}
	}
	if work, err := os.Readlink(filepath.Join(bundle, "work")); err == nil && filepath.IsAbs(work) {
		if err := os.RemoveAll(work); err != nil {
			return err
		}
	}
	if err := unmountAll(bundle); err != nil {
		return err
	}
	return os.RemoveAll(bundle)
}

// sweepStrayShims removes the stray shims of containers of groups that
// have no worker in this runtime (a worker removes its own strays before
// each task it creates).
func (r *Runtime) sweepStrayShims(ctx context.Context) {
	shims := findShims(r.cfg.Namespace, r.cfg.Address)
	if len(shims) == 0 {
		return
	}
	r.mu.Lock()
	var strays []shimProc
	for _, s := range shims {
		owned := false
		for id := range r.groups {
			if strings.HasPrefix(s.id, id+"_") {
				owned = true
				break
			}
		}
		if !owned {
			strays = append(strays, s)
		}
	}
	r.mu.Unlock()
	for _, s := range strays {
		if err := r.removeStrayShims(ctx, s.id); err != nil && !errors.Is(err, errTaskAppeared) {
			r.log.Error("could not remove a stray shim", "container", s.id, "pid", s.pid, "err", err)
		}
	}
}

// testRuncBinary, set by tests, is the runc the shims run instead of
// runc from PATH (a wrapper that stops at `runc create`, to hold a task's
// creation open while kcid or containerd is killed).
var testRuncBinary string

// runtimeOptions are the runc shim's options of every task: none, but
// for tests.
func runtimeOptions() any {
	if testRuncBinary == "" {
		return nil
	}
	return &options.Options{BinaryName: testRuncBinary}
}

// bundleTaskDir is the directory of containerd's v2 runtime that holds
// the task bundles, one directory per namespace.
const bundleTaskDir = "io.containerd.runtime.v2.task"

// removeLeftoverBundle handles a task create that failed because the
// container's bundle directory still exists (`failed to start shim: mkdir
// <state>/io.containerd.runtime.v2.task/<namespace>/<id>: file exists`):
// a shim of an earlier attempt, abandoned when kcid was killed, has just
// died and containerd's clean-up of it has not finished yet, or never
// will. It removes a stray shim of the container, waits a moment for
// containerd's clean-up, then removes the bundle itself, and reports
// whether the create is worth one more try at once (instead of the
// restart back-off, which made such starts ~9 s slower). Only the bundle
// of ctrID in this runtime's namespace is ever touched.
func (r *Runtime) removeLeftoverBundle(ctx context.Context, ctrID string, createErr error) bool {
	msg := createErr.Error()
	i := strings.Index(msg, "mkdir /")
	j := strings.LastIndex(msg, ": file exists")
	if i < 0 || j < i {
		return false
	}
	bundle := filepath.Clean(msg[i+len("mkdir ") : j])
	if filepath.Base(bundle) != ctrID || filepath.Base(filepath.Dir(bundle)) != r.cfg.Namespace ||
		filepath.Base(filepath.Dir(filepath.Dir(bundle))) != bundleTaskDir {
		return false
	}
	if err := r.removeStrayShims(ctx, ctrID); err != nil {
		r.log.Warn("leftover task bundle", "container", ctrID, "bundle", bundle, "err", err)
		return false
	}
	r.log.Warn("a task bundle is in the way of a new task: waiting for containerd's clean-up, then removing it", "container", ctrID, "bundle", bundle)
	if err := awaitBundleRemoval(bundle); err != nil {
		r.log.Error("could not remove a leftover task bundle", "container", ctrID, "bundle", bundle, "err", err)
		return false
	}
	return true
}
