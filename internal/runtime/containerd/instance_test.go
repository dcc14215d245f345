package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// TestInstanceNames: the host names of an identity, and of a data dir of
// an earlier release, which keeps the names its resources already carry.
func TestInstanceNames(t *testing.T) {
	for _, c := range []struct {
		name                              string
		in                                instance
		netns, cgroup, bridge, chain, net string
	}{
		{"identity", instance{ID: "1a2b3c4d", Namespace: "openkci"},
			"kci-1a2b3c4d-", "/openkci/kcid-1a2b3c4d", "kciaf33c73e22", "KCI-ISO-1A2B3C4D", "kci-1a2b3c4d-subnet-1"},
		// The names every release before identities used (hash of the
		// namespace), so that groups they run are adopted unchanged.
		{"legacy", instance{ID: legacyHash("openkci"), Namespace: "openkci", Legacy: true},
			"kci-" + oldHash("openkci")[:8] + "-", "/openkci", "kci" + oldHash("openkci/subnet-1")[:10],
			"KCI-ISO-" + strings.ToUpper(oldHash("openkci")[:12]), "openkci-subnet-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			got := []string{in.netnsPrefix(), in.cgroupRoot(), in.bridgeName("subnet-1"), in.isolationChain(), in.networkName("subnet-1")}
			want := []string{c.netns, c.cgroup, c.bridge, c.chain, c.net}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("name %d = %q, want %q", i, got[i], want[i])
				}
			}
			if in.noMasqChain() != strings.Replace(c.chain, "KCI-ISO-", "KCI-NOMASQ-", 1) {
				t.Errorf("nat chain %q", in.noMasqChain())
			}
			if len(in.bridgeName("subnet-1")) > 15 || len(in.isolationChain()) > 28 || len(in.noMasqChain()) > 28 {
				t.Errorf("names too long for the kernel")
			}
		})
	}
}

// oldHash is how releases before identities hashed names.
func oldHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestLoadInstance: generated once and kept; a data dir of an earlier
// release (groups/ present, no identity) gets the legacy identity.
func TestLoadInstance(t *testing.T) {
	now := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	fresh := t.TempDir()
	a, err := loadInstance(fresh, "ns1", now)
	if err != nil || a.Legacy || !validInstanceID(a.ID) || a.ID == legacyHash("ns1") {
		t.Fatalf("fresh: %+v %v", a, err)
	}
	b, err := loadInstance(fresh, "ns1", now.Add(time.Hour))
	if err != nil || b != a {
		t.Errorf("second load %+v, first %+v (%v)", b, a, err)
	}
	if other, _ := loadInstance(t.TempDir(), "ns1", now); other.ID == a.ID {
		t.Errorf("two data dirs share identity %s", a.ID)
	}

	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "groups", "kci-1"), 0o700)
	l, err := loadInstance(old, "openkci", now)
	if err != nil || !l.Legacy || l.ID != legacyHash("openkci") {
		t.Errorf("upgraded: %+v %v", l, err)
	}

	damaged := t.TempDir()
	os.WriteFile(filepath.Join(damaged, instanceFile), []byte("{"), 0o600)
	if _, err := loadInstance(damaged, "ns1", now); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged identity: %v", err)
	}
}

// TestHostLock: a second claim of the same namespace or the same identity
// fails and names the holder; a released lock can be taken again.
func TestHostLock(t *testing.T) {
	dir := t.TempDir()
	in := instance{ID: "0badcafe", Namespace: "ns-a"}
	holder := lockHolder{PID: 4242, DataDir: "/srv/a", Address: "/run/a.sock", Instance: in.ID, Since: time.Now()}
	l, err := lockHost(dir, in, holder)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   instance
		want []string
	}{
		{"same namespace", instance{ID: "11111111", Namespace: "ns-a"},
			[]string{`containerd namespace "ns-a"`, "pid 4242", "data dir /srv/a", "containerd /run/a.sock", "instance 0badcafe", "--containerd-namespace"}},
		{"same identity", instance{ID: "0badcafe", Namespace: "ns-b"},
			[]string{"kcid instance 0badcafe", "pid 4242", "--data-dir"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := lockHost(dir, c.in, lockHolder{PID: 1})
			var inUse *HostInUseError
			if !errors.As(err, &inUse) || !errors.Is(err, kcierr.ErrConflict) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %v", w, err)
				}
			}
		})
	}
	if l2, err := lockHost(dir, instance{ID: "22222222", Namespace: "ns-c"}, lockHolder{PID: 1}); err != nil {
		t.Errorf("other namespace and identity: %v", err)
	} else {
		l2.release()
	}
	l.release()
	l.release()
	l3, err := lockHost(dir, instance{ID: "33333333", Namespace: "ns-a"}, lockHolder{PID: 2})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l3.release()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("lock files left: %v", ents)
	}
}
