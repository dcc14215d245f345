package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerServesAssets(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, contentType, contains string
	}{
		{"/console/", "text/html; charset=utf-8", `<script type="module" src="js/main.js">`},
		{"/console/index.html", "text/html; charset=utf-8", "<title>OpenKCI console</title>"},
		{"/console/console.css", "text/css; charset=utf-8", ".terminal"},
		{"/console/js/main.js", "text/javascript; charset=utf-8", "signInPage"},
		{"/console/js/sigv4.js", "text/javascript; charset=utf-8", "AWS4-HMAC-SHA256"},
		{"/console/icon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := serve(t, h, "GET", tt.path, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d", tt.path, w.Code)
			}
			if got := w.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-cache",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			etag := w.Header().Get("ETag")
			if len(etag) != 34 || etag[0] != '"' {
				t.Fatalf("ETag %q", etag)
			}
			again := serve(t, h, "GET", tt.path, http.Header{"If-None-Match": {`"other", ` + etag}})
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Errorf("If-None-Match with the ETag: %d, %d bytes; want 304, none", again.Code, again.Body.Len())
			}
			if head := serve(t, h, "HEAD", tt.path, nil); head.Code != http.StatusOK || head.Body.Len() != 0 {
				t.Errorf("HEAD: %d, %d bytes", head.Code, head.Body.Len())
			}
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	h := Handler()
	tests := []struct {
		method, path string
		code         int
	}{
		{"GET", "/console/js/", http.StatusNotFound}, // a directory: no listing
		{"GET", "/console/js", http.StatusNotFound},
		{"GET", "/console/nope.js", http.StatusNotFound},
		{"GET", "/console/../go.mod", http.StatusNotFound},
		{"GET", "/console/console.go", http.StatusNotFound},
		{"GET", "/console/assets/index.html", http.StatusNotFound},
		{"POST", "/console/", http.StatusMethodNotAllowed},
		{"GET", "/console", http.StatusMovedPermanently},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := serve(t, h, tt.method, tt.path, nil)
			if w.Code != tt.code {
				t.Fatalf("%d, want %d", w.Code, tt.code)
			}
			if w.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Error("no Content-Security-Policy on a refusal")
			}
			if tt.code == http.StatusNotFound && strings.Contains(w.Body.String(), "<a href") {
				t.Errorf("a listing: %s", w.Body.String())
			}
			if tt.code == http.StatusMovedPermanently && w.Header().Get("Location") != Path {
				t.Errorf("Location %q", w.Header().Get("Location"))
			}
		})
	}
}

// Every embedded file is served (none has a type the handler drops), and
// the page loads nothing from another origin and runs no inline script or
// style, which the Content-Security-Policy would block.
func TestAssetsAreSelfContained(t *testing.T) {
	h := Handler()
	n := 0
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		if _, ok := contentTypes[path.Ext(p)]; !ok {
			t.Errorf("%s: no content type; it would not be served", p)
		}
		w := serve(t, h, "GET", "/console/"+strings.TrimPrefix(p, "assets/"), nil)
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", p, w.Code)
		}
		body := w.Body.String()
		code := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "") // the SVG namespace is a name, not a fetch
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "eval(", "new Function"} {
			if strings.Contains(code, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
		if path.Ext(p) == ".html" {
			for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload="} {
				if strings.Contains(body, bad) {
					t.Errorf("%s has inline %q, which the CSP blocks", p, bad)
				}
			}
		}
		return nil
	})
	if err != nil || n < 8 {
		t.Fatalf("walked %d assets: %v", n, err)
	}
}
