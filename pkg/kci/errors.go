package kci

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes a caller commonly acts on. kcid's full table is in its
// docs/api.md.
const (
	CodeMissingParameter       = "MissingParameter"
	CodeInvalidParameterValue  = "InvalidParameterValue"
	CodeContainerGroupNotFound = "ContainerGroupNotFound"
	CodeContainerNotFound      = "ContainerNotFound"
	CodeDryRunOperation        = "DryRunOperation"
	CodeLimitExceeded          = "LimitExceeded"
	CodeInsufficientResource   = "InsufficientResource"
	CodeServiceUnavailable     = "ServiceUnavailable"
	CodeSignatureDoesNotMatch  = "SignatureDoesNotMatch"
	CodeInvalidClientTokenID   = "InvalidClientTokenId"
)

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

// retryable reports whether an answer to an idempotent call is worth
// sending again: throttling and server-side faults. Client errors are not.
func (e *APIError) retryable() bool {
	return e.throttled() || e.StatusCode >= 500
}

// throttled: the request was refused for its rate, before any work.
func (e *APIError) throttled() bool {
	switch e.Code {
	case CodeLimitExceeded, "Throttling", "RequestLimitExceeded", "TooManyRequests":
		return true
	}
	return e.StatusCode == 429
}
