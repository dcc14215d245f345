package auth

import (
	"fmt"
	"net/http"
)

// Error codes this package returns. They are the gateway's public codes
// (SEED "公共错误"), so the API layer writes them unchanged.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
	CodeInvalidClientTokenID       = "InvalidClientTokenId"
	CodeAccessDenied               = "AccessDenied"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeMissingParameter           = "MissingParameter"
	CodeInvalidParameterValue      = "InvalidParameterValue"
	CodeInvalidQueryParameter      = "InvalidQueryParameter"
)

// Message templates, verbatim from the seed table (including its typos and
// missing punctuation: clients may match on them).
const (
	msgMissingHost         = "Request is missing 'Host' header."
	msgMissingToken        = "Request is missing Authentication Token."
	msgHeaderNotPresent    = "%s not in Http Header."
	msgHostNotSigned       = "Host' must be a 'SignedHeader' in the Authorization."
	msgBadTerminator       = "Credential should be scoped with a valid terminator: 'aws4_request', not: %s."
	msgBadRegion           = "Credential should be scoped to a valid region, not:%s."
	msgBadService          = "Credential should be scoped to correct service: %s."
	msgSignatureMismatch   = "The request signature we calculated does not match the signature you provided."
	msgSignatureExpired    = "Signature expired:%s."
	msgScopeDateMismatch   = "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."
	msgInvalidClientToken  = "The security token included in the request is invalid."
	msgAccessDenied        = "User: %s is not authorized to perform: %s."
	msgBadDate             = `Date must be in ISO-8601 'basic format'. Got '%s'. See <a href="http://en.wikipedia.org/wiki/ISO_8601">http://en.wikipedia.org/wiki/ISO_8601</a> .`
	msgQueryMissing        = "KSC query-string parameters must include %s. Re-examine the query-string parameters."
	msgUnsupportedAlgo     = "Unsupported ksc 'algorithm': %s."
	msgNeedsCredential     = "Authorization header requires 'Credential' parameter. Authorization=%s."
	msgCredentialParts     = "Credential must have exactly 5 slash-delimited elements, e.g. accesskeyid/date/region/service/aws4_request, got: %s."
	msgAuthFormat          = "Authorization header format error."
	msgNeedsDate           = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header, Authorization=%s"
	msgNeedsSignature      = "Authorization header requires 'Signature' parameter. Authorization=%s"
	msgNeedsSignedHeaders  = "Authorization header requires 'SignedHeaders' parameter. Authorization=%s"
	msgMissingParameter    = "An value must be supplied for the input parameter %s."
	msgInvalidParameter    = "An invalid or out-of-range value was supplied for the input parameter %s."
	msgInvalidQueryParamer = "The query parameter %s is malformed or does not adhere to KSC standards."
)

// Error is an authentication or authorization failure in the gateway's public
// vocabulary. The API layer renders it as
// {"RequestId":…,"Error":{"Type":"Sender","Code":Code,"Message":Message}}
// with HTTP status Status.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(code string, status int, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Status: status, Message: msg}
}

func errForbidden(code, format string, args ...any) *Error {
	return newError(code, http.StatusForbidden, format, args...)
}

func errBadRequest(code, format string, args ...any) *Error {
	return newError(code, http.StatusBadRequest, format, args...)
}

func errMismatch() *Error { return errForbidden(CodeSignatureDoesNotMatch, msgSignatureMismatch) }

func errIncomplete(format string, args ...any) *Error {
	return errBadRequest(CodeIncompleteSignature, format, args...)
}

func errMissingParam(name string) *Error {
	return errBadRequest(CodeMissingParameter, msgMissingParameter, name)
}

func errInvalidParam(name string) *Error {
	return errBadRequest(CodeInvalidParameterValue, msgInvalidParameter, name)
}

func errInvalidQueryParam(name string) *Error {
	return errBadRequest(CodeInvalidQueryParameter, msgInvalidQueryParamer, name)
}
