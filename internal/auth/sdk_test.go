package auth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Requests signed by aws-sdk-go-v2's signer, sent over real HTTP.

const (
	formType = "application/x-www-form-urlencoded"
	// A body with spaces ('+' and %20), unicode, '~', '*' and a literal '+'.
	unicodeForm = "Action=CreateContainerGroup&Container.0.Name=%E5%91%A8%E5%9B%9B+test&ContainerGroupName=my+group%20x&Tag.0.Value=a%2Bb~c*d&Version=2020-07-02"
)

func TestSDKHeaderMode(t *testing.T) {
	srv := newServer(t, newVerifier(signTime.Add(30*time.Second)), "kci")
	tests := []struct {
		name    string
		method  string
		path    string // path and query appended to the server URL
		body    string
		headers map[string]string
		multi   map[string][]string
		payload string // payload hash to sign; "" means the body's hash
	}{
		{name: "POST form, sdk-go header set", method: "POST", path: "/", body: unicodeForm,
			headers: map[string]string{"Accept": "application/json", "Content-Type": formType}},
		{name: "POST form with charset", method: "POST", path: "/", body: unicodeForm,
			headers: map[string]string{"Content-Type": formType + "; charset=utf-8"}},
		{name: "GET query, spaces, unicode, repeated keys", method: "GET",
			path:    "/?Version=2020-07-02&Action=DescribeContainerGroup&Filter.1.Value.1=z%20z&Filter.1.Value.1=a+a&Name=%E5%91%A8~*&Empty=",
			headers: map[string]string{"Accept": "application/json", "Content-Type": formType}},
		{name: "GET with no query", method: "GET", path: "/"},
		{name: "POST with query (Java style) and body", method: "POST", path: "/?Action=CreateContainerGroup&Version=2020-07-02&AccountId=123",
			body: "ContainerGroupName=a+b&Cpu=1", headers: map[string]string{"Content-Type": formType}},
		{name: "signed X-Amz-Content-Sha256", method: "POST", path: "/", body: unicodeForm,
			headers: map[string]string{"Content-Type": formType, "X-Amz-Content-Sha256": bodyHash(unicodeForm)}},
		// UNSIGNED-PAYLOAD with a body is refused: TestUnsignedPayloadBody.
		{name: "UNSIGNED-PAYLOAD, no body", method: "GET", path: "/?Action=DescribeContainerGroup", payload: "UNSIGNED-PAYLOAD",
			headers: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}},
		{name: "header values with runs of spaces, multi-valued header", method: "POST", path: "/", body: "Action=X",
			headers: map[string]string{"Content-Type": formType, "X-Kci-Note": "  a   b  c  "},
			multi:   map[string][]string{"X-Kci-Multi": {"one", " two  three "}}},
		{name: "odd path, double-encoded by the signer", method: "GET", path: "/some%20dir/%E5%91%A8/a+b~?Action=DescribeContainerGroup"},
		{name: "empty POST body", method: "POST", path: "/", headers: map[string]string{"Content-Type": formType}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var r *http.Request
			var err error
			if body != nil {
				r, err = http.NewRequest(tc.method, srv.URL+tc.path, body)
			} else {
				r, err = http.NewRequest(tc.method, srv.URL+tc.path, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			for k, vs := range tc.multi {
				r.Header[k] = vs
			}
			payload := tc.payload
			if payload == "" {
				payload = bodyHash(tc.body)
			}
			sdkSign(t, r, payload, "kci", testRegion, signTime)
			status, got := do(t, r)
			if want := "OK sigv4-header " + testAK + " cn-beijing-6 kci"; status != 200 || got != want {
				t.Fatalf("status %d %q, want 200 %q\nAuthorization: %s", status, got, want, r.Header.Get("Authorization"))
			}
		})
	}
}

