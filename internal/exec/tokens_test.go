package exec

import (
	"errors"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/service"
)

func TestTokens(t *testing.T) {
	grant := Grant{AccountID: "acc-1", Target: service.ExecTarget{GroupID: "g", Container: "main"}, Command: []string{"sh"}, TTY: true, Stdin: true}
	for _, tc := range []struct {
		name string
		// steps: advance the clock by the duration, then redeem.
		steps []time.Duration
		want  []error
	}{
		{"first use", []time.Duration{0}, []error{nil}},
		{"second use refused", []time.Duration{0, 0}, []error{nil, ErrTokenUsed}},
		{"just before expiry", []time.Duration{59 * time.Second}, []error{nil}},
		{"at expiry", []time.Duration{60 * time.Second}, []error{ErrTokenExpired}},
		{"used then expired", []time.Duration{0, 90 * time.Second}, []error{nil, ErrTokenUsed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clock.NewFake(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC))
			tokens := NewTokens(0, c)
			tok, expires, err := tokens.Issue(grant)
			if err != nil {
				t.Fatal(err)
			}
			if !expires.Equal(c.Now().Add(DefaultTokenTTL)) || len(tok) < 40 {
				t.Fatalf("token %q expires %v", tok, expires)
			}
			for i, d := range tc.steps {
				c.Advance(d)
				g, err := tokens.Redeem(tok)
				if !errors.Is(err, tc.want[i]) {
					t.Fatalf("step %d: Redeem = %v, want %v", i, err, tc.want[i])
				}
				if err == nil && (g.AccountID != "acc-1" || g.Target.Container != "main" || g.Command[0] != "sh" || !g.TTY || !g.Stdin) {
					t.Fatalf("grant %+v", g)
				}
			}
		})
	}
}

func TestTokensUnknownAndPruned(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC))
	tokens := NewTokens(10*time.Second, c)
	if _, err := tokens.Redeem("made-up"); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("made-up token: %v", err)
	}
	old, _, _ := tokens.Issue(Grant{AccountID: "a"})
	c.Advance(15 * time.Second)
	if _, err := tokens.Redeem(old); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	// One TTL after expiry an Issue forgets it.
	c.Advance(10 * time.Second)
	if _, _, err := tokens.Issue(Grant{AccountID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Redeem(old); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("pruned token: %v", err)
	}
	if n := len(tokens.m); n != 1 {
		t.Fatalf("%d tokens kept, want 1", n)
	}
}

func TestTokensBounded(t *testing.T) {
	tokens := NewTokens(time.Minute, clock.NewFake(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)))
	for i := 0; i < maxTokens; i++ {
		if _, _, err := tokens.Issue(Grant{AccountID: "a"}); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if _, _, err := tokens.Issue(Grant{AccountID: "a"}); !errors.Is(err, ErrTooManyTokens) {
		t.Fatalf("token past the bound: %v", err)
	}
}

func TestSessionsAcquire(t *testing.T) {
	s := NewSessions(nil, 2, nil)
	r1, err1 := s.Acquire("a")
	_, err2 := s.Acquire("a")
	_, err3 := s.Acquire("a")
	_, errB := s.Acquire("b")
	if err1 != nil || err2 != nil || !errors.Is(err3, ErrTooManySessions) || errB != nil {
		t.Fatalf("acquire: %v %v %v %v", err1, err2, err3, errB)
	}
	r1()
	r1() // idempotent
	if _, err := s.Acquire("a"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if _, err := s.Acquire("a"); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("double release freed two slots: %v", err)
	}
}
