package clock

import (
	"sync"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	epoch := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	f := NewFake(epoch)
	tests := []struct {
		name string
		do   func()
		want time.Time
	}{
		{"starts at epoch", func() {}, epoch},
		{"advance", func() { f.Advance(90 * time.Second) }, epoch.Add(90 * time.Second)},
		{"advance back", func() { f.Advance(-30 * time.Second) }, epoch.Add(60 * time.Second)},
		{"set", func() { f.Set(epoch.Add(time.Hour)) }, epoch.Add(time.Hour)},
	}
	for _, tc := range tests {
		tc.do()
		if got := f.Now(); !got.Equal(tc.want) {
			t.Errorf("%s: Now() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				f.Advance(time.Second)
				_ = f.Now()
			}
		}()
	}
	wg.Wait()
	if got := f.Now(); !got.Equal(time.Unix(800, 0)) {
		t.Fatalf("after 800 concurrent advances of 1s: %v", got)
	}
}

func TestOffsetAndOr(t *testing.T) {
	before := time.Now().Add(time.Hour)
	got := Offset(time.Hour).Now()
	after := time.Now().Add(time.Hour)
	if got.Before(before) || got.After(after) {
		t.Fatalf("Offset(1h).Now() = %v, want within [%v, %v]", got, before, after)
	}
	if _, ok := Or(nil).(Real); !ok {
		t.Fatalf("Or(nil) = %T, want Real", Or(nil))
	}
	f := NewFake(time.Unix(5, 0))
	if Or(f) != Clock(f) {
		t.Fatalf("Or(f) did not return f")
	}
}
