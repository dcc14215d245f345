package service

import (
	"context"

	"github.com/openkci/openkci/internal/core"
)

// Runtime runs container groups. It is the boundary between the API's
// bookkeeping (this package, the store) and the engine that executes groups
// (containerd on one machine, Kubernetes for many). Implementations speak
// only core types.
//
// Contract:
//   - All methods are safe for concurrent use.
//   - Start accepts the group and returns; pulling, creating and restarting
//     continue in the background and show in Status. Start of a group the
//     runtime already runs is a no-op.
//   - Remove stops the group (SIGTERM, SIGKILL after the grace period) and
//     releases everything it held. It blocks until released. It is
//     idempotent: removing an unknown or half-created group succeeds.
//   - Status of a group the runtime does not know returns an error wrapping
//     errdefs.ErrNotFound; the service then reports the group Pending.
//   - Logs returns at most tail lines of one container's log (stdout and
//     stderr in order); an unknown container wraps errdefs.ErrNotFound.
//   - Sync is called once at start-up with every group that should exist:
//     the runtime re-adopts those it finds, starts those it lacks and removes
//     anything of its own that is not listed (orphans of a crash).
type Runtime interface {
	Start(ctx context.Context, g *core.Group) error
	Remove(ctx context.Context, g *core.Group) error
	Status(ctx context.Context, groupID string) (core.GroupStatus, error)
	Logs(ctx context.Context, groupID, container string, tail int) (string, error)
	Sync(ctx context.Context, live []*core.Group) error
}

// HostPathResolver is the optional ability of a Runtime whose groups run
// on the machine kcid runs on (containerd) to resolve a host path's
// symbolic links in the real file system (filepath.EvalSymlinks), so that
// the policy's prefixes are checked against where a bind mount would
// really lead. A runtime without it (Kubernetes: the paths are on nodes
// kcid does not see) gets the lexical check only.
type HostPathResolver interface {
	ResolveHostPath(path string) (string, error)
}

// Execer is the optional ability of a Runtime to run a command inside one
// of a group's running containers (ExecContainerCommand). The service
// finds it by type assertion; a runtime without it answers exec requests
// with an error that says so.
//
// Contract:
//   - Exec blocks until the process exits and returns its exit code, or
//     an error if it could not be started (the container is not running:
//     an error wrapping errdefs.ErrNotRunning; unknown group or container:
//     errdefs.ErrNotFound).
//   - Cancelling ctx ends the session: Exec returns. The containerd
//     runtime kills the process (SIGKILL); on Kubernetes the kubelet
//     leaves a command without a TTY running (docs/exec.md). Removing the
//     group ends its processes on both.
//   - Everything the process wrote is delivered to Stdout and Stderr
//     before Exec returns.
type Execer interface {
	Exec(ctx context.Context, groupID, container string, p core.ExecProcess) (exitCode int, err error)
}

// NFSMounter is the optional ability of a Runtime to mount NFSVolumes,
// found by type assertion; without it, or when NFS returns an error (the
// reason, e.g. a kernel without an NFS client), groups with one are
// refused.
type NFSMounter interface {
	NFS() error
}

// DiskMaker is the optional ability of a Runtime to make disks on demand
// (DataDisk.N, EBSVolume with Size), found by type assertion; without it
// such creates are refused.
//
// Contract:
//   - Start makes the disk of every volume whose EBS.SizeGB > 0 that does
//     not exist yet (SizeGB GiB, Type, formatted with FsType), for the
//     group's account and zone, and records the group as its user; a
//     disk that exists (kept from an earlier group) is mounted as it is.
//   - Remove deletes such a disk when the group's volume says
//     DeleteWithInstance; otherwise it keeps it, no longer used.
//   - Disks lists the account's disks it made that exist, used or kept,
//     with their zone, size, type and user; it never lists another
//     account's. The service refuses to mount a disk this does not list.
type DiskMaker interface {
	Disks(ctx context.Context, accountID string) ([]core.Disk, error)
}

// SecurityGroupEnforcer is the optional ability of a Runtime to filter its
// groups' traffic by the rules of their security groups
// (docs/networking.md). The service finds it by type assertion; without
// it rules are only kept, and AuthorizeSecurityGroupEntry is refused
// unless the operator accepts unenforced rules.
//
// Contract:
//   - EnforceSecurityGroups is called once, before Sync, with where to
//     read a security group's current rules (ok is false for a group
//     that does not exist, which then has no rules). The runtime reads
//     rules only through it: at a group's start, before its containers
//     start, and on every SecurityGroupsChanged.
//   - SecurityGroupsChanged is called after a change of the rules of the
//     security groups ids (or their deletion) is recorded; it returns
//     once every running group in one of them filters by the new rules,
//     or with an error after which the runtime keeps retrying on its own.
type SecurityGroupEnforcer interface {
	EnforceSecurityGroups(rules func(id string) (rules []core.SecurityGroupRule, ok bool))
	SecurityGroupsChanged(ctx context.Context, ids []string) error
}

// RuleChecker is the optional ability of a SecurityGroupEnforcer to refuse
// a rule it cannot enforce (a NetworkPolicy has no ICMP), before the rule
// is recorded. The error says why and what to use instead.
type RuleChecker interface {
	CheckRule(r core.SecurityGroupRule) error
}
