// Package store keeps kcid's state in an embedded bbolt database under the
// data dir: container groups, the IP addresses they hold, and the settings
// made on first start (the generated access key, default networks). Every
// write is one bbolt transaction, so a crash never leaves half a group
// behind. Values are the versioned records of package record, never the
// domain types themselves; secrets in them are sealed with the key file
// state.key (secrets.go).
//
// Schema (bucket tree), version 2:
//
//	meta/
//	  schema                              → "2" (decimal)
//	  setting/generated-key               → JSON record.GeneratedKey (secret sealed)
//	  setting/default-network/<account>   → JSON record.DefaultNetwork
//	  setting/security-group/<id>         → JSON record.SecurityGroupDoc (API-made groups; rules of every group)
//	  setting/vpc/<id>                    → JSON record.NetworkDoc (VPCs made through the API)
//	  setting/subnet/<id>                 → JSON record.NetworkDoc (subnets made through the API)
//	  setting/image-cache/<id>            → JSON record.ImageCacheDoc (registry passwords sealed)
//	groups/
//	  <group id>                          → JSON record.GroupDoc (DeletedAt set while being deleted; passwords sealed)
//	ips/
//	  <subnet id>/<ip>                    → group id; a unique index: one live or deleting group per IP
//
// Version 1 (kcid before versioned state) had the same tree with values
// encoding/json of the core types and secrets in plain text; migrations.go
// upgrades it. Reads are served from an in-memory index of the groups
// bucket (index.go), updated after each committed transaction.
//
// Update this comment and docs/state.md whenever the layout changes, and
// add a migration.
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/record"
)

var (
	bucketMeta   = []byte("meta")
	bucketGroups = []byte("groups")
	bucketIPs    = []byte("ips")
	keySchema    = []byte("schema")
)

const (
	settingPrefix         = "setting/"
	settingGeneratedKey   = "generated-key"
	settingDefaultNetwork = "default-network/"
	settingSecurityGroup  = "security-group/"
	settingVPC            = "vpc/"
	settingSubnet         = "subnet/"
	settingImageCache     = "image-cache/"
	settingRulesEnforced  = "security-group-rules-enforced"
)

// schemaVersion is the version this kcid writes: the last migration's.
var schemaVersion = migrations[len(migrations)-1].version

// Store is a bbolt-backed store with an in-memory index for reads. It is
// safe for concurrent use.
type Store struct {
	db   *bolt.DB
	idx  *index
	seal *sealer
	// migration is what Open upgraded, if anything.
	migration Migration
	// wmu spans a write transaction and the index update that mirrors it,
	// so the index sees writes in commit order.
	wmu sync.Mutex
}

// Open opens (creating if needed) the database file state.db in dir and
// its key file, and migrates an older schema (keeping a copy of the file as
// it was, state.db.schema<N>.bak).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "state.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: the database is locked: is another kcid running with this data dir?", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return open(db, dir, path)
}

// open finishes Open; it owns db and closes it on error.
func open(db *bolt.DB, dir, path string) (s *Store, err error) {
	defer func() {
		if err != nil && db != nil {
			db.Close()
		}
	}()
	version, err := readSchema(db)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if version > schemaVersion {
		return nil, fmt.Errorf("%s has schema version %d, written by a newer kcid (this one knows up to %d): run that kcid or a newer one", path, version, schemaVersion)
	}
	// A key may be made only while nothing is sealed yet.
	key, err := loadKey(filepath.Join(dir, KeyFile), version < 2)
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	migrated, err := migrate(db, path, version, seal)
	if err != nil {
		return nil, err
	}
	var m Migration
	if migrated {
		m = Migration{From: version, To: schemaVersion, Backup: fmt.Sprintf("%s.schema%d.bak", path, version)}
	}
	if migrated {
		// Rewritten values leave their old bytes (plain-text secrets of
		// schema 1) in free pages: copy the live data to a fresh file.
		if db, err = compact(db, path); err != nil {
			return nil, err // compact closed db
		}
	}
	s = &Store{db: db, idx: newIndex(), seal: seal, migration: m}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return s, nil
}

// Migration says what Open upgraded: the schema versions and the copy of
// the file as it was. Zero if nothing was migrated.
type Migration struct {
	From, To int
	Backup   string
}

