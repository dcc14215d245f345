package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/openkci/openkci/pkg/kci"
)

// kind is a shape of group in the mixed workload.
type kind int

const (
	// service: restart Always, an init container that leaves a mark in an
	// EmptyDir, then one to three containers that check it and sleep,
	// sharing the EmptyDir, with a ConfigFile volume, sometimes an EBS
	// disk of the config, sometimes a disk made for it (DataDisk, deleted
	// with it or kept), sometimes a GPU (a fake one, which its first
	// container must see). Ends Running.
	service kind = iota
	// job: restart Never, writes to an EmptyDir and reads its ConfigFile,
	// exits 0. Ends Succeeded.
	job
	// flaky: restart OnFailure, fails its first attempt (a marker in an
	// EmptyDir, which survives restarts) and then runs. Ends Running.
	flaky
	numKinds
)

func (k kind) String() string { return [...]string{"service", "job", "flaky"}[k] }

// settled is the status a group of the kind ends in.
func (k kind) settled() string {
	if k == job {
		return kci.StatusSucceeded
	}
	return kci.StatusRunning
}

// workload makes the groups' requests. Its random choices come from the
// run's seeded source only.
type workload struct {
	image  string   // local image, pull policy Never
	subnet string   // subnet ID
	sg     string   // security group ID
	disks  []string // EBS volume IDs the config declares
	gpus   []string // the node's (fake) GPU devices
	run    string   // short run ID, in every group name
	seq    atomic.Int64
}

// newGroup draws a group: its kind, containers, volumes and maybe a disk
// from those not in use.
func (w *workload) newGroup(rng *rand.Rand, disksInUse map[string]bool) (*group, *kci.CreateContainerGroupRequest) {
	k := kind(rng.IntN(int(numKinds)))
	g := &group{name: fmt.Sprintf("chaos-%s-%d-%s", w.run, w.seq.Add(1), k), kind: k}
	req := &kci.CreateContainerGroupRequest{
		ContainerGroupName: g.name,
		SubnetID:           w.subnet,
		SecurityGroupIDs:   []string{w.sg},
		ChargeType:         kci.ChargeHourlyInstantSettlement,
		CPU:                0.5,
		Memory:             0.5,
		Labels:             []kci.Label{{Key: "chaos-run", Value: w.run}, {Key: "kind", Value: k.String()}},
		Volumes: []kci.Volume{
			{Name: "scratch", Type: kci.VolumeEmptyDir},
			{Name: "conf", Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{
				Files: []kci.ConfigFile{{Path: "chaos.conf", Content: base64.StdEncoding.EncodeToString([]byte("group=" + g.name + "\n"))}},
			}},
		},
	}
	mounts := []kci.VolumeMount{{Name: "scratch", MountPath: "/scratch"}, {Name: "conf", MountPath: "/etc/chaos", ReadOnly: true}}
	switch k {
	case service:
		req.RestartPolicy = kci.RestartAlways
		if rng.IntN(3) == 0 {
			var free []string
			for _, d := range w.disks {
				if !disksInUse[d] {
					free = append(free, d)
				}
			}
			if len(free) > 0 {
				g.disk = free[rng.IntN(len(free))]
				req.Volumes = append(req.Volumes, kci.Volume{Name: "disk", Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: g.disk, FsType: "ext4"}})
				mounts = append(mounts, kci.VolumeMount{Name: "disk", MountPath: "/disk"})
			}
		}
		// A disk made for the group: formatted and loop-mounted as the group
		// is set up, unmounted, detached and deleted (or kept) as it is
		// torn down, so kills land in both.
		made := rng.IntN(3) == 0
		if made {
			req.DataDisks = []kci.DataDisk{{VolumeName: "data", Type: kci.DiskTypeSSD, Size: 10, DeleteWithInstance: rng.IntN(4) != 0}}
			mounts = append(mounts, kci.VolumeMount{Name: "data", MountPath: "/data"})
		}
		gpu := len(w.gpus) > 0 && rng.IntN(4) == 0
		if gpu {
			req.GPU = 1 // the first container's
		}
		req.InitContainers = []kci.InitContainer{{
			Name: "init", Image: w.image, ImagePullPolicy: kci.PullNever,
			Command: []string{"sh", "-c", "echo init >> /scratch/init"}, VolumeMounts: mounts,
		}}
		n := 1 + rng.IntN(3)
		for i := range n {
			script := "test -s /scratch/init || exit 4; echo up >> /scratch/log; exec sleep 1000000"
			if i == 0 && g.disk != "" {
				script = "date >> /disk/boots && " + script
			}
			if i == 0 && made {
				script = "date >> /data/boots && " + script
			}
			if i == 0 && gpu {
				// Exit 5 unless one of the GPUs is there: a group without
				// its device never settles Running.
				script = "for d in " + strings.Join(w.gpus, " ") + "; do test -c $d && break; done && test -c $d || exit 5; " + script
			}
			req.Containers = append(req.Containers, w.container(fmt.Sprintf("c%d", i), script, mounts))
		}
	case job:
		req.RestartPolicy = kci.RestartNever
		req.Containers = []kci.Container{w.container("main", "cat /etc/chaos/chaos.conf > /scratch/out && echo done", mounts)}
	case flaky:
		req.RestartPolicy = kci.RestartOnFailure
		req.Containers = []kci.Container{w.container("main", "test -f /scratch/failed-once || { touch /scratch/failed-once; exit 3; }; exec sleep 1000000", mounts)}
	}
	return g, req
}

