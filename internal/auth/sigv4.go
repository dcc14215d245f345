package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	contentSHA256   = "x-amz-content-sha256"
	maxPresignTTL   = 7 * 24 * time.Hour
)

// sigV4Request is the signature material of one SigV4 request, header or
// query mode alike.
type sigV4Request struct {
	scheme        string
	credential    string // AK/date/region/service/terminator, as received
	accessKeyID   string
	scope         string // credential without the key ID
	date          string
	region        string
	service       string
	signedHeaders string // as received; also the canonical request's line
	signature     string
	amzDate       string // request time in basic format, for the string to sign
	time          time.Time
	expires       time.Duration // query mode X-Amz-Expires; 0 if absent
	query         []param
}

// parseHeader reads "Authorization: AWS4-HMAC-SHA256 Credential=…,
// SignedHeaders=…, Signature=…".
func parseHeader(r *http.Request, authz string) (*sigV4Request, *Error) {
	alg, rest, _ := strings.Cut(authz, " ")
	if alg != sigV4Algorithm {
		return nil, errIncomplete(msgUnsupportedAlgo, alg)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		switch k {
		case "Credential", "SignedHeaders", "Signature":
		default:
			ok = false
		}
		if _, dup := fields[k]; !ok || dup {
			return nil, errIncomplete(msgAuthFormat)
		}
		fields[k] = strings.TrimSpace(val)
	}
	sr := &sigV4Request{scheme: SchemeSigV4Header}
	switch {
	case fields["Credential"] == "":
		return nil, errIncomplete(msgNeedsCredential, authz)
	case fields["SignedHeaders"] == "":
		return nil, errIncomplete(msgNeedsSignedHeaders, authz)
	case fields["Signature"] == "":
		return nil, errIncomplete(msgNeedsSignature, authz)
	}
	sr.credential, sr.signedHeaders, sr.signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]

	if err := sr.setDate(r.Header.Get("X-Amz-Date"), r.Header.Get("Date"), errIncomplete(msgNeedsDate, authz)); err != nil {
		return nil, err
	}

	sr.query = parseParams(nil, r.URL.RawQuery)
	return sr, nil
}

// parseQuery reads a presigned request: X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-SignedHeaders, X-Amz-Signature and X-Amz-Date (or a Date header) in
// the query, optionally X-Amz-Expires.
func parseQuery(r *http.Request, query []param) (*sigV4Request, *Error) {
	get := func(name string) (string, *Error) {
		vs := lookup(query, name)
		switch {
		case len(vs) > 1:
			return "", errInvalidQueryParam(name)
		case len(vs) == 0 || vs[0] == "":
			return "", nil
		}
		return vs[0], nil
	}
	vals := map[string]string{}
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Date", "X-Amz-Signature", "X-Amz-Expires"} {
		val, err := get(name)
		if err != nil {
			return nil, err
		}
		vals[name] = val
	}
	if alg := vals["X-Amz-Algorithm"]; alg != sigV4Algorithm {
		if alg == "" {
			return nil, errIncomplete(msgQueryMissing, "X-Amz-Algorithm")
		}
		return nil, errIncomplete(msgUnsupportedAlgo, alg)
	}
	for _, name := range []string{"X-Amz-Credential", "X-Amz-SignedHeaders"} {
		if vals[name] == "" {
			return nil, errIncomplete(msgQueryMissing, name)
		}
	}
	sr := &sigV4Request{
		scheme:        SchemeSigV4Query,
		credential:    vals["X-Amz-Credential"],
		signedHeaders: vals["X-Amz-SignedHeaders"],
		signature:     vals["X-Amz-Signature"],
		query:         query,
	}
	if err := sr.setDate(vals["X-Amz-Date"], r.Header.Get("Date"), errIncomplete(msgQueryMissing, "X-Amz-Date")); err != nil {
		return nil, err
	}
	if sr.signature == "" {
		return nil, errIncomplete(msgQueryMissing, "X-Amz-Signature")
	}
	if exp := vals["X-Amz-Expires"]; exp != "" {
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n < 1 || time.Duration(n)*time.Second > maxPresignTTL {
			return nil, errInvalidQueryParam("X-Amz-Expires")
		}
		sr.expires = time.Duration(n) * time.Second
	}
	return sr, nil
}

// setDate sets the request's time from its X-Amz-Date or, without one,
// its HTTP Date; without either the request is missing.
func (sr *sigV4Request) setDate(amzDate, httpDate string, missing *Error) *Error {
	switch {
	case amzDate != "":
		return sr.setAmzDate(amzDate)
	case httpDate != "":
		return sr.setHTTPDate(httpDate)
	}
	return missing
}