// Migrated returns what Open upgraded, if anything.
func (s *Store) Migrated() Migration { return s.migration }

// readSchema returns the schema version of the database, 0 if it is new.
func readSchema(db *bolt.DB) (int, error) {
	var version int
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		v := meta.Get(keySchema)
		if v == nil {
			return nil
		}
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			return fmt.Errorf("unreadable schema version %q", v)
		}
		version = n
		return nil
	})
	return version, err
}

// migrate creates a new database at the current schema, or runs the
// migrations an older one lacks, each in its own transaction.
func migrate(db *bolt.DB, path string, version int, seal record.Sealer) (migrated bool, err error) {
	if version == 0 {
		return false, db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketMeta, bucketGroups, bucketIPs} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(schemaVersion)))
		})
	}
	if version == schemaVersion {
		return false, nil
	}
	backup := fmt.Sprintf("%s.schema%d.bak", path, version) // as Migration.Backup
	if _, err := os.Stat(backup); errors.Is(err, os.ErrNotExist) {
		if err := db.View(func(tx *bolt.Tx) error { return tx.CopyFile(backup, 0o600) }); err != nil {
			return false, fmt.Errorf("back up %s before migrating it: %w", path, err)
		}
	}
	for _, m := range migrations {
		if m.version <= version {
			continue
		}
		err := db.Update(func(tx *bolt.Tx) error {
			if err := m.migrate(tx, seal); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(m.version)))
		})
		if err != nil {
			return false, fmt.Errorf("migrate %s to schema version %d (%s): %w; the file as it was is %s", path, m.version, m.what, err, backup)
		}
	}
	return true, nil
}

// compact copies db's live data to a fresh file that replaces it, and
// returns the new file opened. db is closed (also on error).
func compact(db *bolt.DB, path string) (*bolt.DB, error) {
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		db.Close()
		return nil, err
	}
	err = bolt.Compact(dst, db, 0)
	err = errors.Join(err, dst.Close(), db.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("compact %s after migrating it: %w", path, err)
	}
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
}

// load fills the index from the groups bucket.
func (s *Store) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGroups).ForEach(func(k, v []byte) error {
			g, err := record.UnmarshalGroup(v, s.seal)
			if err != nil {
				return fmt.Errorf("group %s: %w", k, err)
			}
			s.idx.put(g)
			return nil
		})
	})
}

// SetNoSync skips fsync after commits. Only bulk loads that can be
// repeated (benchmark set-up) may turn it on; a crash then loses data.
func (s *Store) SetNoSync(on bool) { s.db.NoSync = on }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func ipKey(subnetID, ip string) []byte { return []byte(subnetID + "/" + ip) }

// Groups returns every stored group, including those being deleted, in
// Describe order.
func (s *Store) Groups(context.Context) ([]*core.Group, error) {
	s.idx.mu.RLock()
	out := make([]*core.Group, 0, len(s.idx.groups))
	for _, g := range s.idx.groups {
		out = append(out, g)
	}
	s.idx.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out, nil
}

// CreateGroup stores a new group and claims its IP, atomically. It fails
// with errdefs.ErrConflict if the ID exists or the IP is held.
func (s *Store) CreateGroup(ctx context.Context, g *core.Group) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b, err := record.MarshalGroup(g, s.seal)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		groups, ips := tx.Bucket(bucketGroups), tx.Bucket(bucketIPs)
		if groups.Get([]byte(g.ID)) != nil {
			return fmt.Errorf("group %s: %w", g.ID, errdefs.ErrConflict)
		}
		if g.Network.PrivateIP != "" {
			k := ipKey(g.Network.SubnetID, g.Network.PrivateIP)
			if holder := ips.Get(k); holder != nil {
				return fmt.Errorf("ip %s in subnet %s held by group %s: %w", g.Network.PrivateIP, g.Network.SubnetID, holder, errdefs.ErrConflict)
			}
			if err := ips.Put(k, []byte(g.ID)); err != nil {
				return err
			}
		}
		return groups.Put([]byte(g.ID), b)
	})
	if err != nil {
		return err
	}
	s.idx.mu.Lock()
	s.idx.put(g)
	s.idx.mu.Unlock()
	return nil
}

