// Package exec owns kcid's exec sessions (ExecContainerCommand): the
// single-use tokens that a WebSocketUri carries, and the WebSocket
// socket that bridges a client to a command in a container, speaking the
// Kubernetes streaming protocols (v5.channel.k8s.io, v4.channel.k8s.io)
// or a plain mode. It runs commands through a Runner (the service), so it
// knows neither runtimes nor the API's wire format. docs/exec.md is the
// protocol's reference.
package exec

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/service"
)

// DefaultTokenTTL is how long an unused token stays valid.
const DefaultTokenTTL = 60 * time.Second

// maxTokens bounds the tokens outstanding at once (issued, not yet
// expired); past it Issue refuses until some expire.
const maxTokens = 10000

// Grant is what a token allows: one command in one container of one
// account's group.
type Grant struct {
	AccountID string
	Target    service.ExecTarget
	Command   []string
	TTY       bool
	Stdin     bool
}

// Token errors: what Redeem says of a token it will not honour.
var (
	ErrTokenUnknown  = errors.New("the exec token is not one this kcid issued")
	ErrTokenUsed     = errors.New("the exec token was already used")
	ErrTokenExpired  = errors.New("the exec token has expired")
	ErrTooManyTokens = errors.New("too many exec tokens are outstanding")
)

// Tokens issues and redeems single-use tokens. Safe for concurrent use.
type Tokens struct {
	ttl   time.Duration
	clock clock.Clock

	mu sync.Mutex
	m  map[string]*tokenEntry
}

type tokenEntry struct {
	grant   Grant
	expires time.Time
	used    bool
}

// NewTokens returns a token store; ttl <= 0 means DefaultTokenTTL.
func NewTokens(ttl time.Duration, c clock.Clock) *Tokens {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Tokens{ttl: ttl, clock: clock.Or(c), m: map[string]*tokenEntry{}}
}

// TTL is how long a token is valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue stores g under a new random token (256 bits, URL-safe).
func (t *Tokens) Issue(g Grant) (token string, expires time.Time, err error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prune(now)
	if len(t.m) >= maxTokens {
		return "", time.Time{}, ErrTooManyTokens
	}
	g.Command = slices.Clone(g.Command)
	expires = now.Add(t.ttl)
	t.m[token] = &tokenEntry{grant: g, expires: expires}
	return token, expires, nil
}

// Redeem returns the grant of a valid token and marks it used. A used
// token is remembered until it would have expired, so that a second use
// is told apart from a made-up token.
func (t *Tokens) Redeem(token string) (Grant, error) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[token]
	switch {
	case !ok:
		return Grant{}, ErrTokenUnknown
	case e.used:
		return Grant{}, ErrTokenUsed
	case !now.Before(e.expires):
		return Grant{}, ErrTokenExpired
	}
	e.used = true
	return e.grant, nil
}

// prune forgets tokens one TTL after they expired (until then Redeem
// can say "expired" rather than "unknown"). Callers hold mu.
func (t *Tokens) prune(now time.Time) {
	for k, e := range t.m {
		if !now.Before(e.expires.Add(t.ttl)) {
			delete(t.m, k)
		}
	}
}
