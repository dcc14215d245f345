package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// RegistryProxy is a reverse proxy in front of the local registry on a
// loopback port of its own, which a test can block: images referenced
// through its Host are pulled through it, so a test proves a start did not
// contact the registry (Requests does not grow, and a blocked proxy
// answers 503 to everything).
type RegistryProxy struct {
	// Host is "127.0.0.1:PORT": use it in image references instead of the
	// registry's.
	Host string

	mu       sync.Mutex
	blocked  bool
	requests int
}

// NewRegistryProxy starts a proxy to reg, stopped when the test ends.
func NewRegistryProxy(t testing.TB, reg LocalRegistry) *RegistryProxy {
	t.Helper()
	target, err := url.Parse(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := &RegistryProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		blocked := p.blocked
		p.mu.Unlock()
		if blocked {
			http.Error(w, "blocked by the test", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	p.Host = l.Addr().String()
	return p
}

// Ref is the reference of repo:tag through the proxy.
func (p *RegistryProxy) Ref(repo, tag string) string { return p.Host + "/" + repo + ":" + tag }

// Block makes every request fail (503) until Unblock.
func (p *RegistryProxy) Block() {
	p.mu.Lock()
	p.blocked = true
	p.mu.Unlock()
}

// Unblock lets requests through again.
func (p *RegistryProxy) Unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

// Requests counts the requests the proxy received, blocked ones included.
func (p *RegistryProxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}
