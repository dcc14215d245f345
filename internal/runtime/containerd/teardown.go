package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containernetworking/cni/libcni"

	"github.com/openkci/openkci/internal/core"
)

func (r *Runtime) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// teardown releases everything of group id, in the reverse order of
// creation: containers (SIGTERM, SIGKILL after the grace period), CNI,
// netns, cgroups, files, the state file last. Each step is idempotent, so
// a teardown interrupted by a crash is finished by the next one. spec, if
// known, helps when the state file is gone.
func (r *Runtime) teardown(ctx context.Context, id string, spec *core.Group) error {
	ctx = r.nsCtx(ctx)
	if err := step(id, "containers"); err != nil {
		return err
	}
	var errs []error
	cs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", labelGroup, id))
	if err != nil {
		return fmt.Errorf("list containers of %s: %w", id, err)
	}
	ids := map[string]bool{}
	for _, c := range cs {
		ids[c.ID()] = true
	}
	if spec != nil {
		for _, c := range spec.AllContainers() {
			ids[ctrID(id, c.Name)] = true
		}
	}
	dir := r.groupDir(id)
	st, _ := readState(dir)
	if st != nil {
		for _, c := range st.Group.AllContainers() {
			ids[ctrID(id, c.Name)] = true
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	// A wait, so the machine's clock (internal/clock): a deadline from the
	// injected wall clock would make the grace an hour long after a clock
	// jump (the chaos suite's clock-jump fault found it).
	deadline := time.Now().Add(r.cfg.StopGrace)
	for cid := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.deleteContainer(ctx, cid, deadline); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// CNI DEL with every configuration the group may have been attached
	// with: the state file's and libcni's cache (which outlives the state
	// file if a crash hit in between).
	type attachment struct {
		conf  []byte
		netns string
	}
	netns := r.netnsPath(id)
	nsPaths := []string{netns}
	var atts []attachment
	if st != nil && len(st.CNIConf) > 0 {
		p := st.NetNS
		if p == "" {
			p = netns
		} else if p != netns {
			nsPaths = append(nsPaths, p)
		}
		atts = append(atts, attachment{st.CNIConf, p})
	}
	if cached, err := libcni.NewCNIConfigWithCacheDir(nil, r.cfg.cniCacheDir(), nil).GetCachedAttachments(id); err == nil {
		for _, a := range cached {
			if len(a.Config) > 0 {
				atts = append(atts, attachment{a.Config, a.NetNS})
			}
		}
	}
	if len(atts) == 0 && spec != nil && isNetNS(netns) && spec.Network.PrivateIP != "" {
		if b, err := netConfList(r.in, spec); err == nil {
			atts = append(atts, attachment{b, netns})
		}
	}
	if err := step(id, "network"); err != nil {
		return err
	}
	for _, a := range atts {
		if err := r.cni.del(ctx, a.conf, id, a.netns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := step(id, "netns"); err != nil {
		return err
	}
	for _, p := range nsPaths {
		if err := removeNetNS(p); err != nil {
			return err
		}
	}
	if err := r.removeGroupCgroup(ctx, id); err != nil {
		return err
	}
	if err := step(id, "files"); err != nil {
		return err
	}
	if err := unmountAll(dir); err != nil {
		return err
	}
	if err := step(id, "disks"); err != nil {
		return err
	}
	if err := r.releaseDisks(id); err != nil {
		return err
	}
	// Everything but the state file, then the state file, then the dir.
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if e.Name() != stateFile {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	if err := os.Remove(filepath.Join(dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return nil
}

// cgroupRetries and cgroupRetryWait bound how long teardown waits for the
// processes it killed in a group's cgroup to go.
const (
	cgroupRetries   = 50
	cgroupRetryWait = 100 * time.Millisecond
)

// removeGroupCgroup removes the group's cgroup tree. By then every
// container of the group is deleted, so a process still in it is a stray
// (a shim or `runc init` of a kcid killed mid-create or mid-delete, whose
// task containerd no longer lists): it is killed, and the removal retried.
func (r *Runtime) removeGroupCgroup(ctx context.Context, id string) error {
	path := r.groupCgroup(id)
	if err := step(id, "cgroup"); err != nil {
		return err
	}
	err := removeCgroup(path)
	for i := 0; err != nil && i < cgroupRetries; i++ {
		procs := cgroupProcs(path)
		if len(procs) > 0 {
			thawCgroup(path)
			for _, pid := range procs {
				r.log.Warn("killing a stray process in the cgroup of a removed group", "group", id, "pid", pid, "command", procName(pid))
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(cgroupRetryWait):
		}
		err = removeCgroup(path)
	}
	if err != nil {
		return fmt.Errorf("cgroup of %s (processes left: %v): %w", id, cgroupProcs(path), err)
	}
	return nil
}

// testHookStep, set by tests, runs at each named step of a group: before
// each teardown step (containers, network, netns, cgroup, files) and after
// an exited container's task is deleted (task-deleted); an error fails
// the teardown step.
var testHookStep func(group, step string) error

func step(group, name string) error {
	if testHookStep == nil {
		return nil
	}
	return testHookStep(group, name)
}

// deleteContainer stops the container's task (SIGTERM, then SIGKILL at
// deadline, a time.Now reading: never the injected clock's) and deletes
// task, container, snapshot and lease. Missing pieces are fine.
func (r *Runtime) deleteContainer(ctx context.Context, id string, deadline time.Time) error {
	defer r.deleteLease(ctx, id)
	c, err := r.client.LoadContainer(ctx, id)
	if isNotFound(err) {
		if err := r.removeStrayShims(ctx, id); err != nil {
			return err
		}
		return r.removeSnapshot(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("load container %s: %w", id, err)
	}
	for {
		hadTask, err := r.stopTask(ctx, c, deadline)
		if err != nil {
			return err
		}
		if hadTask {
			if err := r.reapShims(ctx, id); err != nil {
				return err
			}
			break
		}
		// No task: a shim may still hold the container's bundle, or
		// containerd may still be creating its task (then it is stopped
		// as a task).
		err = r.removeStrayShims(ctx, id)
		if errors.Is(err, errTaskAppeared) {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return r.removeSnapshot(ctx, id)
}

// stopTask kills the task of c, gracefully (the image's stop signal,
// SIGTERM by default) until deadline, then with SIGKILL, and deletes it.
// It reports whether containerd showed a task.
func (r *Runtime) stopTask(ctx context.Context, c containerd.Container, deadline time.Time) (bool, error) {
	task, err := c.Task(ctx, nil)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("task of %s: %w", c.ID(), err)
	}
	st, err := task.Status(ctx)
	if err == nil && st.Status != containerd.Stopped && st.Status != containerd.Created {
		waitCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		exited, err := task.Wait(waitCtx)
		if err != nil && !isNotFound(err) {
			return true, fmt.Errorf("wait task %s: %w", c.ID(), err)
		}
		if err == nil {
			sig, err := containerd.GetStopSignal(ctx, c, syscall.SIGTERM)
			if err != nil {
				sig = syscall.SIGTERM
			}
			_ = task.Kill(ctx, sig)
			timer := time.NewTimer(time.Until(deadline))
			select {
			case <-exited:
				timer.Stop()
			case <-timer.C:
				r.log.Info("grace period over, killing", "container", c.ID())
				_ = task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					return true, fmt.Errorf("task %s did not die after SIGKILL", c.ID())
				}
			case <-ctx.Done():
				timer.Stop()
				return true, ctx.Err()
			}
		}
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !isNotFound(err) {
		return true, fmt.Errorf("delete task %s: %w", c.ID(), err)
	}
	return true, nil
}

func (r *Runtime) removeSnapshot(ctx context.Context, key string) error {
	if err := r.client.SnapshotService(r.cfg.Snapshotter).Remove(ctx, key); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	return nil
}

// leaseID is the lease held while a container is created; it protects the
// fresh snapshot from GC until the container references it.
func leaseID(ctrID string) string { return "kci-" + ctrID }

func (r *Runtime) deleteLease(ctx context.Context, ctrID string) {
	_ = r.client.LeasesService().Delete(ctx, leases.Lease{ID: leaseID(ctrID)})
}
