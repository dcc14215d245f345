package containerd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// Ownership of host resources (docs/host.md).
//
// A runtime's data dir holds its instance identity (instanceFile): eight
// hex digits generated on first start. Every host resource the runtime
// creates is named after it or carries it, so that start-up cleanup
// recognises its own leftovers and nothing else:
//
//	network namespace pin   <NetNSDir>/kci-<id>-<group>
//	parent cgroup           /<namespace>/kcid-<id>/<group>
//	CNI network             kci-<id>-<subnet> (also in the comment of every
//	                        NAT rule the bridge plugin adds for a group)
//	bridge                  kci<hash of id and subnet>, alias "kcid:<id>"
//	isolation chain         KCI-ISO-<ID> (filter)
//	VPC source chain        KCI-NOMASQ-<ID> (nat)
//
// A data dir made by a release before identities (it has groups/ but no
// instance file) keeps the names it already used — identity = the first
// four bytes of sha256(namespace), cgroups under /<namespace>, bridges
// and chains hashed from the namespace — so that its running groups are
// adopted unchanged; the host lock makes those names exclusive as well.
//
// Two runtimes sharing a containerd namespace on one host would still
// share that namespace's containers and images, so New takes an exclusive
// host lock keyed by the namespace (and one keyed by the identity, for a
// copied data dir) before it touches anything, and refuses to start when
// another process holds it.

// instanceFile is the identity record in the runtime's data dir.
const instanceFile = "instance.json"

// linkAliasPrefix starts the alias (ifalias) of every bridge of a runtime:
// "kcid:<id>".
const linkAliasPrefix = "kcid:"

