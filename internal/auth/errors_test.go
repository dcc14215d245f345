package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/auth"
)

const (
	kciHost  = "kci.api.ksyun.com"
	postBody = "Action=DescribeContainerGroup&Version=2020-07-02"
	isoLink  = `See <a href="http://en.wikipedia.org/wiki/ISO_8601">http://en.wikipedia.org/wiki/ISO_8601</a> .`
	scope    = "/20240102/cn-beijing-6/kci/aws4_request"
)

// signedPOST returns a POST signed by aws-sdk-go-v2 in header mode.
func signedPOST(t *testing.T, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(body))
	r.Header.Set("Content-Type", formType)
	r.Header.Set("Accept", "application/json")
	sdkSign(t, r, bodyHash(body), "kci", testRegion, signTime)
	return r
}

// withAuth returns an unsigned POST carrying the given Authorization header
// and X-Amz-Date.
func withAuth(authz string) *http.Request {
	r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(postBody))
	r.Header.Set("Content-Type", formType)
	r.Header.Set("X-Amz-Date", "20240102T030405Z")
	r.Header.Set("Authorization", authz)
	return r
}

func authHeader(credential, signedHeaders string) string {
	return "AWS4-HMAC-SHA256 Credential=" + credential + ", SignedHeaders=" + signedHeaders + ", Signature=" + strings.Repeat("ab", 32)
}

// presigned returns a GET presigned by aws-sdk-go-v2, with its query as a
// url.Values for mutation.
func presigned(t *testing.T) (*http.Request, url.Values) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://"+kciHost+"/?Action=DescribeContainerGroup", nil)
	req := sdkPresign(t, r, "", bodyHash(""), signTime)
	out := httptest.NewRequest("GET", req.URL.String(), nil)
	return out, out.URL.Query()
}

func setQuery(r *http.Request, q url.Values) *http.Request {
	r.URL.RawQuery = q.Encode()
	r.RequestURI = r.URL.RequestURI()
	return r
}