// TestSDKHeaderModeTampered checks that a signed request altered in flight is
// rejected: the handler sees different bytes from what was signed.
func TestSDKHeaderModeTampered(t *testing.T) {
	srv := newServer(t, newVerifier(signTime.Add(30*time.Second)), "kci")
	mismatch := "SignatureDoesNotMatch\nThe request signature we calculated does not match the signature you provided."
	tests := []struct {
		name   string
		tamper func(r *http.Request) *http.Request
	}{
		{"body", func(r *http.Request) *http.Request {
			return clone(t, r, strings.Replace(unicodeForm, "my+group", "my+grouq", 1))
		}},
		{"query", func(r *http.Request) *http.Request {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "Version=2020-07-02", "Version=2020-07-03", 1)
			return clone(t, r, unicodeForm)
		}},
		{"added query param", func(r *http.Request) *http.Request {
			r.URL.RawQuery += "&DryRun=true"
			return clone(t, r, unicodeForm)
		}},
		{"path", func(r *http.Request) *http.Request {
			r.URL.Path = "/other"
			return clone(t, r, unicodeForm)
		}},
		{"method", func(r *http.Request) *http.Request {
			r.Method = "PUT"
			return clone(t, r, unicodeForm)
		}},
		{"signed header value", func(r *http.Request) *http.Request {
			r.Header.Set("Accept", "application/xml")
			return clone(t, r, unicodeForm)
		}},
		{"host", func(r *http.Request) *http.Request {
			r.Host = "kci.api.ksyun.com"
			return clone(t, r, unicodeForm)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest("POST", srv.URL+"/?Version=2020-07-02", strings.NewReader(unicodeForm))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Accept", "application/json")
			r.Header.Set("Content-Type", formType)
			sdkSign(t, r, bodyHash(unicodeForm), "kci", testRegion, signTime)
			if status, got := do(t, tc.tamper(r)); status != 403 || got != mismatch {
				t.Fatalf("status %d %q, want 403 %q", status, got, mismatch)
			}
		})
	}
}

