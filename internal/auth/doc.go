// Package auth authenticates and authorizes KCI OpenAPI requests.
//
// It owns request signature verification for the three styles the Kingsoft
// Cloud SDKs and curl produce (docs/kci-api.md §3.3, §4), the mapping of every
// authentication failure to the gateway's public error table (Code, HTTP
// status, message; SEED "公共错误"), and the per-key action allow-list check.
// It does not parse Action parameters, write responses or store keys: the API
// layer calls [Verifier.CheckHead] on the request head, then reads the body
// (under its own limits), calls [Verifier.Verify] and then [Authorize], and
// renders any *[Error] in the KCI error envelope.
//
// # Styles, in detection order
//
//  1. Authorization: AWS4-HMAC-SHA256 ... header (SigV4, header mode). It wins
//     even if Accesskey/Signature params are also present: the Python and PHP
//     SDKs send Accesskey alongside SigV4.
//  2. X-Amz-Algorithm in the query string (SigV4, presigned/query mode).
//  3. Signature or Accesskey among the query or form-body params (the
//     "simplified signature").
//
// A request with none of these gets MissingAuthenticationToken; one whose only
// credential is a non-AWS4 Authorization header gets IncompleteSignature
// "Unsupported ksc 'algorithm'".
//
// # SigV4 verification
//
// The canonical request is rebuilt from what was received, never from a
// normalised view: the SignedHeaders list is walked literally (the Go SDK
// signs "host;host" and so gets two host lines), host comes from r.Host, and
// the canonical query from r.URL.RawQuery. Where signers legitimately differ
// the verifier tries each faithful rendering of the same request and accepts
// the first that matches (the common rendering is tried alone first, so the
// others cost nothing for SDK traffic). Every candidate is derived from the
// received bytes, so nothing unsigned is accepted; the one lossy rendering is
// the once-encoded decoded path, under which "/a%2Fb" and "/a/b" coincide,
// harmless while the API serves only "/":
//
//   - canonical URI: the received path encoded again (AWS non-S3 rule, both
//     Go SDKs), the decoded path encoded once, and the path as sent (curl 7.x
//     signs it verbatim). For "/" these are all the same string.
//   - canonical query: pairs sorted by key then value (AWS spec, aws-sdk-go
//     v1), sorted by key with values in received order (aws-sdk-go-v2), and
//     the raw query as sent (curl 7.x).
//   - payload: a signed X-Amz-Content-Sha256 header is used verbatim; unless
//     it is UNSIGNED-PAYLOAD it must equal the body's hash. Without it the
//     body hash is used, and in query mode with an empty body UNSIGNED-PAYLOAD
//     is also tried, as AWS presigned URLs do.
//
// A signature that covers no body hash (UNSIGNED-PAYLOAD, header or query
// mode) authenticates only an empty body. The API layer merges a form body's
// params into the call, so otherwise anyone holding a presigned URL (valid up
// to 7 days) could add parameters to the signed request. A non-empty body
// under UNSIGNED-PAYLOAD is SignatureDoesNotMatch (403) with the generic
// mismatch message, not IncompleteSignature (400): the signature material is
// well-formed, it just does not cover the request as received, which is the
// same verdict as a tampered body (and a body added to a URL presigned with
// the empty-body hash gets exactly that). In header mode the refusal comes
// before any HMAC; in query mode UNSIGNED-PAYLOAD is then simply not a
// candidate payload. [Identity.BodySigned] reports whether the body was
// covered; it is false only for an accepted UNSIGNED-PAYLOAD request, whose
// body is then empty.
//
// # Choices where the spec is silent
//
//   - Clock skew: ±MaxSkew (default 15 min) around X-Amz-Date/Date/Timestamp.
//     In query mode, X-Amz-Expires (1..604800 s) replaces the upper bound:
//     the URL is valid from X-Amz-Date-MaxSkew to X-Amz-Date+X-Amz-Expires.
//     A malformed or out-of-range X-Amz-Expires is InvalidQueryParameter.
//   - "%s" in a message template is replaced by the raw value, unquoted.
//     "Signature expired:%s." carries the request time, the server time and
//     the allowed window; "Credential should be scoped to correct service:
//     %s." carries the expected service ("kci or vpc" when unknown);
//     "AccessDenied" names the access key ID ("anonymous" for a nil
//     Identity) and the bare action name.
//   - A signed header that the request lacks is MissingAuthenticationToken
//     "%s not in Http Header."; a request without Host (HTTP/1.0) is
//     MissingAuthenticationToken "Request is missing 'Host' header.".
//   - X-Amz-Content-Sha256 mismatching the body, and any failed comparison,
//     are SignatureDoesNotMatch with the generic mismatch message.
//   - Malformed Authorization components (no "=", unknown or repeated keys,
//     empty SignedHeaders entries) and a repeated Authorization header are
//     IncompleteSignature "Authorization header format error."; in query
//     mode a repeated X-Amz-* parameter or an empty X-Amz-SignedHeaders entry
//     is InvalidQueryParameter.
//   - The signature may be upper- or lower-case hex.
//   - Percent-encoding errors in the query or form body are
//     InvalidQueryParameter naming the raw key.
//
// Simplified signature: missing Accesskey, Signature, Timestamp,
// SignatureVersion or SignatureMethod is MissingParameter (400, "An value must
// be supplied for the input parameter %s."); a bad Timestamp format, a
// SignatureVersion other than "1.0"/"1", a SignatureMethod other than
// HMAC-SHA256, a repeated Signature, an unserved Region (default
// cn-beijing-6), a Service param contradicting the action's service, or a
// non-form body is InvalidParameterValue (400). Timestamp is
// 2006-01-02T15:04:05Z; RFC 3339 with an offset is also accepted. A stale
// Timestamp is SignatureDoesNotMatch "Signature expired:%s.", a wrong
// signature SignatureDoesNotMatch with the generic message. Besides the
// documented RFC 3986 string to sign, the verifier accepts the sdk-go 2022
// variant (space as "+") and the sdk-java variant (sorted by encoded name).
// The simplified signature covers parameters only, never the method, host,
// path or a non-form body.
//
// Regions: a nil Verifier.Regions accepts any non-empty region.
// Actions: Credential.Actions entries are exact names or prefixes ending in
// "*" ("Describe*", "*"); matching is case-sensitive; empty means all.
package auth
