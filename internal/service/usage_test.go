package service

import (
	"context"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
)

// newUsageService is a service over a fake runtime that measures groups,
// with a fake clock and no background sampling: the test samples.
func newUsageService(t *testing.T, retention time.Duration) (*Service, *fake.Runtime, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC))
	rt := fake.New()
	s, _ := newServiceWith(t, rt, func(o *Options) {
		o.Clock, o.UsageResolution, o.UsageRetention = clk, -15*time.Second, retention
	})
	return s, rt, clk
}

func TestUsageHistory(t *testing.T) {
	ctx := context.Background()
	// Samples every 15 s, kept 45 s: the ring holds 3.
	s, rt, clk := newUsageService(t, 45*time.Second)
	a, err := s.CreateGroup(ctx, req("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateGroup(ctx, req("b"))
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	for i := range 5 {
		clk.Advance(15 * time.Second)
		rt.SetStats(a.ID, core.GroupStats{Time: clk.Now(), CPUNanos: uint64(i)})
		if i%2 == 0 {
			rt.SetStats(b.ID, core.GroupStats{Time: clk.Now(), CPUNanos: uint64(i)})
		}
		s.SampleUsage(ctx, rt)
	}
	cpus := func(sts []core.GroupStats) []uint64 {
		var out []uint64
		for _, st := range sts {
			out = append(out, st.CPUNanos)
		}
		return out
	}
	tests := []struct {
		name      string
		account   string
		id        string
		from, to  time.Time
		want      []uint64
		wantClass error
	}{
		{"ring keeps the newest, oldest first", "acc", a.ID, start, clk.Now(), []uint64{2, 3, 4}, nil},
		{"a repeated reading is one sample", "acc", b.ID, start, clk.Now(), []uint64{0, 2, 4}, nil},
		{"window", "acc", a.ID, start.Add(45 * time.Second), start.Add(60 * time.Second), []uint64{2, 3}, nil},
		{"default window: the last 5 minutes", "acc", a.ID, time.Time{}, time.Time{}, []uint64{2, 3, 4}, nil},
		{"another account's group is not found", "other", a.ID, time.Time{}, time.Time{}, nil, errdefs.ErrNotFound},
		{"unknown group", "acc", "nope", time.Time{}, time.Time{}, nil, errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, got, err := s.GroupUsage(ctx, tc.account, tc.id, tc.from, tc.to)
			if errdefs.Class(err) != errdefs.Class(tc.wantClass) {
				t.Fatalf("err = %v, want class %v", err, tc.wantClass)
			}
			if err != nil {
				return
			}
			if g.ID != tc.id || !equalU(cpus(got), tc.want) {
				t.Errorf("group %s samples %v, want %s %v", g.ID, cpus(got), tc.id, tc.want)
			}
		})
	}

	if latest := s.LatestUsage(); len(latest) != 2 {
		t.Fatalf("LatestUsage = %+v, want both groups", latest)
	}
	// A deleted group's history goes at the next sample.
	if err := s.DeleteGroup(ctx, "acc", b.ID, false); err != nil {
		t.Fatal(err)
	}
	s.SampleUsage(ctx, rt)
	if latest := s.LatestUsage(); len(latest) != 1 || latest[0].GroupID != a.ID || latest[0].AccountID != "acc" {
		t.Errorf("after deleting %s, LatestUsage = %+v", b.ID, latest)
	}

	counts, err := s.CountGroups(ctx)
	if err != nil || len(counts) != 1 || counts[0] != (GroupCount{AccountID: "acc", Phase: core.PhaseRunning, Count: 1}) {
		t.Errorf("CountGroups = %+v, %v; want acc Running 1", counts, err)
	}
}

func equalU(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
