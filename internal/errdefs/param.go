package errdefs

import "fmt"

// KCI error codes for bad parameters (the spec's common error table).
const (
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeMissingParameter      = "MissingParameter"
	CodeInvalidQueryParameter = "InvalidQueryParameter"
)

// ParamError is a request parameter that breaks a rule. Param is the wire
// name as the client sent it (e.g. Container.1.Name); Detail says why in
// words safe to show the caller.
type ParamError struct {
	Code   string
	Param  string
	Detail string
}

func (e *ParamError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Param)
	}
	return fmt.Sprintf("%s: %s: %s", e.Code, e.Param, e.Detail)
}

// Unwrap makes every ParamError an ErrInvalidArgument.
func (e *ParamError) Unwrap() error { return ErrInvalidArgument }

// Param returns a *ParamError with a formatted detail.
func Param(code, param, format string, args ...any) error {
	return &ParamError{Code: code, Param: param, Detail: fmt.Sprintf(format, args...)}
}
