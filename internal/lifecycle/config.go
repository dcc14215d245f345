package lifecycle

import "time"

// Kubelet's numbers, the defaults of Config.
const (
	DefaultBackOffBase   = 10 * time.Second
	DefaultBackOffMax    = 5 * time.Minute
	DefaultBackOffReset  = 10 * time.Minute
	DefaultPullErrorHold = 10 * time.Second
	DefaultMaxEvents     = 100
)

// Config tunes the decisions. The zero value of any field means its default,
// so a Group decoded from JSON (Config is not persisted) works as is.
type Config struct {
	// BackOffBase is the first back-off after a failure (crash, failed pull,
	// failed create); each further consecutive failure doubles it.
	BackOffBase time.Duration
	// BackOffMax caps the back-off.
	BackOffMax time.Duration
	// BackOffReset: an attempt that ran at least this long before exiting
	// resets the crash back-off to BackOffBase.
	BackOffReset time.Duration
	// PullErrorHold is how long a failed pull shows ErrImagePull before the
	// container shows ImagePullBackOff (kubelet's next sync after the error).
	PullErrorHold time.Duration
	// MaxEvents bounds the distinct events kept; the least recently seen is
	// dropped first.
	MaxEvents int
}

// DefaultConfig returns kubelet's numbers: 10 s doubling to 5 min, reset
// after 10 min of clean running, 100 events.
func DefaultConfig() Config {
	return Config{
		BackOffBase:   DefaultBackOffBase,
		BackOffMax:    DefaultBackOffMax,
		BackOffReset:  DefaultBackOffReset,
		PullErrorHold: DefaultPullErrorHold,
		MaxEvents:     DefaultMaxEvents,
	}
}

// withDefaults fills zero fields with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BackOffBase <= 0 {
		c.BackOffBase = d.BackOffBase
	}
	if c.BackOffMax <= 0 {
		c.BackOffMax = d.BackOffMax
	}
	if c.BackOffMax < c.BackOffBase {
		c.BackOffMax = c.BackOffBase
	}
	if c.BackOffReset <= 0 {
		c.BackOffReset = d.BackOffReset
	}
	if c.PullErrorHold <= 0 {
		c.PullErrorHold = d.PullErrorHold
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = d.MaxEvents
	}
	return c
}

// BackOff returns the delay after the (failures+1)th consecutive failure:
// BackOffBase·2^failures, capped at BackOffMax. With the defaults:
// 10s, 20s, 40s, 80s, 160s, 300s, 300s, ...
func (c Config) BackOff(failures int) time.Duration {
	c = c.withDefaults()
	d := c.BackOffBase
	for i := 0; i < failures; i++ {
		if d >= c.BackOffMax/2 {
			return c.BackOffMax
		}
		d *= 2
	}
	return min(d, c.BackOffMax)
}