// MarkDeleting records that deletion of a group was accepted and returns
// the group as now stored (with DeletedAt).
func (s *Store) MarkDeleting(ctx context.Context, id string, at time.Time) (*core.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var g *core.Group
	err := s.db.Update(func(tx *bolt.Tx) error {
		groups := tx.Bucket(bucketGroups)
		v := groups.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("group %s: %w", id, errdefs.ErrNotFound)
		}
		var err error
		if g, err = record.UnmarshalGroup(v, s.seal); err != nil {
			return fmt.Errorf("group %s: %w", id, err)
		}
		if g.DeletedAt != nil {
			return fmt.Errorf("group %s is being deleted: %w", id, errdefs.ErrNotFound)
		}
		g.DeletedAt = &at
		b, err := record.MarshalGroup(g, s.seal)
		if err != nil {
			return err
		}
		return groups.Put([]byte(id), b)
	})
	if err != nil {
		return nil, err
	}
	s.idx.mu.Lock()
	s.idx.put(g)
	s.idx.mu.Unlock()
	return g, nil
}

// PurgeGroup removes a group and releases its IP. Purging a missing group
// succeeds, so an interrupted delete can simply be repeated.
func (s *Store) PurgeGroup(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		groups, ips := tx.Bucket(bucketGroups), tx.Bucket(bucketIPs)
		v := groups.Get([]byte(id))
		if v == nil {
			return nil
		}
		// Only the network is needed: decode without opening secrets, so
		// a group whose secrets do not open can still be purged.
		var doc struct {
			Group struct {
				Network struct {
					SubnetID  string `json:"subnetId"`
					PrivateIP string `json:"privateIp"`
				} `json:"network"`
			} `json:"group"`
		}
		if err := json.Unmarshal(v, &doc); err != nil {
			return fmt.Errorf("group %s: %w", id, err)
		}
		g := &core.Group{Network: core.Network{SubnetID: doc.Group.Network.SubnetID, PrivateIP: doc.Group.Network.PrivateIP}}
		if g.Network.PrivateIP != "" {
			k := ipKey(g.Network.SubnetID, g.Network.PrivateIP)
			if string(ips.Get(k)) == id {
				if err := ips.Delete(k); err != nil {
					return err
				}
			}
		}
		return groups.Delete([]byte(id))
	})
	if err != nil {
		return err
	}
	s.idx.mu.Lock()
	if g := s.idx.groups[id]; g != nil {
		s.idx.drop(g)
	}
	s.idx.mu.Unlock()
	return nil
}

// DefaultNetwork is the network made for an account on first start.
type DefaultNetwork struct {
	VPC           core.VPC
	Subnet        core.Subnet
	SecurityGroup core.SecurityGroup
}

// DefaultNetwork returns the account's default network, if one was made.
func (s *Store) DefaultNetwork(accountID string) (DefaultNetwork, bool, error) {
	var r record.DefaultNetwork
	found, err := s.getSetting(settingDefaultNetwork+accountID, &r)
	if !found || err != nil {
		return DefaultNetwork{}, found, err
	}
	var dn DefaultNetwork
	dn.VPC, dn.Subnet, dn.SecurityGroup = r.ToCore()
	return dn, true, nil
}

// PutDefaultNetwork records the account's default network.
func (s *Store) PutDefaultNetwork(accountID string, dn DefaultNetwork) error {
	return s.putSetting(settingDefaultNetwork+accountID, record.FromDefaultNetwork(dn.VPC, dn.Subnet, dn.SecurityGroup))
}

// GeneratedKey returns the access key generated on first start, if any.
func (s *Store) GeneratedKey() (accessKeyID, secretAccessKey string, found bool, err error) {
	var r record.GeneratedKey
	if found, err = s.getSetting(settingGeneratedKey, &r); !found || err != nil {
		return "", "", found, err
	}
	secret, err := s.seal.Open(r.SealedSecretAccessKey, record.GeneratedKeyAAD(r.AccessKeyID))
	if err != nil {
		return "", "", true, fmt.Errorf("generated key %s: %w", r.AccessKeyID, err)
	}
	return r.AccessKeyID, string(secret), true, nil
}

