package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// CheckHead decides from the head alone whenever the scheme allows it, so
// that kcid reads no body for a caller without a real key.
func TestCheckHead(t *testing.T) {
	now := signTime.Add(30 * time.Second)
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		now    time.Time
		signed bool
		code   string // "" means CheckHead lets the request read its body
	}{
		{name: "sigv4 header", req: func(t *testing.T) *http.Request { return signedPOST(t, postBody) }, signed: true},
		{name: "sigv4 header, body not yet read", req: func(t *testing.T) *http.Request {
			r := signedPOST(t, postBody)
			r.Body = http.NoBody // the signature is over a body that has not arrived
			r.ContentLength = 4 << 20
			return r
		}, signed: true},
		{name: "sigv4 presigned", req: func(t *testing.T) *http.Request { r, _ := presigned(t); return r }, signed: true},
		{name: "sigv4 unknown key", req: func(*testing.T) *http.Request { return withAuth(authHeader("AKLTnobody"+scope, "host")) }, code: "InvalidClientTokenId"},
		{name: "sigv4 expired", req: func(t *testing.T) *http.Request { return signedPOST(t, postBody) }, now: signTime.Add(16 * time.Minute), code: "SignatureDoesNotMatch"},
		{name: "sigv4 region not served", req: func(*testing.T) *http.Request {
			return withAuth(authHeader(testAK+"/20240102/cn-nowhere-1/kci/aws4_request", "host"))
		}, code: "SignatureDoesNotMatch"},
		{name: "sigv4 service of another server", req: func(*testing.T) *http.Request {
			return withAuth(authHeader(testAK+"/20240102/"+testRegion+"/ec2/aws4_request", "host"))
		}, code: "SignatureDoesNotMatch"},
		{name: "simplified in query", req: func(*testing.T) *http.Request { return simpleGET(simpleSign(simpleParams(), testSK, false)) }, signed: true},
		{name: "simplified in query, unknown key", req: func(*testing.T) *http.Request {
			p := simpleParams()
			p.Set("Accesskey", "AKLTnobody")
			return simpleGET(simpleSign(p, testSK, false))
		}, code: "InvalidClientTokenId"},
		{name: "nothing, GET", req: func(*testing.T) *http.Request {
			return httptest.NewRequest("GET", "http://"+kciHost+"/?Action=%zz&Action=x", nil)
		}, code: "MissingAuthenticationToken"},
		{name: "nothing, JSON body", req: func(*testing.T) *http.Request {
			r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(`{}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, code: "MissingAuthenticationToken"},
		{name: "nothing, form body may hold a simplified signature", req: func(*testing.T) *http.Request {
			r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(postBody))
			r.Header.Set("Content-Type", formType)
			return r
		}},
		{name: "other algorithm, no body", req: func(*testing.T) *http.Request {
			r := httptest.NewRequest("GET", "http://"+kciHost+"/", nil)
			r.Header.Set("Authorization", "Basic eDp5")
			return r
		}, code: "IncompleteSignature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.now
			if at.IsZero() {
				at = now
			}
			signed, err := newVerifier(at).CheckHead(tc.req(t))
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.code)):
				t.Fatalf("want %s, got %v", tc.code, err)
			case signed != tc.signed:
				t.Fatalf("signed = %v, want %v", signed, tc.signed)
			}
		})
	}
}
