package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/auth"
)

// TestUnsignedPayloadBody checks that a signature which covers no body hash
// (UNSIGNED-PAYLOAD, header or query mode) authenticates only an empty body:
// the API layer merges a form body's params into the call, so otherwise
// anyone holding a presigned URL could add parameters to it.
func TestUnsignedPayloadBody(t *testing.T) {
	v := newVerifier(signTime.Add(30 * time.Second))
	srv := newServerShowing(t, v, "kci", func(id *auth.Identity) string {
		return fmt.Sprintf("OK %s bodySigned=%t", id.Scheme, id.BodySigned)
	})

	const (
		unsigned = "UNSIGNED-PAYLOAD"
		extra    = "Action=CreateContainerGroup&Volume.0.HostPath=%2F&Container.0.Command=sh"
		mismatch = "SignatureDoesNotMatch\nThe request signature we calculated does not match the signature you provided."
	)
	newReq := func(method, query, body string, headers map[string]string) *http.Request {
		t.Helper()
		r, err := http.NewRequest(method, srv.URL+"/?"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body == "" {
			r.Body, r.ContentLength = nil, 0
		}
		for k, val := range headers {
			r.Header.Set(k, val)
		}
		return r
	}
	// withBody resends a presigned request with another body: the URL and
	// headers are exactly what the holder of the URL was given.
	withBody := func(r *http.Request, method, body string) *http.Request {
		t.Helper()
		out, err := http.NewRequest(method, r.URL.String(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out.Header = r.Header.Clone()
		out.Header.Set("Content-Type", formType)
		return out
	}
	form := map[string]string{"Content-Type": formType}
	describe := "Action=DescribeContainerGroup&Version=2020-07-02"

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		want   string
	}{
		// Query mode (presigned URL).
		{"presigned POST, UNSIGNED-PAYLOAD, form body", func() *http.Request {
			return sdkPresign(t, newReq("POST", "", unicodeForm, form), unicodeForm, unsigned, signTime)
		}, 403, mismatch},
		{"presigned POST signed without body, body added", func() *http.Request {
			req := sdkPresign(t, newReq("POST", describe, "", form), "", unsigned, signTime)
			return withBody(req, "POST", extra)
		}, 403, mismatch},
		{"presigned GET, body added", func() *http.Request {
			req := sdkPresign(t, newReq("GET", describe, "", nil), "", unsigned, signTime)
			return withBody(req, "GET", extra)
		}, 403, mismatch},
		{"presigned POST, UNSIGNED-PAYLOAD, JSON body", func() *http.Request {
			h := map[string]string{"Content-Type": "application/json"}
			return sdkPresign(t, newReq("POST", describe, `{"a":1}`, h), `{"a":1}`, unsigned, signTime)
		}, 403, mismatch},
		{"presigned POST signed with empty-body hash, body added", func() *http.Request {
			req := sdkPresign(t, newReq("POST", describe, "", form), "", bodyHash(""), signTime)
			return withBody(req, "POST", extra)
		}, 403, mismatch},
		{"presigned GET, UNSIGNED-PAYLOAD, no body", func() *http.Request {
			return sdkPresign(t, newReq("GET", describe, "", nil), "", unsigned, signTime)
		}, 200, "OK sigv4-query bodySigned=false"},
		{"presigned POST, UNSIGNED-PAYLOAD, no body", func() *http.Request {
			return sdkPresign(t, newReq("POST", describe, "", form), "", unsigned, signTime)
		}, 200, "OK sigv4-query bodySigned=false"},
		{"presigned GET, empty-body hash, no body", func() *http.Request {
			return sdkPresign(t, newReq("GET", describe, "", nil), "", bodyHash(""), signTime)
		}, 200, "OK sigv4-query bodySigned=true"},
		{"presigned POST, body hash, form body", func() *http.Request {
			return sdkPresign(t, newReq("POST", "", unicodeForm, form), unicodeForm, bodyHash(unicodeForm), signTime)
		}, 200, "OK sigv4-query bodySigned=true"},

		// Header mode.
		{"header, X-Amz-Content-Sha256: UNSIGNED-PAYLOAD, form body", func() *http.Request {
			r := newReq("POST", "", unicodeForm, map[string]string{"Content-Type": formType, "X-Amz-Content-Sha256": unsigned})
			sdkSign(t, r, unsigned, "kci", testRegion, signTime)
			return r
		}, 403, mismatch},
		{"header, X-Amz-Content-Sha256: UNSIGNED-PAYLOAD, no body", func() *http.Request {
			r := newReq("GET", describe, "", map[string]string{"X-Amz-Content-Sha256": unsigned})
			sdkSign(t, r, unsigned, "kci", testRegion, signTime)
			return r
		}, 200, "OK sigv4-header bodySigned=false"},
		{"header, X-Amz-Content-Sha256: UNSIGNED-PAYLOAD, empty POST", func() *http.Request {
			r := newReq("POST", describe, "", map[string]string{"Content-Type": formType, "X-Amz-Content-Sha256": unsigned})
			sdkSign(t, r, unsigned, "kci", testRegion, signTime)
			return r
		}, 200, "OK sigv4-header bodySigned=false"},
		{"header, signed body hash, form body", func() *http.Request {
			r := newReq("POST", "", unicodeForm, map[string]string{"Content-Type": formType, "X-Amz-Content-Sha256": bodyHash(unicodeForm)})
			sdkSign(t, r, bodyHash(unicodeForm), "kci", testRegion, signTime)
			return r
		}, 200, "OK sigv4-header bodySigned=true"},
		{"header, no X-Amz-Content-Sha256, form body", func() *http.Request {
			r := newReq("POST", "", unicodeForm, form)
			sdkSign(t, r, bodyHash(unicodeForm), "kci", testRegion, signTime)
			return r
		}, 200, "OK sigv4-header bodySigned=true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			status, got := do(t, req)
			if status != tc.status || got != tc.want {
				t.Fatalf("status %d %q, want %d %q\nURL: %s\nAuthorization: %s", status, got, tc.status, tc.want, req.URL, req.Header.Get("Authorization"))
			}
		})
	}
}