func (w *workload) container(name, script string, mounts []kci.VolumeMount) kci.Container {
	return kci.Container{InitContainer: kci.InitContainer{
		Name: name, Image: w.image, ImagePullPolicy: kci.PullNever,
		Command: []string{"sh", "-c", script}, VolumeMounts: mounts,
		EnvironmentVars: []kci.EnvironmentVar{{Key: "CHAOS", Value: "1"}},
	}}
}

// answer classifies a request's outcome: acknowledged, refused (kcid
// answered an error, so nothing was done), or lost (no answer, or a 5xx
// after which kcid may have acted).
type answer int

const (
	acknowledged answer = iota
	refused
	lost
)

func classify(err error) answer {
	if err == nil {
		return acknowledged
	}
	var ae *kci.APIError
	if errors.As(err, &ae) && ae.StatusCode < 500 {
		return refused
	}
	return lost
}

// opCounts are what the workload did, for the summary.
type opCounts struct {
	createAcked, createRefused, createLost atomic.Int64
	madeDisks, gpuGroups                   atomic.Int64 // in acknowledged creates
	deleteAcked, deleteRefused, deleteLost atomic.Int64
	refusedCodes                           codeCounts
}

// codeCounts counts error codes of refused requests.
type codeCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *codeCounts) add(err error) {
	code := kci.ErrorCode(err)
	if code == "" {
		code = "?"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[code]++
}

func (c *codeCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for code, n := range c.m {
		parts = append(parts, fmt.Sprintf("%s=%d", code, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// create sends one create and records its outcome in the model.
func (s *suite) create(ctx context.Context, g *group, req *kci.CreateContainerGroupRequest) {
	gen := s.rig.generation()
	s.model.add(g)
	resp, err := s.client.CreateContainerGroup(ctx, req)
	switch classify(err) {
	case acknowledged:
		s.counts.createAcked.Add(1)
		s.counts.madeDisks.Add(int64(len(req.DataDisks)))
		if req.GPU > 0 {
			s.counts.gpuGroups.Add(1)
		}
		s.model.setID(g, resp.ContainerGroupID)
		s.model.setFate(g, live, gen)
	case refused:
		s.log.Debug("create refused", "group", g.name, "err", err)
		s.counts.createRefused.Add(1)
		s.counts.refusedCodes.add(err)
		s.model.setFate(g, neverCreated, gen)
	case lost:
		s.counts.createLost.Add(1)
		s.model.setFate(g, createLost, gen)
	}
}

// delete sends one delete of a group kcid has (or may still have).
func (s *suite) delete(ctx context.Context, g *group) {
	gen := s.rig.generation()
	_, err := s.client.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: g.id})
	switch a := classify(err); {
	case a == acknowledged:
		s.counts.deleteAcked.Add(1)
		s.model.setFate(g, deleted, gen)
	case a == refused && kci.IsNotFound(err):
		// A delete whose answer was lost took effect; for a group never
		// deleted before, reconcile reports it as lost.
		s.counts.deleteRefused.Add(1)
		s.counts.refusedCodes.add(err)
		if g.fate == deleteLost {
			s.model.setFate(g, deleted, gen)
		}
	case a == refused:
		s.log.Debug("delete refused", "group", g.id, "err", err)
		s.counts.deleteRefused.Add(1)
		s.counts.refusedCodes.add(err)
	default:
		s.counts.deleteLost.Add(1)
		s.model.setFate(g, deleteLost, gen)
	}
}
