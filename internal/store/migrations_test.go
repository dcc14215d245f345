package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/core/coretest"
	"github.com/openkci/openkci/internal/record"
)

// copyFixture copies a state.db of an earlier release, and its state.key
// if it had one, into a fresh data dir.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"state.db", KeyFile} {
		b, err := os.ReadFile(filepath.Join("testdata", name, f))
		if f == KeyFile && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestUpgrade opens the state.db of the last release of each older schema
// (testdata/v1, the release before versioned state, made from
// coretest.Groups; testdata/v2, the last schema-2 kcid's, made from
// schema2Groups) and finds every group and setting intact, every group
// record of the current version, the secrets sealed and gone from the
// file, and the old file kept as a backup.
func TestUpgrade(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		from    int
		groups  []*core.Group
	}{
		{"v1", 1, coretest.Groups()},
		{"v2", 2, schema2Groups()},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			dir := copyFixture(t, tc.fixture)
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			backup := filepath.Join(dir, fmt.Sprintf("state.db.schema%d.bak", tc.from))
			if m := s.Migrated(); m != (Migration{From: tc.from, To: schemaVersion, Backup: backup}) {
				t.Errorf("Migrated() = %+v", m)
			}
			checkGroups(t, s, tc.groups)
			for _, w := range tc.groups {
				if n, held, _ := s.HeldIPs(bg, w.Network.SubnetID, w.Network.PrivateIP); n == 0 || !held {
					t.Errorf("group %s: IP %s not held after upgrade", w.ID, w.Network.PrivateIP)
				}
			}
			if live := mustLive(t, s, "2000000001"); len(live) != len(tc.groups)-2 {
				t.Errorf("%d live groups of account 2000000001, want %d (one is being deleted, one is another account's)", len(live), len(tc.groups)-2)
			}
			id, secret, found, err := s.GeneratedKey()
			if err != nil || !found || id != "AKLTfixtureFixture0000" || secret != "fixture-secret-0123456789abcdefghijklmnop" {
				t.Errorf("generated key after upgrade: %q %q %v %v", id, secret, found, err)
			}
			dn, found, err := s.DefaultNetwork("2000000001")
			wantVPC := core.VPC{ID: "vpc-1", Name: "default", AccountID: "2000000001", Region: "cn-beijing-6", CIDR: "10.88.0.0/16", IsDefault: true, CreatedAt: coretest.Created}
			wantSubnet := core.Subnet{ID: "subnet-1", Name: "default", VpcID: "vpc-1", CIDR: "10.88.0.0/20", Zone: "cn-beijing-6a", Gateway: "10.88.0.1", CreatedAt: coretest.Created}
			wantSG := core.SecurityGroup{ID: "sg-1", Name: "default", VpcID: "vpc-1", CreatedAt: coretest.Created}
			if err != nil || !found || dn.VPC != wantVPC || dn.Subnet != wantSubnet || !reflect.DeepEqual(dn.SecurityGroup, wantSG) {
				t.Errorf("default network after upgrade: %+v %v %v", dn, found, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			raw, err := os.ReadFile(filepath.Join(dir, "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"s3cret-p@ss", "another one", "pw-of-deleting", "fixture-secret-0123456789abcdefghijklmnop"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("state.db still holds the secret %q in plain text", secret)
				}
			}
			if v := schemaOf(t, filepath.Join(dir, "state.db")); v != strconv.Itoa(schemaVersion) {
				t.Errorf("schema after upgrade = %q, want %d", v, schemaVersion)
			}
			if v := recordVersions(t, filepath.Join(dir, "state.db")); !reflect.DeepEqual(v, []int{record.GroupVersion}) {
				t.Errorf("group record versions after upgrade: %v, want only %d", v, record.GroupVersion)
			}
			if v := schemaOf(t, backup); v != strconv.Itoa(tc.from) {
				t.Errorf("backup schema = %q, want %d", v, tc.from)
			}
			fi, err := os.Stat(filepath.Join(dir, KeyFile))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v", fi, err)
			}

			// Opening again changes nothing and needs no migration.
			s, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if m := s.Migrated(); m != (Migration{}) {
				t.Errorf("second open migrated: %+v", m)
			}
			checkGroups(t, s, tc.groups)
		})
	}
}

// checkGroups compares the store's groups with want, field by field.
func checkGroups(t *testing.T, s *Store, want []*core.Group) {
	t.Helper()
	got, err := s.Groups(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
	for _, w := range want {
		if g := mustGroup(t, s, w.ID); !reflect.DeepEqual(g, w) {
			t.Errorf("group %s:\n got %+v\nwant %+v", w.ID, g, w)
		}
	}
}

// recordVersions lists the versions of the group records in a state.db.
func recordVersions(t *testing.T, path string) []int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var versions []int
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGroups).ForEach(func(k, v []byte) error {
			var head struct{ Version int }
			if err := json.Unmarshal(v, &head); err != nil {
				t.Errorf("group %s: %v", k, err)
			}
			if !slices.Contains(versions, head.Version) {
				versions = append(versions, head.Version)
			}
			return nil
		})
	})
	return versions
}

func schemaOf(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	_ = db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	return v
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
	}{
		{"newer schema", func(t *testing.T, dir string) {
			setSchema(t, dir, strconv.Itoa(schemaVersion+1))
		}, "written by a newer kcid"},
		{"key file missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, KeyFile))
		}, "state.key is missing"},
		{"key file readable by others", func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, KeyFile), 0o644)
		}, "chmod 600"},
		{"another key", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, KeyFile), []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
		}, "does not open with state.key"},
		{"garbled key", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, KeyFile), []byte("not hex"), 0o600)
		}, "32-byte hex key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			g := group("1", "sub", "10.0.0.2")
			g.Credentials = []core.RegistryCredential{{Server: "r.example", Username: "u", Password: "p"}}
			if err := s.CreateGroup(bg, g); err != nil {
				t.Fatal(err)
			}
			s.Close()
			tc.prepare(t, dir)
			s, err = Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func setSchema(t *testing.T, dir, v string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsSealed: a password stored now never appears in state.db.
func TestSecretsSealed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := group("1", "sub", "10.0.0.2")
	g.Credentials = []core.RegistryCredential{{Server: "r.example", Username: "u", Password: "very-secret-password"}}
	if err := s.CreateGroup(bg, g); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGeneratedKey("AKLTy", "very-secret-access-key"); err != nil {
		t.Fatal(err)
	}
	if got := mustGroup(t, s, "1").Credentials[0].Password; got != "very-secret-password" {
		t.Fatalf("password read back = %q", got)
	}
	s.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"very-secret-password", "very-secret-access-key"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("state.db holds %q in plain text", secret)
		}
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := mustGroup(t, s, "1").Credentials[0].Password; got != "very-secret-password" {
		t.Fatalf("password after reopening = %q", got)
	}
}