func (sr *sigV4Request) setAmzDate(s string) *Error {
	t, err := time.Parse(amzDateLayout, s)
	if err != nil || len(s) != len(amzDateLayout) {
		return errIncomplete(msgBadDate, s)
	}
	sr.amzDate, sr.time = s, t
	return nil
}

func (sr *sigV4Request) setHTTPDate(s string) *Error {
	t, err := http.ParseTime(s)
	if err != nil {
		return errIncomplete(msgBadDate, s)
	}
	sr.amzDate, sr.time = t.UTC().Format(amzDateLayout), t
	return nil
}

// checkHead checks what a SigV4 request's head proves without its body:
// the scope (terminator, date, served region, a service of this server), that
// host is signed, the time window and that the key exists. It returns the
// key's credential and the canonical headers.
func (v *Verifier) checkHead(r *http.Request, sr *sigV4Request) (Credential, string, *Error) {
	if r.Host == "" {
		return Credential{}, "", errForbidden(CodeMissingAuthenticationToken, msgMissingHost)
	}
	parts := strings.Split(sr.credential, "/")
	if len(parts) != 5 {
		return Credential{}, "", errIncomplete(msgCredentialParts, sr.credential)
	}
	sr.accessKeyID, sr.date, sr.region, sr.service = parts[0], parts[1], parts[2], parts[3]
	sr.scope = strings.Join(parts[1:], "/")
	if parts[4] != sigV4Terminator {
		return Credential{}, "", errForbidden(CodeSignatureDoesNotMatch, msgBadTerminator, parts[4])
	}
	if sr.date != sr.amzDate[:8] {
		return Credential{}, "", errForbidden(CodeSignatureDoesNotMatch, msgScopeDateMismatch)
	}
	if !v.regionServed(sr.region) {
		return Credential{}, "", errForbidden(CodeSignatureDoesNotMatch, msgBadRegion, sr.region)
	}
	if !serviceMatches(sr.service, "") {
		return Credential{}, "", errForbidden(CodeSignatureDoesNotMatch, msgBadService, "kci or vpc")
	}

	names := strings.Split(sr.signedHeaders, ";")
	hostSigned := false
	for _, n := range names {
		if n == "" {
			if sr.scheme == SchemeSigV4Query {
				return Credential{}, "", errInvalidQueryParam("X-Amz-SignedHeaders")
			}
			return Credential{}, "", errIncomplete(msgAuthFormat)
		}
		hostSigned = hostSigned || strings.EqualFold(n, "host")
	}
	if !hostSigned {
		return Credential{}, "", errForbidden(CodeSignatureDoesNotMatch, msgHostNotSigned)
	}

	if err := v.checkTime(sr.time, sr.expires, amzDateLayout); err != nil {
		return Credential{}, "", err
	}
	cred, err := v.lookupKey(sr.accessKeyID)
	if err != nil {
		return Credential{}, "", err
	}
	headers, err := canonicalHeaders(r, names)
	if err != nil {
		return Credential{}, "", err
	}
	return cred, headers, nil
}

// verifySigV4 checks the head, then the signature over body for service.
func (v *Verifier) verifySigV4(r *http.Request, body []byte, service string, sr *sigV4Request) (*Identity, *Error) {
	cred, headers, err := v.checkHead(r, sr)
	if err != nil {
		return nil, err
	}
	if !serviceMatches(sr.service, service) {
		return nil, errForbidden(CodeSignatureDoesNotMatch, msgBadService, service)
	}
	payloads, err := payloadHashes(r, body, strings.Split(sr.signedHeaders, ";"), sr.scheme == SchemeSigV4Query)
	if err != nil {
		return nil, err
	}
	want, decErr := hex.DecodeString(sr.signature)
	if decErr != nil || len(want) != sha256.Size {
		return nil, errMismatch()
	}
	skip := ""
	if sr.scheme == SchemeSigV4Query {
		skip = "X-Amz-Signature"
	}
	key := v.signingKey(cred.SecretAccessKey, sr.date, sr.region, sr.service)
	match := func(uri, query, payload string) bool {
		cr := canonicalRequest(r.Method, uri, query, headers, sr.signedHeaders, payload)
		return hmac.Equal(hmacSHA256(key, stringToSign(sr.amzDate, sr.scope, cr)), want)
	}
	uris := canonicalURIs(r)
	primary := primaryQuery(sr.query, skip)
	// Every mainstream signer hits the first combination; the other
	// renderings are only built after it fails.
	payload := payloads[0]
	ok := match(uris[0], primary, payload)
	if !ok {
		queries := canonicalQueries(sr.query, r.URL.RawQuery, skip)
	search:
		for i, uri := range uris {
			for j, q := range queries {
				for k, p := range payloads {
					if i == 0 && j == 0 && k == 0 {
						continue // tried above
					}
					if ok = match(uri, q, p); ok {
						payload = p
						break search
					}
				}
			}
		}
	}
	if !ok {
		return nil, errMismatch()
	}
	bodySigned := payload != unsignedPayload
	if !bodySigned && len(body) > 0 {
		// Defence in depth: payloadHashes offers UNSIGNED-PAYLOAD only for
		// an empty body, so this cannot be reached today.
		return nil, errMismatch()
	}
	return &Identity{
		AccessKeyID: sr.accessKeyID,
		AccountID:   cred.AccountID,
		Region:      sr.region,
		Service:     sr.service,
		Scheme:      sr.scheme,
		BodySigned:  bodySigned,
		Credential:  cred,
	}, nil
}