// PutGeneratedKey records the generated access key, its secret sealed.
func (s *Store) PutGeneratedKey(accessKeyID, secretAccessKey string) error {
	sealed, err := s.seal.Seal([]byte(secretAccessKey), record.GeneratedKeyAAD(accessKeyID))
	if err != nil {
		return err
	}
	return s.putSetting(settingGeneratedKey, record.GeneratedKey{AccessKeyID: accessKeyID, SealedSecretAccessKey: sealed})
}

func (s *Store) getSetting(name string, v any) (bool, error) {
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get([]byte(settingPrefix + name))
		if b == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
		return nil
	})
	return found, err
}

func (s *Store) putSetting(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(settingPrefix+name), b)
	})
}

// RulesEnforced reports since when this state's security groups have been
// enforced (record.RulesEnforced); found is false before.
func (s *Store) RulesEnforced() (since time.Time, found bool, err error) {
	var r record.RulesEnforced
	found, err = s.getSetting(settingRulesEnforced, &r)
	return r.Since, found, err
}

// PutRulesEnforced records that the security groups were given their
// default rules for enforcement.
func (s *Store) PutRulesEnforced(since time.Time) error {
	return s.putSetting(settingRulesEnforced, record.RulesEnforced{Since: since})
}

// PutSecurityGroup records an account's security group and its rules.
func (s *Store) PutSecurityGroup(accountID string, g core.SecurityGroup) error {
	return s.putSetting(settingSecurityGroup+g.ID, record.FromSecurityGroup(accountID, g))
}

// DeleteSecurityGroup forgets a security group; idempotent.
func (s *Store) DeleteSecurityGroup(id string) error {
	return s.deleteSetting(settingSecurityGroup + id)
}

// PutVPC records a VPC made through the API.
func (s *Store) PutVPC(v core.VPC) error { return s.putSetting(settingVPC+v.ID, record.FromVPC(v)) }

// DeleteVPC forgets a VPC; idempotent.
func (s *Store) DeleteVPC(id string) error { return s.deleteSetting(settingVPC + id) }

// PutSubnet records an account's subnet made through the API.
func (s *Store) PutSubnet(accountID string, sub core.Subnet) error {
	return s.putSetting(settingSubnet+sub.ID, record.FromSubnet(accountID, sub))
}

// DeleteSubnet forgets a subnet; idempotent.
func (s *Store) DeleteSubnet(id string) error { return s.deleteSetting(settingSubnet + id) }

// SecurityGroups returns every recorded security group with its account.
func (s *Store) SecurityGroups() ([]record.SecurityGroupDoc, error) {
	return listSettings[record.SecurityGroupDoc](s, settingSecurityGroup)
}

// VPCs returns the VPCs made through the API.
func (s *Store) VPCs() ([]record.NetworkDoc, error) {
	return listSettings[record.NetworkDoc](s, settingVPC)
}

// Subnets returns the subnets made through the API.
func (s *Store) Subnets() ([]record.NetworkDoc, error) {
	return listSettings[record.NetworkDoc](s, settingSubnet)
}

func (s *Store) deleteSetting(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete([]byte(settingPrefix + name))
	})
}

// listSettings decodes every setting under a prefix, in key order.
func listSettings[T any](s *Store, prefix string) ([]T, error) {
	var out []T
	p := []byte(settingPrefix + prefix)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var d T
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("setting %s: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// ImageCaches returns every image cache, in ID order.
func (s *Store) ImageCaches(ctx context.Context) ([]*core.ImageCache, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*core.ImageCache
	p := []byte(settingPrefix + settingImageCache)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			ic, err := record.UnmarshalImageCache(v, s.seal)
			if err != nil {
				return fmt.Errorf("setting %s: %w", k, err)
			}
			out = append(out, ic)
		}
		return nil
	})
	return out, err
}

// PutImageCache records an image cache as it now is, its registry
// passwords sealed.
func (s *Store) PutImageCache(ctx context.Context, c *core.ImageCache) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := record.MarshalImageCache(c, s.seal)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(settingPrefix+settingImageCache+c.ID), b)
	})
}

// DeleteImageCache forgets an image cache; idempotent.
func (s *Store) DeleteImageCache(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.deleteSetting(settingImageCache + id)
}
