package config

import (
	"fmt"
	"net/url"
	"time"
)

// Exec configures ExecContainerCommand (docs/exec.md).
type Exec struct {
	// TokenTTL is how long a WebSocketUri stays valid unused (60s).
	TokenTTL Duration `yaml:"tokenTTL"`
	// BaseURI is the start of every WebSocketUri, for a kcid behind a
	// proxy: e.g. wss://kci.example.com/kcid (the socket path /exec/TOKEN
	// is appended). Empty: ws:// (wss:// under TLS) and the Host the
	// ExecContainerCommand request was sent to.
	BaseURI string `yaml:"baseURI"`
	// SyncTimeout bounds a Sync=true command (30s); it is killed then.
	SyncTimeout Duration `yaml:"syncTimeout"`
	// MaxSessionsPerAccount bounds an account's open sockets (32).
	MaxSessionsPerAccount int `yaml:"maxSessionsPerAccount"`
}

func (e *Exec) applyDefaults() {
	if e.TokenTTL == 0 {
		e.TokenTTL = Duration(60 * time.Second)
	}
	if e.SyncTimeout == 0 {
		e.SyncTimeout = Duration(30 * time.Second)
	}
	if e.MaxSessionsPerAccount == 0 {
		e.MaxSessionsPerAccount = 32
	}
}

func (e *Exec) validate() error {
	if e.TokenTTL < 0 || e.SyncTimeout < 0 || e.MaxSessionsPerAccount < 0 {
		return fmt.Errorf("exec: tokenTTL, syncTimeout and maxSessionsPerAccount must not be negative")
	}
	if e.BaseURI != "" {
		u, err := url.Parse(e.BaseURI)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("exec: baseURI %q must be a ws:// or wss:// URL with a host and no query, e.g. wss://kci.example.com/kcid", e.BaseURI)
		}
	}
	return nil
}
