package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openkci/openkci/internal/clock"
)

// clockOffsetEnv names a test-only environment variable: a file holding a
// Go duration ("1h", "-1h", "0s") that kcid adds to the machine's time
// wherever it reads the wall clock (signature skew, creation and event
// times, the runtime's states). kcid re-reads the file every
// clockOffsetPoll, so a test can make kcid's clock jump while it runs, as
// an NTP step would, without changing the machine's clock (the chaos suite,
// test/chaos, does). Go programs do not read the time through libc, so
// libfaketime cannot do this for kcid. Unset, kcid reads time.Now as is.
const clockOffsetEnv = "KCID_TEST_CLOCK_OFFSET_FILE"

const clockOffsetPoll = 100 * time.Millisecond

// offsetClock is time.Now plus an offset that a file sets.
type offsetClock struct {
	path   string
	offset atomic.Int64 // nanoseconds
}

// newClock returns kcid's wall clock: the system's, or with clockOffsetEnv set
// an offset clock kept current until ctx ends. A file that cannot be read
// or parsed at start is an error; later, a bad read keeps the last offset
// and is logged.
func newClock(ctx context.Context, log *slog.Logger) (clock.Clock, error) {
	path := os.Getenv(clockOffsetEnv)
	if path == "" {
		return clock.Real{}, nil
	}
	c := &offsetClock{path: path}
	d, err := c.read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", clockOffsetEnv, err)
	}
	c.offset.Store(int64(d))
	log.Warn("test clock: kcid's wall clock is the machine's plus the offset in a file", "file", path, "offset", d)
	go c.follow(ctx, log)
	return c, nil
}

// Now is the machine's time plus the current offset.
func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) read() (time.Duration, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: want a Go duration such as 1h or -1h: %w", c.path, err)
	}
	return d, nil
}

func (c *offsetClock) follow(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(clockOffsetPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d, err := c.read()
		if err != nil {
			log.Warn("test clock: offset file unreadable; keeping the last offset", "err", err)
			continue
		}
		if old := time.Duration(c.offset.Swap(int64(d))); old != d {
			log.Warn("test clock: offset changed", "from", old, "to", d)
		}
	}
}