func serviceMatches(scoped, want string) bool {
	if want == "" {
		return scoped == "kci" || scoped == "vpc"
	}
	return scoped == want
}

// canonicalHeaders renders the SignedHeaders list literally, duplicates
// included: the Go SDK signs "host;host" and so hashes two host lines.
func canonicalHeaders(r *http.Request, names []string) (string, *Error) {
	var b strings.Builder
	for _, name := range names {
		lname := strings.ToLower(name)
		var vals []string
		switch lname {
		case "host":
			vals = []string{r.Host} // net/http moves Host out of r.Header
		default:
			vals = r.Header[textproto.CanonicalMIMEHeaderKey(lname)]
			if len(vals) == 0 {
				vals = removedHeader(r, lname)
			}
		}
		if len(vals) == 0 {
			return "", errForbidden(CodeMissingAuthenticationToken, msgHeaderNotPresent, lname)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, val := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(val))
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// removedHeader recovers headers net/http strips from r.Header.
func removedHeader(r *http.Request, lname string) []string {
	switch lname {
	case "content-length":
		if r.ContentLength > 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	return nil
}

// trimAll trims surrounding whitespace and collapses runs of spaces, as
// the AWS signers do.
func trimAll(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// payloadHashes returns the payload hashes to try, in order.
//
// UNSIGNED-PAYLOAD is offered only for an empty body: a signature that does
// not cover the body must not authenticate one, since the API layer merges a
// form body's params into the signed call (a presigned URL lives up to 7
// days, and anyone holding it could otherwise add parameters).
func payloadHashes(r *http.Request, body []byte, names []string, queryMode bool) ([]string, *Error) {
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	for _, n := range names {
		if !strings.EqualFold(n, contentSHA256) {
			continue
		}
		claimed := strings.TrimSpace(r.Header.Get("X-Amz-Content-Sha256"))
		switch {
		case claimed == unsignedPayload:
			if len(body) > 0 {
				return nil, errMismatch()
			}
			return []string{unsignedPayload}, nil
		case strings.EqualFold(claimed, bodyHash):
			return []string{claimed}, nil // signed verbatim, whatever its case
		default:
			return nil, errMismatch()
		}
	}
	if queryMode && len(body) == 0 {
		// AWS presigned URLs sign UNSIGNED-PAYLOAD unless told otherwise.
		return []string{bodyHash, unsignedPayload}, nil
	}
	return []string{bodyHash}, nil
}

// canonicalURIs returns the distinct path renderings signers use: the
// received (escaped) path encoded again, per the AWS rule for non-S3
// services that both Go SDKs follow; the decoded path encoded once; and the
// path exactly as sent, which curl 7.x signs.
func canonicalURIs(r *http.Request) []string {
	escaped := r.URL.EscapedPath()
	if escaped == "" {
		escaped = "/"
	}
	decoded := r.URL.Path
	if decoded == "" {
		decoded = "/"
	}
	sent, _, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(sent, "/") { // absolute-form or empty
		sent = escaped
	}
	out := []string{escapePath(escaped)}
	out = appendUnique(out, escapePath(decoded))
	return appendUnique(out, sent)
}

func canonicalRequest(method, uri, query, headers, signedHeaders, payload string) string {
	var b strings.Builder
	b.Grow(len(method) + len(uri) + len(query) + len(headers) + len(signedHeaders) + len(payload) + 5)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	b.WriteString(headers)
	b.WriteByte('\n')
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}
