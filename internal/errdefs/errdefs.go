// Package errdefs holds the error classes shared by OpenKCI's layers and
// the one rule for telling them apart.
//
// Lower layers wrap a class with context (fmt.Errorf("group %q: %w", id,
// errdefs.ErrNotFound)), or, when the caller must be told something it can
// act on, build an *Error with a public message (errdefs.New,
// errdefs.Wrap). The API edge (internal/api) maps each class to a KCI
// error code, HTTP status and message once, in one table; everything else
// in an error's chain is internal detail for the log.
package errdefs

import (
	"context"
	"errors"
	"fmt"
)

// The classes. Every error a layer returns belongs to exactly one of them;
// Class decides which.
var (
	// ErrInvalidArgument: the request is malformed or violates a rule,
	// including a rule of the runtime (an admission policy of the cluster).
	// Sending it again unchanged fails again.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the object does not exist (or belongs to another account).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object exists already, is in use by another (a disk
	// mounted by another group), or the request raced another.
	ErrConflict = errors.New("conflict")
	// ErrFailedPrecondition: the object is not in a state that allows the
	// request (a group being deleted); it may be later.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrInsufficientCapacity: the node, or a quota of the account, has no
	// room for the request.
	ErrInsufficientCapacity = errors.New("insufficient capacity")
	// ErrUnavailable: a dependency is down or overloaded and nothing was
	// done; the same request may succeed later.
	ErrUnavailable = errors.New("unavailable")
	// ErrTimeout: a dependency did not answer in time; the request may
	// succeed later.
	ErrTimeout = errors.New("timeout")
	// ErrInternal: a fault of kcid itself (or of its setup, such as a
	// cluster role that lacks a permission). Errors of no class are
	// internal.
	ErrInternal = errors.New("internal error")
)

// Classes lists every class, most specific first: Class tries them in this
// order. Tables keyed by class (the API's error map) must cover them all.
var Classes = []error{
	ErrInvalidArgument,
	ErrNotFound,
	ErrConflict,
	ErrFailedPrecondition,
	ErrInsufficientCapacity,
	ErrTimeout,
	ErrUnavailable,
	ErrInternal,
}

// Class returns the class of err: the class of the outermost *Error in its
// chain if there is one, else the first class of Classes in its chain, else
// ErrTimeout for context.DeadlineExceeded, ErrUnavailable for
// context.Canceled, else ErrInternal. Class(nil) is nil.
func Class(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Class != nil {
		return e.Class
	}
	for _, c := range Classes {
		if errors.Is(err, c) {
			return c
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, context.Canceled):
		return ErrUnavailable
	}
	return ErrInternal
}

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Error is an error of a class with a message for the caller. Public says
// what happened in words the caller can act on; Cause, if any, is the
// internal detail (a cluster's or containerd's error chain), which goes to
// kcid's log and never to the caller.
type Error struct {
	Class  error
	Public string
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Public
	}
	return e.Public + ": " + e.Cause.Error()
}

// Unwrap makes an *Error both its class and its cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Cause}
}

// New returns an *Error of class with a formatted public message.
func New(class error, format string, args ...any) error {
	return &Error{Class: class, Public: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of class with a formatted public message and
// cause as its internal detail.
func Wrap(class, cause error, format string, args ...any) error {
	return &Error{Class: class, Public: fmt.Sprintf(format, args...), Cause: cause}
}

// PublicMessage returns the public message of the outermost *Error in
// err's chain, or "".
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Public
	}
	return ""
}

// NotFoundError names the missing object; it is an ErrNotFound.
type NotFoundError struct {
	Kind string // "ContainerGroup" or "Container"
	ID   string
}

func (e *NotFoundError) Error() string { return e.Kind + " " + e.ID + " not found" }

// Unwrap makes a NotFoundError an ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }
