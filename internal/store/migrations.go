package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/record"
)

// migration upgrades the database from version-1 to version, in one
// transaction. A migration test (migrations_test.go) MUST be added for
// each, over a state.db written by the release before it.
type migration struct {
	version int
	what    string
	migrate func(tx *bolt.Tx, s record.Sealer) error
}

// migrations run in order at Open; schemaVersion is the last one's version.
var migrations = []migration{
	{2, "records with explicit field names and versions; registry passwords and the generated secret sealed", migrateV2},
	{3, "group records of version 3 (GPUs held and probes, which a schema-2 kcid must not read as absent)", migrateV3},
}

// migrateV2 rewrites version 1 values (encoding/json of the core types of
// then) as current records.
func migrateV2(tx *bolt.Tx, s record.Sealer) error {
	err := rewriteGroups(tx, func(v []byte) (*core.Group, error) { return record.DecodeGroup(1, v, nil) }, s)
	if err != nil {
		return err
	}
	type kv struct{ k, v []byte }
	var metaRewrites []kv
	meta := tx.Bucket(bucketMeta)
	c := meta.Cursor()
	for k, v := c.Seek([]byte(settingPrefix)); k != nil && bytes.HasPrefix(k, []byte(settingPrefix)); k, v = c.Next() {
		name := string(k[len(settingPrefix):])
		var b []byte
		switch {
		case name == settingGeneratedKey:
			var v1 record.GeneratedKeyV1
			if err := json.Unmarshal(v, &v1); err != nil {
				return fmt.Errorf("setting %s: %w", name, err)
			}
			sealed, err := s.Seal([]byte(v1.SecretAccessKey), record.GeneratedKeyAAD(v1.AccessKeyID))
			if err != nil {
				return err
			}
			b, err = json.Marshal(record.GeneratedKey{AccessKeyID: v1.AccessKeyID, SealedSecretAccessKey: sealed})
			if err != nil {
				return err
			}
		case bytes.HasPrefix([]byte(name), []byte(settingDefaultNetwork)):
			dn, err := record.DefaultNetworkFromV1(v)
			if err != nil {
				return fmt.Errorf("setting %s: %w", name, err)
			}
			if b, err = json.Marshal(dn); err != nil {
				return err
			}
		default:
			return fmt.Errorf("setting %s: unknown to schema version 1", name)
		}
		metaRewrites = append(metaRewrites, kv{bytes.Clone(k), b})
	}
	for _, r := range metaRewrites {
		if err := meta.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// migrateV3 rewrites every group record as a version 3 record. The content
// does not change (version 2 reads as version 3, see package record); the
// new version, and this schema's, make a kcid of schema 2 refuse the file
// rather than run groups without the GPUs they hold and their probes.
func migrateV3(tx *bolt.Tx, s record.Sealer) error {
	return rewriteGroups(tx, func(v []byte) (*core.Group, error) { return record.UnmarshalGroup(v, s) }, s)
}

// rewriteGroups rewrites every group record as a current one, read with
// decode.
func rewriteGroups(tx *bolt.Tx, decode func(v []byte) (*core.Group, error), s record.Sealer) error {
	groups := tx.Bucket(bucketGroups)
	type kv struct{ k, v []byte }
	var rewrites []kv
	err := groups.ForEach(func(k, v []byte) error {
		g, err := decode(v)
		if err != nil {
			return fmt.Errorf("group %s: %w", k, err)
		}
		b, err := record.MarshalGroup(g, s)
		if err != nil {
			return fmt.Errorf("group %s: %w", k, err)
		}
		rewrites = append(rewrites, kv{bytes.Clone(k), b})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rewrites {
		if err := groups.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}