// instance is a runtime's identity and the names derived from it.
type instance struct {
	ID        string    `json:"id"`
	Namespace string    `json:"namespace"`
	Legacy    bool      `json:"legacy,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// loadInstance reads the identity of the runtime data dir, or makes one:
// a fresh random one, or for a data dir of an earlier release (groups/
// exists) the namespace-derived one its resources already carry.
func loadInstance(dataDir, namespace string, now time.Time) (instance, error) {
	path := filepath.Join(dataDir, instanceFile)
	b, err := os.ReadFile(path)
	if err == nil {
		var in instance
		if err := json.Unmarshal(b, &in); err != nil || !validInstanceID(in.ID) {
			return instance{}, fmt.Errorf("%s is damaged (%v): restore it from a backup, or remove it only if nothing of this kcid runs any more", path, err)
		}
		if in.Namespace == "" {
			in.Namespace = namespace
		}
		return in, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return instance{}, err
	}
	in := instance{Namespace: namespace, CreatedAt: now.UTC()}
	if _, err := os.Stat(filepath.Join(dataDir, "groups")); err == nil {
		in.Legacy = true
		in.ID = legacyHash(namespace)
	} else {
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return instance{}, err
		}
		in.ID = hex.EncodeToString(r[:])
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return instance{}, err
	}
	b, _ = json.MarshalIndent(in, "", "  ")
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return instance{}, fmt.Errorf("write %s: %w", path, err)
	}
	return in, nil
}

func validInstanceID(id string) bool {
	if len(id) != 8 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// legacyHash is what releases before identities keyed host names with.
func legacyHash(namespace string) string {
	h := sha256.Sum256([]byte(namespace))
	return hex.EncodeToString(h[:4])
}

// scope is what bridge and chain names are hashed from.
func (in instance) scope() string {
	if in.Legacy {
		return in.Namespace
	}
	return in.ID
}

func (in instance) netnsPrefix() string { return "kci-" + in.ID + "-" }

func (in instance) cgroupRoot() string {
	if in.Legacy {
		return "/" + in.Namespace
	}
	return "/" + in.Namespace + "/" + cgroupInstancePrefix + in.ID
}

// cgroupInstancePrefix names the per-instance level of the cgroup tree; a
// legacy runtime, whose groups sit directly under /<namespace>, skips
// children named so.
const cgroupInstancePrefix = "kcid-"

// bridgeName is the Linux bridge of one subnet: short (IFNAMSIZ is 16).
func (in instance) bridgeName(subnetID string) string {
	h := sha256.Sum256([]byte(in.scope() + "/" + subnetID))
	return "kci" + hex.EncodeToString(h[:])[:10]
}

// isolationChain is the runtime's chain in the filter table.
func (in instance) isolationChain() string {
	if in.Legacy {
		h := sha256.Sum256([]byte(in.Namespace))
		return "KCI-ISO-" + strings.ToUpper(hex.EncodeToString(h[:])[:12])
	}
	return "KCI-ISO-" + strings.ToUpper(in.ID)
}

// noMasqChain is the runtime's chain in the nat table (isolation.go).
func (in instance) noMasqChain() string {
	return "KCI-NOMASQ-" + strings.TrimPrefix(in.isolationChain(), "KCI-ISO-")
}

// networkName is the CNI network of one subnet. The bridge plugin puts it
// in the comment of each NAT rule it adds, which is how the runtime finds
// its rules again.
func (in instance) networkName(subnetID string) string {
	if in.Legacy {
		return in.Namespace + "-" + subnetID
	}
	return in.networkPrefix() + subnetID
}

// networkPrefix starts every CNI network name of a non-legacy instance;
// legacy names ("<namespace>-") are not unique to one instance, so legacy
// runtimes do not sweep NAT rules by name.
func (in instance) networkPrefix() string { return "kci-" + in.ID + "-" }

func (in instance) linkAlias() string { return linkAliasPrefix + in.ID }

// HostInUseError is returned by New when another process holds a host
// lock this runtime needs.
type HostInUseError struct {
	// What is contended: `containerd namespace "openkci"` or
	// `instance 1a2b3c4d`.
	What string
	// Holder is what the other process wrote into the lock file.
	Holder lockHolder
	// Flag separates the two (for the message).
	Hint string
}

func (e *HostInUseError) Error() string {
	h := e.Holder
	who := "another kcid"
	if h.PID > 0 {
		who += fmt.Sprintf(" (pid %d", h.PID)
		if h.DataDir != "" {
			who += ", data dir " + h.DataDir
		}
		if h.Address != "" {
			who += ", containerd " + h.Address
		}
		if h.Instance != "" {
			who += ", instance " + h.Instance
		}
		if !h.Since.IsZero() {
			who += ", since " + h.Since.UTC().Format(time.RFC3339)
		}
		who += ")"
	}
	return fmt.Sprintf("%s is in use on this host by %s; %s", e.What, who, e.Hint)
}

func (e *HostInUseError) Unwrap() error { return kcierr.ErrConflict }

// lockHolder is the content of a host lock file.
type lockHolder struct {
	PID      int       `json:"pid"`
	DataDir  string    `json:"dataDir"`
	Address  string    `json:"containerdAddress"`
	Instance string    `json:"instance"`
	Since    time.Time `json:"since"`
}

// hostLock is a set of held flock(2) locks; the kernel drops them when the
// process dies, so a killed kcid never blocks the next one.
type hostLock struct {
	files []*os.File
}

// release unlocks and removes the lock files. Idempotent. The file is
// removed while still locked: a process that opened it meanwhile finds,
// once it holds the lock, that its file is no longer the one at the path,
// and tries again (lockFile).
func (l *hostLock) release() {
	if l == nil {
		return
	}
	for _, f := range l.files {
		_ = os.Remove(f.Name())
		f.Close()
	}
	l.files = nil
}

// lockHost takes the runtime's host locks in dir: one per containerd
// namespace, one per instance identity.
func lockHost(dir string, in instance, holder lockHolder) (*hostLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock dir: %w", err)
	}
	l := &hostLock{}
	for _, k := range []struct{ file, what, hint string }{
		{"containerd-ns-" + in.Namespace + ".lock", fmt.Sprintf("containerd namespace %q", in.Namespace),
			"two kcid on one host (even on different containerds) must use different containerd namespaces: start this one with another --containerd-namespace (and its own --data-dir)"},
		{"instance-" + in.ID + ".lock", "kcid instance " + in.ID + " (" + instanceFile + " of the data dir)",
			"this data dir is in use or is a copy of one in use: give this kcid its own --data-dir"},
	} {
		f, err := lockFile(filepath.Join(dir, k.file), holder)
		if err != nil {
			l.release()
			var held *heldError
			if errors.As(err, &held) {
				return nil, &HostInUseError{What: k.what, Holder: held.holder, Hint: k.hint}
			}
			return nil, err
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

type heldError struct{ holder lockHolder }

func (e *heldError) Error() string { return "lock held by pid " + strconv.Itoa(e.holder.PID) }

// lockFile takes an exclusive flock on path without waiting and writes
// holder into it.
func lockFile(path string, holder lockHolder) (*os.File, error) {
	for {
		f, err := tryLockFile(path, holder)
		if !errors.Is(err, errLockFileReplaced) {
			return f, err
		}
	}
}

var errLockFileReplaced = errors.New("lock file replaced")

func tryLockFile(path string, holder lockHolder) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			var h lockHolder
			// The holder writes right after locking; a moment's wait
			// lets a racing start finish writing.
			for i := 0; i < 20; i++ {
				if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &h) == nil && h.PID > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			return nil, &heldError{holder: h}
		}
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(path, &now) != nil || held.Ino != now.Ino || held.Dev != now.Dev {
		f.Close()
		return nil, errLockFileReplaced
	}
	b, _ := json.Marshal(holder)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	return f, nil
}
