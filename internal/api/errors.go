package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openkci/openkci/internal/api/awsquery"
	"github.com/openkci/openkci/internal/auth"
	"github.com/openkci/openkci/internal/errdefs"
)

// apiError is an error as the client sees it: the KCI error envelope's
// Code and Message, and the HTTP status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// Message templates of the spec's common error table.
const (
	msgInvalidParameterValue = "An invalid or out-of-range value was supplied for the input parameter %s."
	msgMissingParameter      = "An value must be supplied for the input parameter %s."
	msgInvalidQueryParameter = "The query parameter %s is malformed or does not adhere to KSC standards."
	msgInvalidMethod         = "The method %s for is not valid for this web service."
	msgNoSuchEntity          = "Request was rejected because it referenced an 'InnerApi' that does not exist."
	msgDryRun                = "Request would have succeeded, but DryRun flag is set"
	msgLimitExceeded         = "Request was rejected because the request speed of this openAPI is beyond the current flow control limit."
	msgServiceUnavailable    = "OpenAPI or Service is unavailable because of an unknown error, exception or failure."
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

// toAPIError maps any error of the lower layers to what the client sees.
// Errors of no known class become a generic 500: their text may hold
// internal detail, so it goes to the log only.
func toAPIError(err error) (*apiError, bool) {
	var (
		ae *apiError
		pe *errdefs.ParamError
		qe *awsquery.Error
		au *auth.Error
		nf *errdefs.NotFoundError
	)
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &au):
		return &apiError{Status: au.Status, Code: au.Code, Message: au.Message}, true
	case errors.As(err, &pe):
		return paramError(pe.Code, pe.Param, pe.Detail), true
	case errors.As(err, &qe):
		switch qe.Kind {
		case awsquery.Malformed, awsquery.Duplicate:
			return paramError(errdefs.CodeInvalidQueryParameter, clip(qe.Param), qe.Reason), true
		case awsquery.InvalidJSON, awsquery.TooLarge:
			return &apiError{Status: http.StatusBadRequest, Code: errdefs.CodeInvalidQueryParameter,
				Message: withDetail(fmt.Sprintf(msgInvalidQueryParameter, "in the request body"), qe.Reason)}, true
		default:
			return paramError(errdefs.CodeInvalidParameterValue, clip(qe.Param), qe.Reason), true
		}
	case errors.As(err, &nf):
		code := nf.Kind + "NotFound"
		what := "container group"
		if nf.Kind == "Container" {
			what = "container"
		}
		return &apiError{Status: http.StatusNotFound, Code: code,
			Message: fmt.Sprintf("The specified %s %s does not exist.", what, clip(nf.ID))}, true
	case errors.Is(err, errdefs.ErrInsufficientCapacity):
		return &apiError{Status: http.StatusConflict, Code: "InsufficientResource",
			Message: "Request was rejected because this node does not have enough capacity: " + strings.TrimPrefix(err.Error(), errdefs.ErrInsufficientCapacity.Error()+": ") + "."}, true
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "ServiceUnavailable", Message: msgServiceUnavailable}, false
}