// simpleSign is an independent simplified signer following the docs' Go
// hint (url.Values.Encode, then '+' → %20). legacy keeps '+', like sdk-go
// 2022.
func simpleSign(p url.Values, secret string, legacy bool) url.Values {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range p[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	s := strings.Join(parts, "&")
	if !legacy {
		s = strings.ReplaceAll(s, "+", "%20")
	}
	out := url.Values{}
	for k, v := range p {
		out[k] = v
	}
	out.Set("Signature", refHMAC(secret, s))
	return out
}

func queryWithout(name string) func(*testing.T) (*http.Request, string) {
	return func(t *testing.T) (*http.Request, string) {
		r, q := presigned(t)
		q.Del(name)
		return setQuery(r, q), ""
	}
}

func simpleParams() url.Values {
	return url.Values{
		"Action": {"DescribeContainerGroup"}, "Version": {"2020-07-02"}, "Service": {"kci"},
		"Accesskey": {testAK}, "Timestamp": {"2024-01-02T03:04:05Z"},
		"SignatureVersion": {"1.0"}, "SignatureMethod": {"HMAC-SHA256"},
		"ContainerGroupName": {"my group ~*周"},
	}
}

func simpleGET(p url.Values) *http.Request {
	return httptest.NewRequest("GET", "http://"+kciHost+"/?"+p.Encode(), nil)
}

func TestErrors(t *testing.T) {
	type tc struct {
		name    string
		req     func(t *testing.T) (*http.Request, string) // request and body
		service string
		now     time.Time // zero means signTime+30s
		code    string
		status  int
		msg     string
	}
	post := func(r *http.Request) func(*testing.T) (*http.Request, string) {
		return func(*testing.T) (*http.Request, string) { return r, postBody }
	}
	goodCred := testAK + scope
	mismatch := "The request signature we calculated does not match the signature you provided."

	tests := []tc{
		// No or foreign credentials.
		{name: "no credentials", req: post(httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(postBody))),
			code: "MissingAuthenticationToken", status: 403, msg: "Request is missing Authentication Token."},
		{name: "GET without anything", req: func(*testing.T) (*http.Request, string) {
			return httptest.NewRequest("GET", "http://"+kciHost+"/?Action=DescribeContainerGroup", nil), ""
		}, code: "MissingAuthenticationToken", status: 403, msg: "Request is missing Authentication Token."},
		{name: "Basic authorization", req: post(withAuth("Basic QUs6U0s=")),
			code: "IncompleteSignature", status: 400, msg: "Unsupported ksc 'algorithm': Basic."},
		{name: "other AWS4 algorithm", req: post(withAuth(strings.Replace(authHeader(goodCred, "host"), "SHA256", "SHA1", 1))),
			code: "IncompleteSignature", status: 400, msg: "Unsupported ksc 'algorithm': AWS4-HMAC-SHA1."},

		// Authorization header shape.
		{name: "missing Credential", req: post(withAuth("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc")),
			code: "IncompleteSignature", status: 400,
			msg: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc."},
		{name: "missing SignedHeaders", req: post(withAuth("AWS4-HMAC-SHA256 Credential=" + goodCred + ", Signature=abc")),
			code: "IncompleteSignature", status: 400,
			msg: "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=" + goodCred + ", Signature=abc"},
		{name: "missing Signature", req: post(withAuth("AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host")),
			code: "IncompleteSignature", status: 400,
			msg: "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host"},
		{name: "empty Signature", req: post(withAuth("AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host, Signature=")),
			code: "IncompleteSignature", status: 400,
			msg: "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host, Signature="},
		{name: "unknown component", req: post(withAuth(authHeader(goodCred, "host") + ", Foo=bar")),
			code: "IncompleteSignature", status: 400, msg: "Authorization header format error."},
		{name: "component without =", req: post(withAuth("AWS4-HMAC-SHA256 Credential " + goodCred)),
			code: "IncompleteSignature", status: 400, msg: "Authorization header format error."},
		{name: "repeated component", req: post(withAuth(authHeader(goodCred, "host") + ", Credential=" + goodCred)),
			code: "IncompleteSignature", status: 400, msg: "Authorization header format error."},
		{name: "empty SignedHeaders entry", req: post(withAuth(authHeader(goodCred, "host;;x-amz-date"))),
			code: "IncompleteSignature", status: 400, msg: "Authorization header format error."},
		{name: "two Authorization headers", req: func(t *testing.T) (*http.Request, string) {
			r := signedPOST(t, postBody)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r, postBody
		}, code: "IncompleteSignature", status: 400, msg: "Authorization header format error."},

		// Credential scope.
		{name: "4-part credential", req: post(withAuth(authHeader(testAK+"/20240102/cn-beijing-6/kci", "host"))),
			code: "IncompleteSignature", status: 400,
			msg: "Credential must have exactly 5 slash-delimited elements, e.g. accesskeyid/date/region/service/aws4_request, got: " + testAK + "/20240102/cn-beijing-6/kci."},
		{name: "6-part credential", req: post(withAuth(authHeader(goodCred+"/x", "host"))),
			code: "IncompleteSignature", status: 400,
			msg: "Credential must have exactly 5 slash-delimited elements, e.g. accesskeyid/date/region/service/aws4_request, got: " + goodCred + "/x."},
		{name: "bad terminator", req: post(withAuth(authHeader(testAK+"/20240102/cn-beijing-6/kci/aws4_requests", "host"))),
			code: "SignatureDoesNotMatch", status: 403, msg: "Credential should be scoped with a valid terminator: 'aws4_request', not: aws4_requests."},
		{name: "scope date differs from X-Amz-Date", req: post(withAuth(authHeader(testAK+"/20240103/cn-beijing-6/kci/aws4_request", "host"))),
			code: "SignatureDoesNotMatch", status: 403, msg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."},
		{name: "region not served", req: post(withAuth(authHeader(testAK+"/20240102/cn-nowhere-1/kci/aws4_request", "host"))),
			code: "SignatureDoesNotMatch", status: 403, msg: "Credential should be scoped to a valid region, not:cn-nowhere-1."},
		{name: "wrong service", req: post(withAuth(authHeader(testAK+"/20240102/cn-beijing-6/vpc/aws4_request", "host"))), service: "kci",
			code: "SignatureDoesNotMatch", status: 403, msg: "Credential should be scoped to correct service: kci."},
		{name: "service outside kci/vpc when unknown", req: post(withAuth(authHeader(testAK+"/20240102/cn-beijing-6/iam/aws4_request", "host"))),
			code: "SignatureDoesNotMatch", status: 403, msg: "Credential should be scoped to correct service: kci or vpc."},
		{name: "host not signed", req: post(withAuth(authHeader(goodCred, "content-type;x-amz-date"))),
			code: "SignatureDoesNotMatch", status: 403, msg: "Host' must be a 'SignedHeader' in the Authorization."},
		{name: "signed header absent", req: post(withAuth(authHeader(goodCred, "host;x-kci-note;x-amz-date"))),
			code: "MissingAuthenticationToken", status: 403, msg: "x-kci-note not in Http Header."},
		{name: "no Host", req: func(t *testing.T) (*http.Request, string) {
			r := signedPOST(t, postBody)
			r.Host = ""
			return r, postBody
		}, code: "MissingAuthenticationToken", status: 403, msg: "Request is missing 'Host' header."},

		// Dates.
		{name: "no X-Amz-Date or Date", req: func(*testing.T) (*http.Request, string) {
			r := withAuth(authHeader(goodCred, "host"))
			r.Header.Del("X-Amz-Date")
			return r, postBody
		}, code: "IncompleteSignature", status: 400,
			msg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header, Authorization=" + authHeader(goodCred, "host")},
		{name: "X-Amz-Date in extended format", req: func(*testing.T) (*http.Request, string) {
			r := withAuth(authHeader(goodCred, "host"))
			r.Header.Set("X-Amz-Date", "2024-01-02T03:04:05Z")
			return r, postBody
		}, code: "IncompleteSignature", status: 400, msg: "Date must be in ISO-8601 'basic format'. Got '2024-01-02T03:04:05Z'. " + isoLink},
		{name: "bad Date header", req: func(*testing.T) (*http.Request, string) {
			r := withAuth(authHeader(goodCred, "host"))
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", "yesterday")
			return r, postBody
		}, code: "IncompleteSignature", status: 400, msg: "Date must be in ISO-8601 'basic format'. Got 'yesterday'. " + isoLink},
		{name: "expired", req: func(t *testing.T) (*http.Request, string) { return signedPOST(t, postBody), postBody },
			now:  signTime.Add(16 * time.Minute),
			code: "SignatureDoesNotMatch", status: 403,
			msg: "Signature expired:request time 20240102T030405Z is earlier than server time 20240102T032005Z by more than 15m0s."},
		{name: "from the future", req: func(t *testing.T) (*http.Request, string) { return signedPOST(t, postBody), postBody },
			now:  signTime.Add(-16 * time.Minute),
			code: "SignatureDoesNotMatch", status: 403,
			msg: "Signature expired:request time 20240102T030405Z is later than server time 20240102T024805Z by more than 15m0s."},

		// Key and signature.
		{name: "unknown key", req: post(withAuth(authHeader("AKLTnobody"+scope, "host"))),
			code: "InvalidClientTokenId", status: 403, msg: "The security token included in the request is invalid."},
		{name: "empty key", req: post(withAuth(authHeader(scope, "host"))),
			code: "InvalidClientTokenId", status: 403, msg: "The security token included in the request is invalid."},
		{name: "wrong secret", req: func(t *testing.T) (*http.Request, string) {
			r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(postBody))
			r.Header.Set("Content-Type", formType)
			if err := signWith(r, "not-the-secret"); err != nil {
				t.Fatal(err)
			}
			return r, postBody
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "tampered body", req: func(t *testing.T) (*http.Request, string) {
			return signedPOST(t, postBody), strings.Replace(postBody, "Describe", "Delete", 1)
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "tampered query", req: func(t *testing.T) (*http.Request, string) {
			r := signedPOST(t, postBody)
			r.URL.RawQuery = "DryRun=true"
			return r, postBody
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "signature not hex", req: post(withAuth(strings.Replace(authHeader(goodCred, "host"), "Signature=ab", "Signature=zz", 1))),
			code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "X-Amz-Content-Sha256 does not match body", req: func(t *testing.T) (*http.Request, string) {
			r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(postBody))
			r.Header.Set("X-Amz-Content-Sha256", bodyHash("other"))
			sdkSign(t, r, bodyHash("other"), "kci", testRegion, signTime)
			return r, postBody
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		// A malformed escape is kept as received: authentication decides
		// first, and the API layer refuses the parameter afterwards.
		{name: "malformed query escape", req: func(t *testing.T) (*http.Request, string) {
			r := signedPOST(t, postBody)
			r.URL.RawQuery = "Bad=%zz"
			return r, postBody
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "malformed query escape unsigned", req: func(t *testing.T) (*http.Request, string) {
			return httptest.NewRequest("GET", "http://"+kciHost+"/?Action=%zz", nil), ""
		}, code: "MissingAuthenticationToken", status: 403, msg: "Request is missing Authentication Token."},

		// Query (presigned) mode.
		{name: "query: unsupported algorithm", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1")
			return setQuery(r, q), ""
		}, code: "IncompleteSignature", status: 400, msg: "Unsupported ksc 'algorithm': AWS4-HMAC-SHA1."},
		{name: "query: empty algorithm", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Algorithm", "")
			return setQuery(r, q), ""
		}, code: "IncompleteSignature", status: 400, msg: "KSC query-string parameters must include X-Amz-Algorithm. Re-examine the query-string parameters."},
		{name: "query: missing X-Amz-Credential", req: queryWithout("X-Amz-Credential"), code: "IncompleteSignature", status: 400,
			msg: "KSC query-string parameters must include X-Amz-Credential. Re-examine the query-string parameters."},
		{name: "query: missing X-Amz-SignedHeaders", req: queryWithout("X-Amz-SignedHeaders"), code: "IncompleteSignature", status: 400,
			msg: "KSC query-string parameters must include X-Amz-SignedHeaders. Re-examine the query-string parameters."},
		{name: "query: missing X-Amz-Date", req: queryWithout("X-Amz-Date"), code: "IncompleteSignature", status: 400,
			msg: "KSC query-string parameters must include X-Amz-Date. Re-examine the query-string parameters."},
		{name: "query: missing X-Amz-Signature", req: queryWithout("X-Amz-Signature"), code: "IncompleteSignature", status: 400,
			msg: "KSC query-string parameters must include X-Amz-Signature. Re-examine the query-string parameters."},
		{name: "query: empty SignedHeaders entry", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-SignedHeaders", "host;")
			return setQuery(r, q), ""
		}, code: "InvalidQueryParameter", status: 400, msg: "The query parameter X-Amz-SignedHeaders is malformed or does not adhere to KSC standards."},
		{name: "query: host not signed", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-SignedHeaders", "x-amz-date")
			return setQuery(r, q), ""
		}, code: "SignatureDoesNotMatch", status: 403, msg: "Host' must be a 'SignedHeader' in the Authorization."},
		{name: "query: X-Amz-Expires not a number", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Expires", "1h")
			return setQuery(r, q), ""
		}, code: "InvalidQueryParameter", status: 400, msg: "The query parameter X-Amz-Expires is malformed or does not adhere to KSC standards."},
		{name: "query: 4-part credential", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Credential", testAK+"/20240102/cn-beijing-6/kci")
			return setQuery(r, q), ""
		}, code: "IncompleteSignature", status: 400,
			msg: "Credential must have exactly 5 slash-delimited elements, e.g. accesskeyid/date/region/service/aws4_request, got: " + testAK + "/20240102/cn-beijing-6/kci."},
		{name: "query: bad X-Amz-Date", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Date", "20240102")
			return setQuery(r, q), ""
		}, code: "IncompleteSignature", status: 400, msg: "Date must be in ISO-8601 'basic format'. Got '20240102'. " + isoLink},
		{name: "query: X-Amz-Expires over a week", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Expires", "604801")
			return setQuery(r, q), ""
		}, code: "InvalidQueryParameter", status: 400, msg: "The query parameter X-Amz-Expires is malformed or does not adhere to KSC standards."},
		{name: "query: X-Amz-Expires zero", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Expires", "0")
			return setQuery(r, q), ""
		}, code: "InvalidQueryParameter", status: 400, msg: "The query parameter X-Amz-Expires is malformed or does not adhere to KSC standards."},
		{name: "query: repeated X-Amz-Signature", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Add("X-Amz-Signature", strings.Repeat("0", 64))
			return setQuery(r, q), ""
		}, code: "InvalidQueryParameter", status: 400, msg: "The query parameter X-Amz-Signature is malformed or does not adhere to KSC standards."},
		{name: "query: tampered", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("Action", "DeleteContainerGroup")
			return setQuery(r, q), ""
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "query: wrong region", req: func(t *testing.T) (*http.Request, string) {
			r, q := presigned(t)
			q.Set("X-Amz-Credential", testAK+"/20240102/cn-nowhere-1/kci/aws4_request")
			return setQuery(r, q), ""
		}, code: "SignatureDoesNotMatch", status: 403, msg: "Credential should be scoped to a valid region, not:cn-nowhere-1."},
		{name: "query: expired without X-Amz-Expires", req: func(t *testing.T) (*http.Request, string) {
			r, _ := presigned(t)
			return r, ""
		}, now: signTime.Add(time.Hour), code: "SignatureDoesNotMatch", status: 403,
			msg: "Signature expired:request time 20240102T030405Z is earlier than server time 20240102T040405Z by more than 15m0s."},

		// Simplified signature.
		{name: "simple: bad signature", req: func(*testing.T) (*http.Request, string) {
			p := simpleSign(simpleParams(), testSK, false)
			p.Set("ContainerGroupName", "other")
			return simpleGET(p), ""
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "simple: wrong secret", req: func(*testing.T) (*http.Request, string) {
			return simpleGET(simpleSign(simpleParams(), "nope", false)), ""
		}, code: "SignatureDoesNotMatch", status: 403, msg: mismatch},
		{name: "simple: missing Timestamp", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Del("Timestamp")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "MissingParameter", status: 400, msg: "An value must be supplied for the input parameter Timestamp."},
		{name: "simple: missing SignatureVersion", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Del("SignatureVersion")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "MissingParameter", status: 400, msg: "An value must be supplied for the input parameter SignatureVersion."},
		{name: "simple: Accesskey without Signature", req: func(*testing.T) (*http.Request, string) {
			return simpleGET(simpleParams()), ""
		}, code: "MissingParameter", status: 400, msg: "An value must be supplied for the input parameter Signature."},
		{name: "simple: Signature without Accesskey", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Del("Accesskey")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "MissingParameter", status: 400, msg: "An value must be supplied for the input parameter Accesskey."},
		{name: "simple: SignatureMethod HMAC-SHA1", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Set("SignatureMethod", "HMAC-SHA1")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter SignatureMethod."},
		{name: "simple: SignatureVersion 2.0", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Set("SignatureVersion", "2.0")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter SignatureVersion."},
		{name: "simple: Timestamp format", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Set("Timestamp", "20240102T030405Z")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter Timestamp."},
		{name: "simple: stale Timestamp", req: func(*testing.T) (*http.Request, string) {
			return simpleGET(simpleSign(simpleParams(), testSK, false)), ""
		}, now: signTime.Add(16 * time.Minute), code: "SignatureDoesNotMatch", status: 403,
			msg: "Signature expired:request time 2024-01-02T03:04:05Z is earlier than server time 2024-01-02T03:20:05Z by more than 15m0s."},
		{name: "simple: unknown key", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Set("Accesskey", "AKLTnobody")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "InvalidClientTokenId", status: 403, msg: "The security token included in the request is invalid."},
		{name: "simple: region not served", req: func(*testing.T) (*http.Request, string) {
			p := simpleParams()
			p.Set("Region", "cn-nowhere-1")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter Region."},
		{name: "simple: Service contradicts action", req: func(*testing.T) (*http.Request, string) {
			return simpleGET(simpleSign(simpleParams(), testSK, false)), ""
		}, service: "vpc", code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter Service."},
		{name: "simple: repeated Signature", req: func(*testing.T) (*http.Request, string) {
			p := simpleSign(simpleParams(), testSK, false)
			p.Add("Signature", p.Get("Signature"))
			return simpleGET(p), ""
		}, code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter Signature."},
		{name: "simple: JSON body cannot be covered", req: func(*testing.T) (*http.Request, string) {
			r := simpleGET(simpleSign(simpleParams(), testSK, false))
			r.Method = "POST"
			r.Header.Set("Content-Type", "application/json")
			return r, `{"Action":"DeleteContainerGroup"}`
		}, code: "InvalidParameterValue", status: 400, msg: "An invalid or out-of-range value was supplied for the input parameter Content-Type."},
		{name: "simple: malformed body escape", req: func(*testing.T) (*http.Request, string) {
			r := httptest.NewRequest("POST", "http://"+kciHost+"/", nil)
			r.Header.Set("Content-Type", formType)
			return r, "Signature=x&Name=%G1"
		}, code: "MissingParameter", status: 400, msg: "An value must be supplied for the input parameter Accesskey."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = signTime.Add(30 * time.Second)
			}
			r, body := tc.req(t)
			r.ContentLength = int64(len(body))
			_, headErr := newVerifier(now).CheckHead(r)
			id, err := newVerifier(now).Verify(r, []byte(body), tc.service)
			if id != nil {
				t.Fatalf("got identity %+v with error %v", id, err)
			}
			wantAuthErr(t, err, tc.code, tc.status, tc.msg)
			// What the head alone refuses, Verify refuses the same way.
			if headErr != nil {
				wantAuthErr(t, headErr, tc.code, tc.status, tc.msg)
			}
		})
	}
}

// signWith signs r in header mode with an arbitrary secret.
func signWith(r *http.Request, secret string) error {
	c := creds
	c.SecretAccessKey = secret
	return v4SignerSign(r, c)
}

func TestSimpleAccepted(t *testing.T) {
	v := newVerifier(signTime.Add(30 * time.Second))
	tests := []struct {
		name    string
		req     func() (*http.Request, string)
		service string
		region  string
	}{
		{name: "GET query", req: func() (*http.Request, string) {
			return simpleGET(simpleSign(simpleParams(), testSK, false)), ""
		}, service: "kci", region: "cn-beijing-6"},
		{name: "POST form body", req: func() (*http.Request, string) {
			body := simpleSign(simpleParams(), testSK, false).Encode()
			r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(body))
			r.Header.Set("Content-Type", formType+"; charset=UTF-8")
			return r, body
		}, region: "cn-beijing-6"},
		{name: "POST split between query and body", req: func() (*http.Request, string) {
			p := simpleSign(simpleParams(), testSK, false)
			q := url.Values{"Action": p["Action"], "Version": p["Version"]}
			p.Del("Action")
			p.Del("Version")
			r := httptest.NewRequest("POST", "http://"+kciHost+"/?"+q.Encode(), strings.NewReader(p.Encode()))
			r.Header.Set("Content-Type", formType)
			return r, p.Encode()
		}, region: "cn-beijing-6"},
		{name: "POST form without Content-Type", req: func() (*http.Request, string) {
			body := simpleSign(simpleParams(), testSK, false).Encode()
			return httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(body)), body
		}, region: "cn-beijing-6"},
		{name: "sdk-go 2022: space as +", req: func() (*http.Request, string) {
			return simpleGET(simpleSign(simpleParams(), testSK, true)), ""
		}, region: "cn-beijing-6"},
		{name: "SignatureVersion 1, Region cn-shanghai-2", req: func() (*http.Request, string) {
			p := simpleParams()
			p.Set("SignatureVersion", "1")
			p.Set("Region", "cn-shanghai-2")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, region: "cn-shanghai-2"},
		{name: "Timestamp with offset", req: func() (*http.Request, string) {
			p := simpleParams()
			p.Set("Timestamp", "2024-01-02T11:04:05+08:00")
			return simpleGET(simpleSign(p, testSK, false)), ""
		}, region: "cn-beijing-6"},
		{name: "upper-case hex signature", req: func() (*http.Request, string) {
			p := simpleSign(simpleParams(), testSK, false)
			p.Set("Signature", strings.ToUpper(p.Get("Signature")))
			return simpleGET(p), ""
		}, region: "cn-beijing-6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, body := tc.req()
			id, err := v.Verify(r, []byte(body), tc.service)
			if err != nil {
				t.Fatal(err)
			}
			if id.Scheme != auth.SchemeSimple || id.AccessKeyID != testAK || id.AccountID != "2000000001" || id.Region != tc.region || id.Service != "kci" || !id.BodySigned {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestDateHeader signs with the HTTP Date header instead of X-Amz-Date; the
// string to sign then carries the date converted to basic format.
func TestDateHeader(t *testing.T) {
	for _, mode := range []string{"header", "query"} {
		t.Run(mode, func(t *testing.T) {
			const amzDate = "20240102T030405Z"
			date := signTime.Format(http.TimeFormat)
			r := httptest.NewRequest("GET", "http://"+kciHost+"/?Action=DescribeContainerGroup", nil)
			r.Header.Set("Date", date)
			if mode == "header" {
				cr := "GET\n/\nAction=DescribeContainerGroup\ndate:" + date + "\nhost:" + kciHost + "\n\ndate;host\n" + bodyHash("")
				r.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s%s, SignedHeaders=date;host, Signature=%s",
					testAK, scope, refSign(testSK, amzDate, testRegion, "kci", cr)))
			} else {
				q := "Action=DescribeContainerGroup&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(testAK+scope) + "&X-Amz-SignedHeaders=host"
				cr := "GET\n/\n" + q + "\nhost:" + kciHost + "\n\nhost\nUNSIGNED-PAYLOAD"
				r = httptest.NewRequest("GET", "http://"+kciHost+"/?"+q+"&X-Amz-Signature="+refSign(testSK, amzDate, testRegion, "kci", cr), nil)
				r.Header.Set("Date", date)
			}
			id, err := newVerifier(signTime.Add(time.Minute)).Verify(r, nil, "kci")
			if err != nil {
				t.Fatal(err)
			}
			if id.Scheme != "sigv4-"+mode {
				t.Fatalf("scheme %s", id.Scheme)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	v := newVerifier(signTime.Add(30 * time.Second))
	limited := &auth.Identity{AccessKeyID: limitedAK, Credential: auth.Credential{AccessKeyID: limitedAK, Actions: []string{"Describe*", "CreateContainerGroup"}}}
	full, err := v.Verify(signedPOST(t, postBody), []byte(postBody), "kci")
	if err != nil {
		t.Fatal(err)
	}
	star := &auth.Identity{AccessKeyID: "AKstar", Credential: auth.Credential{Actions: []string{"*"}}}
	tests := []struct {
		id     *auth.Identity
		action string
		ok     bool
	}{
		{full, "DeleteContainerGroup", true},
		{star, "DeleteContainerGroup", true},
		{limited, "DescribeContainerGroup", true},
		{limited, "DescribeContainerLog", true},
		{limited, "CreateContainerGroup", true},
		{limited, "CreateContainerGroups", false},
		{limited, "DeleteContainerGroup", false},
		{limited, "describeContainerGroup", false},
		{nil, "DescribeContainerGroup", false},
	}
	for _, tc := range tests {
		name := "nil"
		if tc.id != nil {
			name = tc.id.AccessKeyID
		}
		t.Run(name+"/"+tc.action, func(t *testing.T) {
			err := auth.Authorize(tc.id, tc.action)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			user := "anonymous"
			if tc.id != nil {
				user = tc.id.AccessKeyID
			}
			wantAuthErr(t, err, "AccessDenied", 403, "User: "+user+" is not authorized to perform: "+tc.action+".")
		})
	}
}

// TestVerifyConcurrent exercises the signing-key cache under -race.
func TestVerifyConcurrent(t *testing.T) {
	v := newVerifier(signTime.Add(30 * time.Second))
	var reqs []*http.Request
	for i := range 8 {
		reqs = append(reqs, signedPOST(t, fmt.Sprintf("%s&N=%d", postBody, i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			i := g % len(reqs)
			if _, err := v.Verify(reqs[i], fmt.Appendf(nil, "%s&N=%d", postBody, i), ""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
