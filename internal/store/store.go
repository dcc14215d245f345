// Package store keeps kcid's state in an embedded bbolt database under the
// data dir: container groups, the IP addresses they hold, and small settings
// such as generated keys and default networks. Every write is one bbolt
// transaction, so a crash never leaves half a group behind.
//
// Schema (bucket tree):
//
//	meta/
//	  schema            → "1"
//	  <setting name>    → JSON of the setting (e.g. generated-key, default-networks/<account>)
//	groups/
//	  <group id>        → JSON of core.Group (DeletedAt set while being deleted)
//	ips/
//	  <subnet id>/<ip>  → group id; a unique index: one live or deleting group per IP
//
// Reads are served from an in-memory index of the groups bucket (index.go),
// updated after each committed transaction.
//
// Update this comment whenever the layout changes, and add a migration.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

const schemaVersion = "1"

var (
	bucketMeta   = []byte("meta")
	bucketGroups = []byte("groups")
	bucketIPs    = []byte("ips")
)

// Store is a bbolt-backed store with an in-memory index for reads. It is
// safe for concurrent use.
type Store struct {
	db  *bolt.DB
	idx *index
	// wmu spans a write transaction and the index update that mirrors it,
	// so the index sees writes in commit order.
	wmu sync.Mutex
}

// Open opens (creating if needed) the database file state.db in dir.
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
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketGroups, bucketIPs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("schema")); {
		case v == nil:
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("unsupported schema version %q (this kcid knows %q)", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	s := &Store{db: db, idx: newIndex()}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return s, nil
}

// load fills the index from the groups bucket.
func (s *Store) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGroups).ForEach(func(k, v []byte) error {
			g := new(core.Group)
			if err := json.Unmarshal(v, g); err != nil {
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
func (s *Store) Groups() ([]*core.Group, error) {
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
func (s *Store) CreateGroup(g *core.Group) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b, err := json.Marshal(g)
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
func (s *Store) MarkDeleting(id string, at time.Time) (*core.Group, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	g := new(core.Group)
	err := s.db.Update(func(tx *bolt.Tx) error {
		groups := tx.Bucket(bucketGroups)
		v := groups.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("group %s: %w", id, errdefs.ErrNotFound)
		}
		if err := json.Unmarshal(v, g); err != nil {
			return err
		}
		if g.DeletedAt != nil {
			return fmt.Errorf("group %s is being deleted: %w", id, errdefs.ErrNotFound)
		}
		g.DeletedAt = &at
		b, err := json.Marshal(g)
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
func (s *Store) PurgeGroup(id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		groups, ips := tx.Bucket(bucketGroups), tx.Bucket(bucketIPs)
		v := groups.Get([]byte(id))
		if v == nil {
			return nil
		}
		g := new(core.Group)
		if err := json.Unmarshal(v, g); err != nil {
			return err
		}
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

// GetSetting reads a JSON setting into v; it reports whether it existed.
func (s *Store) GetSetting(name string, v any) (bool, error) {
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get([]byte("setting/" + name))
		if b == nil {
			return nil
		}
		found = true
		return json.Unmarshal(b, v)
	})
	return found, err
}

// PutSetting stores v as a JSON setting.
func (s *Store) PutSetting(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("setting/"+name), b)
	})
}
