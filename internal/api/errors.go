package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openkci/openkci/internal/api/awsquery"
	"github.com/openkci/openkci/internal/auth"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/pkg/kci"
)

// apiError is an error as the client sees it: the KCI error envelope's
// Code and Message, and the HTTP status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// envelope is the answer's body: pkg/kci's error envelope, Type Sender
// for 4xx and Receiver for 5xx.
func (e *apiError) envelope(requestID string) kci.ErrorResponse {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	return kci.ErrorResponse{RequestID: requestID, Error: &kci.ErrorDetail{Type: typ, Code: e.Code, Message: e.Message}}
}

// Message templates of the spec's common error table.
const (
	msgInvalidParameterValue = "An invalid or out-of-range value was supplied for the input parameter %s."
	msgMissingParameter      = "An value must be supplied for the input parameter %s."
	msgInvalidQueryParameter = "The query parameter %s is malformed or does not adhere to KSC standards."
	msgInvalidMethod         = "The method %s for is not valid for this web service."
	msgNoSuchEntity          = "Request was rejected because it referenced an 'InnerApi' that does not exist."
	msgDryRun                = "Request would have succeeded, but DryRun flag is set"
	msgLimitExceeded         = "Request was rejected because the request speed of this openAPI is beyond the current flow control limit."
)

// withDetail puts a detail before the final period of a template's result:
// "... parameter Cpu: must be a positive number."
func withDetail(msg, detail string) string {
	if detail == "" {
		return msg
	}
	return strings.TrimSuffix(msg, ".") + ": " + detail + "."
}

func paramError(code, param, detail string) *apiError {
	tmpl := msgInvalidParameterValue
	switch code {
	case errdefs.CodeMissingParameter:
		tmpl = msgMissingParameter
	case errdefs.CodeInvalidQueryParameter:
		tmpl = msgInvalidQueryParameter
	}
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: withDetail(fmt.Sprintf(tmpl, param), detail)}
}

// clip bounds client-controlled text copied into messages.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

// classAPI is what the caller sees of an error class.
type classAPI struct {
	Status int
	Code   string
	// Message is the answer's message; an error's public message (see
	// errdefs.Error) is appended to it after a colon.
	Message string
	// Retryable: the class is transient, the same request may succeed
	// later. It agrees with kci.TransientCode(Code), which is what
	// pkg/kci retries on.
	Retryable bool
}

// errorMap is the one mapping from error class to API error. It covers
// every class of errdefs.Classes (a test checks); docs/api.md has the same
// table for users. Codes are KCI's where KCI has one (InvalidParameterValue,
// ServiceUnavailable, ServiceTimeout); the others are kcid's choices.
var errorMap = map[error]classAPI{
	errdefs.ErrInvalidArgument: {http.StatusBadRequest, kci.CodeInvalidParameterValue,
		"The request was rejected because a value in it is not valid", false},
	errdefs.ErrNotFound: {http.StatusNotFound, kci.CodeResourceNotFound,
		"The specified resource does not exist", false},
	errdefs.ErrConflict: {http.StatusConflict, kci.CodeResourceInUse,
		"The request was rejected because a resource it names is in use or was changed by another request", false},
	errdefs.ErrFailedPrecondition: {http.StatusConflict, kci.CodeIncorrectState,
		"The request was rejected because a resource it names is not in a state that allows it", false},
	errdefs.ErrInsufficientCapacity: {http.StatusConflict, kci.CodeInsufficientResource,
		"Request was rejected because there is not enough capacity for it", false},
	errdefs.ErrTimeout: {http.StatusInternalServerError, kci.CodeServiceTimeout,
		"Internal Service is unavailable because of time out", true},
	errdefs.ErrUnavailable: {http.StatusInternalServerError, kci.CodeServiceUnavailable,
		"OpenAPI or Service is unavailable because of an unknown error, exception or failure; try again later", true},
	errdefs.ErrInternal: {http.StatusInternalServerError, kci.CodeInternalError,
		"The request failed because of an internal error of the server; its log has the details under this RequestId", false},
}

// toAPIError maps any error of the lower layers to what the client sees.
// Only errors of the edge itself and public messages (errdefs.Error) reach
// the caller as text; logDetail reports that err holds more than the
// answer shows (an internal error chain), which the caller then logs with
// the request ID.
func toAPIError(err error) (ae *apiError, logDetail bool) {
	var (
		pe *errdefs.ParamError
		qe *awsquery.Error
		au *auth.Error
		nf *errdefs.NotFoundError
	)
	switch {
	case errors.As(err, &ae):
		return ae, false
	case errors.As(err, &au):
		return &apiError{Status: au.Status, Code: au.Code, Message: au.Message}, false
	case errors.As(err, &pe):
		return paramError(pe.Code, pe.Param, pe.Detail), false
	case errors.As(err, &qe):
		switch qe.Kind {
		case awsquery.Malformed, awsquery.Duplicate:
			return paramError(errdefs.CodeInvalidQueryParameter, clip(qe.Param), qe.Reason), false
		case awsquery.InvalidJSON, awsquery.TooLarge:
			return &apiError{Status: http.StatusBadRequest, Code: errdefs.CodeInvalidQueryParameter,
				Message: withDetail(fmt.Sprintf(msgInvalidQueryParameter, "in the request body"), qe.Reason)}, false
		default:
			return paramError(errdefs.CodeInvalidParameterValue, clip(qe.Param), qe.Reason), false
		}
	case errors.As(err, &nf):
		code := nf.Kind + "NotFound"
		what := map[string]string{"Container": "container", "SecurityGroup": "security group",
			"SecurityGroupEntry": "security group entry",
			"Vpc":                "vpc", "Subnet": "subnet", "ImageCache": "image cache"}[nf.Kind]
		if what == "" {
			what = "container group"
		}
		return &apiError{Status: http.StatusNotFound, Code: code,
			Message: fmt.Sprintf("The specified %s %s does not exist.", what, clip(nf.ID))}, false
	}
	m := errorMap[errdefs.Class(err)]
	public := errdefs.PublicMessage(err)
	return &apiError{Status: m.Status, Code: m.Code, Message: withDetail(m.Message+".", clipPublic(public))}, public == "" || public != err.Error()
}

// maxPublic bounds a public message: a cluster's PodSecurity refusal that
// lists four violations is about 600 bytes and should reach the caller
// whole.
const maxPublic = 2048

// clipPublic bounds a public message (it may quote a cluster's refusal)
// and drops its final period; withDetail adds one.
func clipPublic(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if len(s) > maxPublic {
		s = strings.ToValidUTF8(s[:maxPublic], "") + "..."
	}
	return s
}
