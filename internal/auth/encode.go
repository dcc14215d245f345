package auth

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
)

// param is one decoded name=value pair, in received order.
type param struct{ key, value string }

// parseParams decodes an application/x-www-form-urlencoded string (a raw
// query or a form body) into pairs, keeping order and duplicates. It is
// written here rather than using url.ParseQuery because signatures need the
// received order and must not silently drop malformed pairs. A name or value
// that is not valid percent-encoding is kept as received: no signer produces
// one, so its signature does not match (or, signed verbatim, it does), and
// the API layer refuses the malformed parameter after authentication.
func parseParams(dst []param, raw string) []param {
	for raw != "" {
		var piece string
		piece, raw, _ = strings.Cut(raw, "&")
		if piece == "" {
			continue
		}
		k, val, _ := strings.Cut(piece, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(val); err == nil {
			val = dv
		}
		dst = append(dst, param{k, val})
	}
	return dst
}

// lookup returns every value of key.
func lookup(ps []param, key string) []string {
	var vs []string
	for _, p := range ps {
		if p.key == key {
			vs = append(vs, p.value)
		}
	}
	return vs
}

const upperHex = "0123456789ABCDEF"

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// appendEscape appends the RFC 3986 percent-encoding of s (upper-case hex,
// unreserved bytes literal). keepSlash leaves '/' alone for paths;
// plusSpace writes space as '+' (the sdk-go 2022 simplified-signature bug).
func appendEscape(b []byte, s string, keepSlash, plusSpace bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c), keepSlash && c == '/':
			b = append(b, c)
		case plusSpace && c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

func escape(s string) string { return string(appendEscape(nil, s, false, false)) }

func escapePath(s string) string { return string(appendEscape(nil, s, true, false)) }

// comparePairs orders by key, then value, byte-wise.
func comparePairs(a, b param) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}

// encodePairs joins pairs as k=v&k=v, each side RFC 3986 encoded.
func encodePairs(ps []param, plusSpace bool) string {
	n := 0
	for _, p := range ps {
		n += len(p.key) + len(p.value) + 2
	}
	b := make([]byte, 0, n+n/4)
	for i, p := range ps {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendEscape(b, p.key, false, plusSpace)
		b = append(b, '=')
		b = appendEscape(b, p.value, false, plusSpace)
	}
	return string(b)
}

// primaryQuery is the AWS canonical query: pairs sorted by key then value,
// RFC 3986 encoded, without skip (X-Amz-Signature in query mode).
func primaryQuery(ps []param, skip string) string {
	kept := without(ps, skip)
	slices.SortStableFunc(kept, comparePairs)
	return encodePairs(kept, false)
}

// canonicalQueries returns the distinct renderings of the query that SigV4
// signers produce, primaryQuery first (AWS spec, aws-sdk-go v1), then sorted
// by key with values in received order (aws-sdk-go-v2's url.Values.Encode),
// then the raw query as sent (curl 7.x signs it verbatim).
func canonicalQueries(ps []param, raw, skip string) []string {
	byKey := without(ps, skip)
	slices.SortStableFunc(byKey, func(a, b param) int { return cmp.Compare(a.key, b.key) })
	out := []string{primaryQuery(ps, skip)}
	out = appendUnique(out, encodePairs(byKey, false))
	if skip != "" {
		raw = stripRawParam(raw, skip)
	}
	return appendUnique(out, raw)
}

func without(ps []param, skip string) []param {
	kept := make([]param, 0, len(ps))
	for _, p := range ps {
		if skip == "" || p.key != skip {
			kept = append(kept, p)
		}
	}
	return kept
}

// stripRawParam removes every key=value piece of raw whose decoded key is
// key, keeping the rest byte for byte.
func stripRawParam(raw, key string) string {
	pieces := strings.Split(raw, "&")
	kept := pieces[:0]
	for _, p := range pieces {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil && dk == key {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
