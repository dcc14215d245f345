package auth

import (
	"crypto/hmac"
	"encoding/hex"
	"iter"
	"slices"
	"strings"
	"time"
)

const simpleTimestampLayout = "2006-01-02T15:04:05Z"

// verifySimple checks the simplified signature (docs/kci-api.md §4): the
// lower-case hex HMAC-SHA256, keyed with the secret, of every param except
// Signature, sorted by name and RFC 3986 encoded.
func (v *Verifier) verifySimple(params []param, service string) (*Identity, *Error) {
	first := func(name string) string {
		if vs := lookup(params, name); len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	for _, name := range []string{"Accesskey", "Signature", "Timestamp", "SignatureVersion", "SignatureMethod"} {
		if first(name) == "" {
			return nil, errMissingParam(name)
		}
	}
	if len(lookup(params, "Signature")) > 1 {
		return nil, errInvalidParam("Signature")
	}
	ts := first("Timestamp")
	t, err := time.Parse(simpleTimestampLayout, ts)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, ts); err != nil {
			return nil, errInvalidParam("Timestamp")
		}
	}
	if sv := first("SignatureVersion"); sv != "1.0" && sv != "1" { // sdk-node's test signs "1"
		return nil, errInvalidParam("SignatureVersion")
	}
	if first("SignatureMethod") != "HMAC-SHA256" {
		return nil, errInvalidParam("SignatureMethod")
	}
	region := first("Region")
	if region == "" {
		region = DefaultRegion
	}
	if !v.regionServed(region) {
		return nil, errInvalidParam("Region")
	}
	svc := first("Service")
	switch {
	case svc != "" && service != "" && svc != service:
		return nil, errInvalidParam("Service")
	case svc == "":
		svc = service
	}
	if err := v.checkTime(t, 0, simpleTimestampLayout); err != nil {
		return nil, err
	}
	ak := first("Accesskey")
	cred, kerr := v.lookupKey(ak)
	if kerr != nil {
		return nil, kerr
	}

	want, decErr := hex.DecodeString(first("Signature"))
	if decErr != nil || len(want) != 32 {
		return nil, errMismatch()
	}
	secret := []byte(cred.SecretAccessKey)
	var matched bool
	for s := range simpleStringsToSign(params) {
		if matched = hmac.Equal(hmacSHA256(secret, s), want); matched {
			break
		}
	}
	if matched {
		return &Identity{
			AccessKeyID: ak,
			AccountID:   cred.AccountID,
			Region:      region,
			Service:     svc,
			Scheme:      SchemeSimple,
			BodySigned:  true, // form params are signed; other bodies were refused
			Credential:  cred,
		}, nil
	}
	return nil, errMismatch()
}

// simpleStringsToSign yields the documented canonical string, then, only if
// the caller keeps asking, the distinct variants old SDKs sign: sdk-go 2022
// (url.QueryEscape, so space is '+') and sdk-java (sorted by encoded name).
func simpleStringsToSign(params []param) iter.Seq[string] {
	return func(yield func(string) bool) {
		kept := make([]param, 0, len(params))
		for _, p := range params {
			if p.key != "Signature" {
				kept = append(kept, p)
			}
		}
		slices.SortStableFunc(kept, comparePairs)
		std := encodePairs(kept, false)
		if !yield(std) {
			return
		}
		plus := encodePairs(kept, true)
		if plus != std && !yield(plus) {
			return
		}
		slices.SortStableFunc(kept, func(a, b param) int {
			if c := strings.Compare(escape(a.key), escape(b.key)); c != 0 {
				return c
			}
			return strings.Compare(a.value, b.value)
		})
		if java := encodePairs(kept, false); java != std {
			yield(java)
		}
	}
}
