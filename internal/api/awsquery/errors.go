package awsquery

import (
	"fmt"
	"strconv"
)

// ErrorKind classifies a request the decoder rejects. The API layer maps
// kinds to error codes, e.g. Malformed to InvalidQueryParameter and the
// others to InvalidParameterValue.
type ErrorKind int

const (
	// Malformed: the key has the wrong shape for the field it names, such as a
	// missing or non-numeric list index (Container.x.Name), an empty segment
	// (Container..Name) or sub-keys under a scalar.
	Malformed ErrorKind = iota + 1
	// InvalidValue: the value does not parse as the field's type.
	InvalidValue
	// Duplicate: one parameter was given two different values, either by
	// repeating the key or through another spelling of the same parameter
	// (Container.01.Name vs Container.1.Name, HostAlias vs HostAliase).
	Duplicate
	// IndexOutOfRange: a list index is larger than the field allows.
	IndexOutOfRange
	// TooLarge: the request exceeds a resource bound (total list elements,
	// JSON body size, depth or key length).
	TooLarge
	// InvalidJSON: a JSON request body is not valid JSON or not an object.
	InvalidJSON
)

var kindNames = [...]string{
	Malformed:       "Malformed",
	InvalidValue:    "InvalidValue",
	Duplicate:       "Duplicate",
	IndexOutOfRange: "IndexOutOfRange",
	TooLarge:        "TooLarge",
	InvalidJSON:     "InvalidJSON",
}

func (k ErrorKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// Error is the error returned for requests the decoder rejects. Param is the
// wire key exactly as received (empty when the error concerns the whole
// request), Value the offending value, Reason a short explanation.
//
// Param and Value are attacker-controlled and unbounded; Error() clips them,
// but callers copying them into responses should clip them too.
type Error struct {
	Kind   ErrorKind
	Param  string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	s := "awsquery: " + e.Kind.String()
	if e.Param != "" {
		s += " parameter " + strconv.Quote(clip(e.Param))
	}
	if e.Value != "" {
		s += " value " + strconv.Quote(clip(e.Value))
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// clip keeps error strings (and logs built from them) bounded.
func clip(s string) string {
	const n = 128
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func newError(kind ErrorKind, param, value, format string, args ...any) *Error {
	return &Error{Kind: kind, Param: param, Value: value, Reason: fmt.Sprintf(format, args...)}
}
