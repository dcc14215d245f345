package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Credential is one access key and what it may do.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string
	// Actions lists the actions the key may call: exact names or prefixes
	// ending in "*" ("Describe*", "*"). Empty allows every action.
	Actions []string
}

// KeyStore resolves access key IDs. Implementations must be safe for
// concurrent use.
type KeyStore interface {
	LookupKey(accessKeyID string) (Credential, bool)
}

// StaticKeys is a KeyStore over a fixed map keyed by access key ID. It must
// not be modified while a Verifier uses it.
type StaticKeys map[string]Credential

// LookupKey implements KeyStore.
func (s StaticKeys) LookupKey(id string) (Credential, bool) {
	c, ok := s[id]
	return c, ok
}

// Authentication schemes reported in Identity.Scheme.
const (
	SchemeSigV4Header = "sigv4-header"
	SchemeSigV4Query  = "sigv4-query"
	SchemeSimple      = "simple"
)

// DefaultMaxSkew is the allowed clock difference when Verifier.MaxSkew is 0.
const DefaultMaxSkew = 15 * time.Minute

// DefaultRegion is the region of a simplified-signature request without a
// Region param (D43038).
const DefaultRegion = "cn-beijing-6"

// Verifier authenticates requests. Set the exported fields before first use
// and do not change them afterwards; Verify is then safe for concurrent use.
// A Verifier must not be copied after first use.
type Verifier struct {
	Keys    KeyStore                 // required
	Now     func() time.Time         // nil means time.Now
	Regions func(region string) bool // regions the server serves; nil accepts any non-empty region
	MaxSkew time.Duration            // 0 means DefaultMaxSkew

	mu          sync.Mutex
	signingKeys map[signingKeyID][]byte // bounded by maxSigningKeys
}

// Identity is an authenticated caller.
type Identity struct {
	AccessKeyID string
	AccountID   string
	Region      string
	Service     string // from the credential scope (SigV4) or the Service param / caller's service (simple)
	Scheme      string // SchemeSigV4Header, SchemeSigV4Query or SchemeSimple
	// BodySigned reports whether the signature covers the body: SigV4 with
	// the body's SHA-256 in the canonical request, or the simplified
	// signature (it signs a form body's params and refuses other bodies).
	// It is false only for SigV4 signed with UNSIGNED-PAYLOAD, which is
	// accepted only when the body is empty.
	BodySigned bool
	Credential Credential
}

// Verify authenticates r. body is the exact request body, already read by
// the caller; Verify does not touch r.Body. service is the service the
// requested Action belongs to ("kci" or "vpc"), or "" when unknown, in which
// case either is accepted. Every failure is an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte, service string) (*Identity, error) {
	id, err := v.verify(r, body, service)
	if err != nil {
		return nil, err
	}
	return id, nil
}

func (v *Verifier) verify(r *http.Request, body []byte, service string) (*Identity, *Error) {
	sr, simple, err := v.scheme(r)
	if err != nil {
		return nil, err
	}
	if sr != nil {
		return v.verifySigV4(r, body, service, sr)
	}
	params := simple
	if len(body) > 0 && isForm(r.Header.Get("Content-Type")) {
		params = parseParams(params, string(body))
	}
	if len(lookup(params, "Signature")) > 0 || len(lookup(params, "Accesskey")) > 0 {
		if len(body) > 0 && !isForm(r.Header.Get("Content-Type")) {
			// The simplified signature covers params only; an opaque body
			// would go unauthenticated.
			return nil, errInvalidParam("Content-Type")
		}
		return v.verifySimple(params, service)
	}
	if authHeader := r.Header.Get("Authorization"); authHeader != "" {
		alg, _, _ := strings.Cut(authHeader, " ")
		return nil, errIncomplete(msgUnsupportedAlgo, alg)
	}
	return nil, errForbidden(CodeMissingAuthenticationToken, msgMissingToken)
}

// scheme finds a request's signature in its head: a parsed SigV4 request
// (header first: Python and PHP send Accesskey params next to SigV4, then
// the presigned query), or else the query's params, in which a simplified
// signature may be (or in the form body).
func (v *Verifier) scheme(r *http.Request) (*sigV4Request, []param, *Error) {
	authz := r.Header.Values("Authorization")
	if len(authz) > 1 {
		return nil, nil, errIncomplete(msgAuthFormat)
	}
	if len(authz) == 1 && strings.HasPrefix(authz[0], "AWS4") {
		sr, err := parseHeader(r, authz[0])
		return sr, nil, err
	}
	query := parseParams(nil, r.URL.RawQuery)
	if len(lookup(query, "X-Amz-Algorithm")) > 0 {
		sr, err := parseQuery(r, query)
		return sr, nil, err
	}
	return nil, query, nil
}

