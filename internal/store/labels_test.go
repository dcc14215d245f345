package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// The label index follows creates, deletion marks, purges and a reopen,
// and never shows another account's groups.
func TestLabelIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	labeled := func(id, account string, labels ...string) *core.Group {
		g := group(id, "sub", "10.0.0."+id)
		g.AccountID = account
		for i := 0; i < len(labels); i += 2 {
			g.Labels = append(g.Labels, core.Label{Key: labels[i], Value: labels[i+1]})
		}
		return g
	}
	for _, g := range []*core.Group{
		labeled("1", "a", "cluster-id", "c1", "namespace", "default"),
		labeled("2", "a", "cluster-id", "c1"),
		labeled("3", "a", "cluster-id", "c2", "empty", ""),
		labeled("4", "b", "cluster-id", "c1"),
		labeled("5", "a"),
	} {
		if err := s.CreateGroup(bg, g); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store, when string, cases []struct {
		account, key string
		values       []string
		ids          string
		counts       string
	}) {
		t.Helper()
		for _, tc := range cases {
			gs, err := s.LabeledGroups(bg, tc.account, tc.key, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, g := range gs {
				ids = append(ids, g.ID)
			}
			slices.Sort(ids)
			counts, err := s.CountLabel(bg, tc.account, tc.key, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ids) != tc.ids || fmt.Sprint(counts) != tc.counts {
				t.Errorf("%s: %s %s=%v: groups %v counts %v, want %s %s", when, tc.account, tc.key, tc.values, ids, counts, tc.ids, tc.counts)
			}
		}
	}
	type c = struct {
		account, key string
		values       []string
		ids          string
		counts       string
	}
	check(s, "created", []c{
		{"a", "cluster-id", []string{"c1"}, "[1 2]", "map[c1:2]"},
		{"a", "cluster-id", []string{"c1", "c2", "c1"}, "[1 2 3]", "map[c1:2 c2:1]"},
		{"a", "cluster-id", nil, "[]", "map[c1:2 c2:1]"},
		{"a", "cluster-id", []string{"c9"}, "[]", "map[c9:0]"},
		{"a", "empty", []string{""}, "[3]", "map[:1]"},
		{"b", "cluster-id", []string{"c1"}, "[4]", "map[c1:1]"},
		{"c", "cluster-id", []string{"c1"}, "[]", "map[c1:0]"},
		{"a", "nope", nil, "[]", "map[]"},
	})
	if _, err := s.MarkDeleting(bg, "1", time.Unix(1700000100, 0)); err != nil {
		t.Fatal(err)
	}
	check(s, "1 being deleted", []c{
		{"a", "cluster-id", []string{"c1"}, "[2]", "map[c1:1]"},
		{"a", "namespace", nil, "[]", "map[]"},
	})
	if err := s.PurgeGroup(bg, "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "reopened", []c{
		{"a", "cluster-id", []string{"c1", "c2"}, "[2 3]", "map[c1:1 c2:1]"},
		{"b", "cluster-id", nil, "[]", "map[c1:1]"},
	})
	if n := len(s.idx.labels["a"]); n != 2 {
		t.Errorf("account a indexes %d label keys, want 2 (cluster-id, empty)", n)
	}
}