// clone rebuilds r with a new body, keeping its (signed) headers.
func clone(t *testing.T, r *http.Request, body string) *http.Request {
	t.Helper()
	out, err := http.NewRequest(r.Method, r.URL.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	return out
}

func TestSDKPresigned(t *testing.T) {
	now := signTime.Add(30 * time.Second)
	srv := newServer(t, newVerifier(now), "kci")
	tests := []struct {
		name    string
		method  string
		query   string
		body    string
		payload string // "" means the body's hash
		headers map[string]string
		now     time.Time
		want    string
	}{
		{name: "GET, empty-body hash", method: "GET", query: "Action=DescribeContainerGroup&Version=2020-07-02&Name=a%20b+c%E5%91%A8"},
		{name: "GET, UNSIGNED-PAYLOAD", method: "GET", query: "Action=DescribeContainerGroup&Version=2020-07-02", payload: "UNSIGNED-PAYLOAD"},
		{name: "GET with X-Amz-Expires", method: "GET", query: "Action=DescribeContainerGroup&X-Amz-Expires=3600"},
		{name: "POST form, body hash", method: "POST", body: unicodeForm, headers: map[string]string{"Content-Type": formType}},
		// UNSIGNED-PAYLOAD with a body is refused: TestUnsignedPayloadBody.
		{name: "POST without body, UNSIGNED-PAYLOAD", method: "POST", query: "Action=DescribeContainerGroup", payload: "UNSIGNED-PAYLOAD",
			headers: map[string]string{"Content-Type": formType}},
		{name: "signed X-Amz-Content-Sha256", method: "POST", body: unicodeForm,
			headers: map[string]string{"Content-Type": formType, "X-Amz-Content-Sha256": bodyHash(unicodeForm)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(tc.method, srv.URL+"/?"+tc.query, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body == "" {
				r.Body, r.ContentLength = nil, 0
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			payload := tc.payload
			if payload == "" {
				payload = bodyHash(tc.body)
			}
			req := sdkPresign(t, r, tc.body, payload, signTime)
			if !strings.Contains(req.URL.RawQuery, "X-Amz-Signature=") || req.Header.Get("Authorization") != "" {
				t.Fatalf("not a presigned request: %s", req.URL)
			}
			status, got := do(t, req)
			if want := "OK sigv4-query " + testAK + " cn-beijing-6 kci"; status != 200 || got != want {
				t.Fatalf("status %d %q, want 200 %q\nURL: %s", status, got, want, req.URL)
			}
		})
	}

	t.Run("long X-Amz-Expires outlives the skew window", func(t *testing.T) {
		srv := newServer(t, newVerifier(signTime.Add(2*time.Hour)), "kci")
		r, _ := http.NewRequest("GET", srv.URL+"/?Action=DescribeContainerGroup&X-Amz-Expires=86400", nil)
		status, got := do(t, sdkPresign(t, r, "", bodyHash(""), signTime))
		if status != 200 || !strings.HasPrefix(got, "OK sigv4-query") {
			t.Fatalf("status %d %q", status, got)
		}
	})
	t.Run("expired X-Amz-Expires", func(t *testing.T) {
		srv := newServer(t, newVerifier(signTime.Add(2*time.Minute)), "kci")
		r, _ := http.NewRequest("GET", srv.URL+"/?Action=DescribeContainerGroup&X-Amz-Expires=60", nil)
		status, got := do(t, sdkPresign(t, r, "", bodyHash(""), signTime))
		want := "SignatureDoesNotMatch\nSignature expired:request time 20240102T030405Z plus X-Amz-Expires 1m0s is earlier than server time 20240102T030605Z."
		if status != 403 || got != want {
			t.Fatalf("status %d %q, want 403 %q", status, got, want)
		}
	})
	t.Run("tampered query", func(t *testing.T) {
		r, _ := http.NewRequest("GET", srv.URL+"/?Action=DescribeContainerGroup&Version=2020-07-02", nil)
		req := sdkPresign(t, r, "", bodyHash(""), signTime)
		req.URL.RawQuery = strings.Replace(req.URL.RawQuery, "DescribeContainerGroup", "DeleteContainerGroup", 1)
		status, got := do(t, req)
		if status != 403 || !strings.HasPrefix(got, "SignatureDoesNotMatch\nThe request signature") {
			t.Fatalf("status %d %q", status, got)
		}
	})
	t.Run("tampered body", func(t *testing.T) {
		r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(unicodeForm))
		r.Header.Set("Content-Type", formType)
		// Same length, so only the payload hash can catch it.
		req := sdkPresign(t, r, strings.Replace(unicodeForm, "my+group", "my+grouq", 1), bodyHash(unicodeForm), signTime)
		status, got := do(t, req)
		if status != 403 || !strings.HasPrefix(got, "SignatureDoesNotMatch\n") {
			t.Fatalf("status %d %q", status, got)
		}
	})
}

// TestGoSDKDoubleHost sends sdk-go's shape over HTTP: SignedHeaders lists
// host twice and the canonical request has two host lines. aws-sdk-go-v2
// cannot produce it, so the signature comes from the spec-only refSign.
func TestGoSDKDoubleHost(t *testing.T) {
	srv := newServer(t, newVerifier(signTime.Add(30*time.Second)), "kci")
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, body := range []string{unicodeForm, "Action=DescribeContainerGroup&Name=%E5%91%A8+%20"} {
		const amzDate = "20240102T030405Z"
		cr := "POST\n/\n\naccept:application/json\ncontent-type:application/x-www-form-urlencoded\n" +
			"host:" + host + "\nhost:" + host + "\nx-amz-date:" + amzDate + "\n\n" +
			"accept;content-type;host;host;x-amz-date\n" + bodyHash(body)
		sig := refSign(testSK, amzDate, testRegion, "kci", cr)
		r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Content-Type", formType)
		r.Header.Set("X-Amz-Date", amzDate)
		r.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/20240102/%s/kci/aws4_request, SignedHeaders=accept;content-type;host;host;x-amz-date, Signature=%s", testAK, testRegion, sig))
		if status, got := do(t, r); status != 200 || got != "OK sigv4-header "+testAK+" cn-beijing-6 kci" {
			t.Fatalf("status %d %q", status, got)
		}

		// With the header list deduplicated the signature no longer matches.
		r2 := clone(t, r, body)
		r2.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;host", "host", 1))
		if status, _ := do(t, r2); status != 403 {
			t.Fatalf("deduplicated SignedHeaders accepted: status %d", status)
		}
	}
}

// TestHeaderWinsOverAccesskey mimics the Python and PHP SDKs, which send an
// Accesskey param (and here a bogus Signature) next to SigV4.
func TestHeaderWinsOverAccesskey(t *testing.T) {
	srv := newServer(t, newVerifier(signTime.Add(30*time.Second)), "kci")
	form := url.Values{
		"Action": {"DescribeContainerGroup"}, "Version": {"2020-07-02"}, "Service": {"kci"},
		"Accesskey": {testAK}, "Region": {testRegion}, "Signature": {"deadbeef"}, "SdkVersion": {"SDK_PYTHON_1"},
	}.Encode()
	r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(form))
	r.Header.Set("Content-Type", formType)
	sdkSign(t, r, bodyHash(form), "kci", testRegion, signTime)
	if status, got := do(t, r); status != 200 || !strings.HasPrefix(got, "OK sigv4-header") {
		t.Fatalf("status %d %q", status, got)
	}
}
