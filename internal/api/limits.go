package api

import (
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// budget is a count of bytes (or of anything) that callers reserve before
// they hold it and give back afterwards. It never blocks: a reservation that
// does not fit is refused.
type budget struct {
	mu        sync.Mutex
	used, max int64
	peak      int64 // most used since it was last idle
}

func (b *budget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

// release gives n back. When nothing is held any more it reports the peak
// of the busy spell that ended.
func (b *budget) release(n int64) (idle bool, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used > 0 {
		return false, 0
	}
	peak, b.peak = b.peak, 0
	return true, peak
}

// returnMemoryAfter is the busy spell of request bodies after which the
// handler hands free memory back to the OS: Go keeps freed heap for reuse,
// so without it kcid's RSS would stay at its peak after a burst.
const returnMemoryAfter = 8 << 20

// memoryReturner hands free memory back to the OS (debug.FreeOSMemory: a
// collection, then every free page) at most every 10 seconds; a request
// made meanwhile is served when the 10 seconds are over. Its goroutine
// exists only while there is something to do.
type memoryReturner struct {
	mu               sync.Mutex
	running, pending bool
}

func (m *memoryReturner) request() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running {
		m.pending = true
		return
	}
	m.running = true
	go m.loop()
}

func (m *memoryReturner) loop() {
	for {
		debug.FreeOSMemory()
		time.Sleep(10 * time.Second)
		m.mu.Lock()
		if !m.pending {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.pending = false
		m.mu.Unlock()
	}
}

// perClient counts what each client (an IP address) holds, up to a cap. A
// client's entry is dropped when its count returns to zero, so the map holds
// only clients with something open.
type perClient struct {
	max int

	mu sync.Mutex
	n  map[string]int
}

func newPerClient(max int) *perClient { return &perClient{max: max, n: map[string]int{}} }

func (p *perClient) acquire(client string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[client] >= p.max {
		return false
	}
	p.n[client]++
	return true
}

func (p *perClient) release(client string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[client]--; p.n[client] <= 0 {
		delete(p.n, client)
	}
}

// clientOf is the client a remote address belongs to: its IP address.
func clientOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// LimitListener caps the connections l hands out: at most max open in all
// and perClient per client IP. A connection over either cap is closed as
// soon as it is accepted, before anything is read from it, and Accept goes
// on to the next one; the refusals are logged at most every 10 seconds.
func LimitListener(l net.Listener, max, perClientMax int, log *slog.Logger) net.Listener {
	return &limitListener{Listener: l, total: budget{max: int64(max)}, clients: newPerClient(perClientMax),
		log: log, sometimes: rate.Sometimes{Interval: 10 * time.Second}}
}

type limitListener struct {
	net.Listener
	total     budget
	clients   *perClient
	log       *slog.Logger
	sometimes rate.Sometimes

	mu      sync.Mutex
	refused int64 // since the last log line
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientOf(c.RemoteAddr().String())
		if !l.total.reserve(1) {
			l.refuse(c, client, "too many connections")
			continue
		}
		if !l.clients.acquire(client) {
			l.total.release(1)
			l.refuse(c, client, "too many connections from this client")
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.clients.release(client); l.total.release(1) }}, nil
	}
}

func (l *limitListener) refuse(c net.Conn, client, why string) {
	c.Close()
	l.mu.Lock()
	l.refused++
	l.mu.Unlock()
	l.sometimes.Do(func() {
		l.mu.Lock()
		n := l.refused
		l.refused = 0
		l.mu.Unlock()
		l.log.Warn("refusing connections", "reason", why, "client", client, "refused_since_last_report", n)
	})
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
