package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// LocalRegistry is a running local registry (Debian's docker-registry,
// distribution 2.8) that requires basic auth (htpasswd, bcrypt). It speaks
// plain HTTP on a loopback port.
type LocalRegistry struct {
	Host     string // "127.0.0.1:PORT"
	Username string
	Password string
	Dir      string // its temporary directory (config, htpasswd, data, log)
}

// URL returns "http://" + Host.
func (r LocalRegistry) URL() string { return "http://" + r.Host }

// Ref returns the full reference Host/repo:tag.
func (r LocalRegistry) Ref(repo, tag string) string { return r.Host + "/" + repo + ":" + tag }

// Log returns the tail of the registry's log, for failure messages.
func (r LocalRegistry) Log() string { return TailFile(filepath.Join(r.Dir, "registry.log"), 40) }

var (
	registryOnce sync.Once
	registry     LocalRegistry
	registryErr  error
)

// Registry returns the registry of this test process, starting it on first
// use: /usr/bin/docker-registry with a config written to a temporary
// directory (filesystem storage there, htpasswd auth with a bcrypt file
// made by `htpasswd -Bbn`) on a free loopback port. It answers /v2/ with
// 401 without credentials. Main/Cleanup stop it.
//
// If it cannot be had the test is skipped, or fails when CI=true.
func Registry(t testing.TB) LocalRegistry {
	t.Helper()
	registryOnce.Do(func() {
		start := time.Now()
		registry, registryErr = startRegistry()
		registryStartTime = time.Since(start)
	})
	if registryErr != nil {
		SkipOrFatal(t, "registry unavailable: %v", registryErr)
	}
	return registry
}

// registryStartTime is how long starting the registry took.
var registryStartTime time.Duration

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

const registryConfig = `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %[1]q
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: %[2]q
  secret: %[3]q
auth:
  htpasswd:
    realm: openkci-test
    path: %[4]q
`

func startRegistry() (LocalRegistry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return LocalRegistry{}, fmt.Errorf("docker-registry not found (install docker-registry): %w", err)
	}
	htpasswd, err := exec.LookPath("htpasswd")
	if err != nil {
		return LocalRegistry{}, fmt.Errorf("htpasswd not found (install apache2-utils): %w", err)
	}
	dir, err := makeDir("openkci-registry-")
	if err != nil {
		return LocalRegistry{}, err
	}
	reg := LocalRegistry{Username: "openkci", Password: randomHex(12), Dir: dir}
	ok := false
	defer func() {
		if !ok && !keepDirs() {
			os.RemoveAll(dir)
		}
	}()

	// -B: bcrypt, the only hash distribution's htpasswd accepts.
	line, err := run(context.Background(), 30*time.Second, htpasswd, "-Bbn", reg.Username, reg.Password)
	if err != nil {
		return LocalRegistry{}, err
	}
	htpasswdPath := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswdPath, []byte(line), 0o600); err != nil {
		return LocalRegistry{}, err
	}

	// A free port is picked by listening on :0 and closing; another process
	// may take it in between, so a failed start is retried on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return LocalRegistry{}, err
		}
		reg.Host = l.Addr().String()
		l.Close()

		cfgPath := filepath.Join(dir, "config.yml")
		cfg := fmt.Sprintf(registryConfig, filepath.Join(dir, "data"), reg.Host, randomHex(16), htpasswdPath)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return LocalRegistry{}, err
		}
		d, err := startDaemon("docker-registry", filepath.Join(dir, "registry.log"),
			[]string{bin, "serve", cfgPath}, append(os.Environ(), "OTEL_TRACES_EXPORTER=none"))
		if err != nil {
			return LocalRegistry{}, err
		}
		if err := waitRegistry(d, reg.Host, 15*time.Second); err != nil {
			d.stop(2 * time.Second)
			lastErr = err
			continue
		}
		addCleanup(func() {
			d.stop(5 * time.Second)
			if !keepDirs() {
				os.RemoveAll(dir)
			} else {
				fmt.Fprintf(os.Stderr, "testenv: kept registry directory %s\n", dir)
			}
		})
		ok = true
		return reg, nil
	}
	return LocalRegistry{}, lastErr
}

// waitRegistry waits until GET /v2/ answers 401 (auth required).
func waitRegistry(d *daemon, host string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if d.exited() {
			return fmt.Errorf("docker-registry exited (%v); log %s:\n%s", d.err, d.log, d.logTail(30))
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			return fmt.Errorf("docker-registry on %s: GET /v2/ answered %s, want 401", host, resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("docker-registry did not answer on %s within %v: %v; log %s:\n%s", host, timeout, err, d.log, d.logTail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
