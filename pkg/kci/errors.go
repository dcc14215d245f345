package kci

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes. kcid answers with these (its table, with statuses and
// when each is used, is in its docs/api.md); the ones of the KCI gateway's
// common table keep their KCI meaning.
const (
	CodeMissingParameter       = "MissingParameter"
	CodeInvalidParameterValue  = "InvalidParameterValue"
	CodeInvalidQueryParameter  = "InvalidQueryParameter"
	CodeInvalidMethod          = "InvalidMethod"
	CodeNoSuchEntity           = "NoSuchEntity"
	CodeRequestEntityTooLarge  = "RequestEntityTooLarge"
	CodeContainerGroupNotFound = "ContainerGroupNotFound"
	CodeContainerNotFound      = "ContainerNotFound"
	CodeImageCacheNotFound     = "ImageCacheNotFound"
	CodeResourceNotFound       = "ResourceNotFound"
	CodeResourceInUse          = "ResourceInUse"
	CodeIncorrectState         = "IncorrectState"
	CodeDryRunOperation        = "DryRunOperation"
	CodeLimitExceeded          = "LimitExceeded"
	CodeInsufficientResource   = "InsufficientResource"
	CodeServiceUnavailable     = "ServiceUnavailable"
	CodeServiceTimeout         = "ServiceTimeout"
	CodeInternalError          = "InternalError"
	CodeSignatureDoesNotMatch  = "SignatureDoesNotMatch"
	CodeInvalidClientTokenID   = "InvalidClientTokenId"
)

// TransientCode reports whether an error code says the request failed for
// a passing reason and may succeed if sent again unchanged: throttling
// (LimitExceeded and the spellings of other gateways), ServiceUnavailable
// (a dependency of the server is down; kcid did nothing) and
// ServiceTimeout (a dependency did not answer in time). Every other code
// is final: the same request fails the same way.
func TransientCode(code string) bool {
	switch code {
	case CodeServiceUnavailable, CodeServiceTimeout:
		return true
	}
	return throttleCode(code)
}

func throttleCode(code string) bool {
	switch code {
	case CodeLimitExceeded, "Throttling", "RequestLimitExceeded", "TooManyRequests":
		return true
	}
	return false
}

// ErrorResponse is the error envelope of every failed call, as kcid
// writes it and the client reads it. Type is Sender for 4xx answers and
// Receiver for 5xx.
type ErrorResponse struct {
	RequestID string       `json:"RequestId"`
	Error     *ErrorDetail `json:"Error"`
}

// ErrorDetail is the Error member of an ErrorResponse.
type ErrorDetail struct {
	Type    string `json:"Type"`
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

// APIError is an error answered by the server: the error envelope
// {"RequestId", "Error": {"Type", "Code", "Message"}} with the HTTP status.
// A response that is not the envelope (a proxy's HTML page, say) becomes an
// APIError with an empty Code and the start of the body as Message.
type APIError struct {
	Action     string // the action called
	StatusCode int    // HTTP status
	RequestID  string // from the body, else the X-Kci-Request-Id header
	Type       string // Sender (4xx) or Receiver (5xx)
	Code       string
	Message    string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("kci: ")
	if e.Action != "" {
		b.WriteString(e.Action + ": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code + ": ")
	}
	b.WriteString(e.Message)
	fmt.Fprintf(&b, " (HTTP %d", e.StatusCode)
	if e.RequestID != "" {
		b.WriteString(", RequestId " + e.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// ErrorCode returns the Code of an *APIError in err's chain, or "".
func ErrorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// IsNotFound reports whether err says that what was named does not exist:
// HTTP 404 with a …NotFound code (how Kingsoft's own clients detect it).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.StatusCode == 404 || strings.HasSuffix(ae.Code, "NotFound"))
}

// IsDryRunOperation reports whether err is the answer to a DryRun request
// that would have succeeded.
func IsDryRunOperation(err error) bool { return ErrorCode(err) == CodeDryRunOperation }

// Transient reports whether the answer is worth sending the same request
// again: throttling, a transient code (see TransientCode) with a 5xx
// status, HTTP 429, or a 502, 503 or 504 that is not the server's own
// error envelope (a proxy or load balancer in between).
func (e *APIError) Transient() bool {
	if e.Code != "" {
		return throttleCode(e.Code) || e.StatusCode >= 500 && TransientCode(e.Code)
	}
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// nothingDone reports whether the server said it did nothing, so that even
// a call that must not be done twice may be sent again: throttled, or its
// own ServiceUnavailable (kcid rolls back a create whose runtime failed).
// ServiceTimeout is not: a timed-out create may have happened, and so may
// one behind a proxy's bare 502 or 504.
func (e *APIError) nothingDone() bool {
	return throttleCode(e.Code) || e.Code == CodeServiceUnavailable && e.StatusCode >= 500 ||
		e.Code == "" && e.StatusCode == http.StatusTooManyRequests
}
