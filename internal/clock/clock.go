// Package clock is the one source of wall-clock time for kcid's decisions:
// states and events, deadlines, expiry, orphan grace periods and signature
// skew all read the time through a Clock, so tests can fix or advance it and
// a chaos run can shift it. Plain waits (back-off sleeps, tickers, timers)
// use package time directly: they measure an interval on the monotonic
// clock and never compare against a wall-clock reading.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Or returns c, or the system clock when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Offset is the system clock shifted by a fixed duration: what a host whose
// clock was set wrong, or jumped, would read.
type Offset time.Duration

// Now returns time.Now() shifted by the offset.
func (o Offset) Now() time.Time { return time.Now().Add(time.Duration(o)) }

// Fake is a settable clock for tests; safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock reading t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward (or back, with a negative d).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// Set puts the fake time at t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}
