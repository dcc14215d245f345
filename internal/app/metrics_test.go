package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/runtime/fake"
)

// Where /metrics is served and who may read it, through app.Serve's real
// listeners: on the API's address by default; with metrics.listen only
// there; with a token only for its bearer.
func TestMetricsEndpoint(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	get := func(url, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error() // not listening yet
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	metricsAddr := free()
	tests := []struct {
		name    string
		metrics config.Metrics
		// want: what GET /metrics gives on the API's and on the metrics
		// address, without and with the token (0: not asked).
		apiNoToken, apiToken, ownNoToken, ownToken int
	}{
		{"default: on the API's address, open", config.Metrics{}, 200, 0, 0, 0},
		{"token on the API's address", config.Metrics{Token: "t0k"}, 401, 200, 0, 0},
		{"an address of its own, with a token", config.Metrics{Listen: metricsAddr, Token: "t0k"}, 400, 400, 401, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load("")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Metrics = tc.metrics
			a, err := New(context.Background(), Options{DataDir: t.TempDir(), Runtime: fake.New(), Config: cfg, Insecure: true,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Serve(ctx, l) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			check := func(where, url, token string, want int) {
				t.Helper()
				if want == 0 {
					return
				}
				for range 50 { // the metrics listener starts with Serve
					code, body := get(url, token)
					if code == 0 {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					if code == want {
						if want == 200 && !strings.Contains(body, "kcid_image_pull_bytes_total") {
							t.Errorf("%s: 200 without kcid's series:\n%.300s", where, body)
						}
						return
					}
					if code != 0 {
						t.Fatalf("%s (token %q): %d, want %d: %.200s", where, token, code, want, body)
					}
				}
				t.Fatalf("%s: nothing answers", where)
			}
			check("API address", "http://"+l.Addr().String()+"/metrics", "", tc.apiNoToken)
			check("API address", "http://"+l.Addr().String()+"/metrics", "t0k", tc.apiToken)
			check("metrics address", "http://"+tc.metrics.Listen+"/metrics", "", tc.ownNoToken)
			check("metrics address", "http://"+tc.metrics.Listen+"/metrics", "t0k", tc.ownToken)
		})
	}
}
