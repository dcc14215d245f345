package api

import "testing"

func TestBudget(t *testing.T) {
	b := budget{max: 10}
	type step struct {
		reserve, release int64
		ok, idle         bool
		peak             int64
	}
	for i, s := range []step{
		{reserve: 6, ok: true},
		{reserve: 5, ok: false}, // would exceed 10
		{reserve: 4, ok: true},
		{release: 4},
		{release: 6, idle: true, peak: 10},
		{reserve: 3, ok: true},
		{release: 3, idle: true, peak: 3}, // the peak restarts after idle
	} {
		if s.reserve > 0 {
			if got := b.reserve(s.reserve); got != s.ok {
				t.Fatalf("step %d: reserve(%d) = %v", i, s.reserve, got)
			}
			continue
		}
		if idle, peak := b.release(s.release); idle != s.idle || peak != s.peak {
			t.Fatalf("step %d: release(%d) = %v, %d; want %v, %d", i, s.release, idle, peak, s.idle, s.peak)
		}
	}
}