// CheckHead checks what the head of r proves before its body is read, so
// that a body is only read for a caller who holds a real access key ID, a
// current signing date and a scope of this server:
//
//   - SigV4 (header or presigned query): the scope, the time window, that
//     host is signed and that the key exists; the signature itself covers
//     the body's hash and is checked by [Verifier.Verify].
//   - a simplified signature in the query: that its Accesskey exists.
//   - no signature in the head: fine only if a form body may carry a
//     simplified signature; otherwise the request is refused now, as Verify
//     would refuse it.
//
// signed reports that the head named an existing key; a caller may give
// such requests a larger share of its memory for bodies. Every failure is an
// *Error that Verify would also answer (for a simplified signature in the
// query, an unknown key is reported before its other params are checked).
func (v *Verifier) CheckHead(r *http.Request) (signed bool, err error) {
	sr, query, aerr := v.scheme(r)
	if aerr != nil {
		return false, aerr
	}
	if sr != nil {
		if _, _, aerr := v.checkHead(r, sr); aerr != nil {
			return false, aerr
		}
		return true, nil
	}
	if keys := lookup(query, "Accesskey"); len(keys) > 0 && keys[0] != "" {
		if _, aerr := v.lookupKey(keys[0]); aerr != nil {
			return false, aerr
		}
		return true, nil
	}
	if len(lookup(query, "Signature")) > 0 {
		return false, nil // verifySimple names the missing Accesskey
	}
	if r.ContentLength != 0 && isForm(r.Header.Get("Content-Type")) {
		return false, nil // a simplified signature may be in the body
	}
	if authHeader := r.Header.Get("Authorization"); authHeader != "" {
		alg, _, _ := strings.Cut(authHeader, " ")
		return false, errIncomplete(msgUnsupportedAlgo, alg)
	}
	return false, errForbidden(CodeMissingAuthenticationToken, msgMissingToken)
}

// isForm reports whether a body of this Content-Type holds form params. An
// absent type counts: old clients post forms without one.
func isForm(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// Authorize returns an AccessDenied *Error unless id's key may call action.
func Authorize(id *Identity, action string) error {
	if id == nil {
		return errForbidden(CodeAccessDenied, msgAccessDenied, "anonymous", action)
	}
	if allowed(id.Credential.Actions, action) {
		return nil
	}
	return errForbidden(CodeAccessDenied, msgAccessDenied, id.AccessKeyID, action)
}

func allowed(patterns []string, action string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(action, prefix) {
				return true
			}
		} else if p == action {
			return true
		}
	}
	return false
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

func (v *Verifier) regionServed(region string) bool {
	if region == "" {
		return false
	}
	if v.Regions == nil {
		return true
	}
	return v.Regions(region)
}

// lookupKey resolves an access key ID or fails with InvalidClientTokenId.
func (v *Verifier) lookupKey(id string) (Credential, *Error) {
	if id != "" {
		if c, ok := v.Keys.LookupKey(id); ok && c.SecretAccessKey != "" {
			return c, nil
		}
	}
	return Credential{}, errForbidden(CodeInvalidClientTokenID, msgInvalidClientToken)
}

// checkTime enforces the skew window around the signing time t, or, for a
// presigned URL (expires > 0), the window [t-skew, t+expires].
func (v *Verifier) checkTime(t time.Time, expires time.Duration, layout string) *Error {
	now := v.now().UTC()
	skew := v.maxSkew()
	var detail string
	switch {
	case now.Before(t.Add(-skew)):
		detail = "request time %s is later than server time %s by more than " + skew.String()
	case expires > 0 && now.After(t.Add(expires)):
		detail = "request time %s plus X-Amz-Expires " + expires.String() + " is earlier than server time %s"
	case expires <= 0 && now.After(t.Add(skew)):
		detail = "request time %s is earlier than server time %s by more than " + skew.String()
	default:
		return nil
	}
	return errForbidden(CodeSignatureDoesNotMatch, msgSignatureExpired,
		fmt.Sprintf(detail, t.UTC().Format(layout), now.Format(layout)))
}

// Signing keys change once a day per (secret, region, service); caching them
// saves four HMACs per request.
type signingKeyID struct{ secret, date, region, service string }

const maxSigningKeys = 1024

func (v *Verifier) signingKey(secret, date, region, service string) []byte {
	id := signingKeyID{secret, date, region, service}
	v.mu.Lock()
	k, ok := v.signingKeys[id]
	v.mu.Unlock()
	if ok {
		return k
	}
	k = hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.signingKeys == nil {
		v.signingKeys = make(map[signingKeyID][]byte)
	}
	if len(v.signingKeys) >= maxSigningKeys {
		for old := range v.signingKeys { // evict an arbitrary entry
			delete(v.signingKeys, old)
			break
		}
	}
	v.signingKeys[id] = k
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
