// Package errdefs holds the error classes shared by OpenKCI's layers. Lower
// layers wrap a class with context (fmt.Errorf("group %q: %w", id,
// errdefs.ErrNotFound)); the API edge maps classes to KCI error codes once.
package errdefs

import "errors"

var (
	// ErrNotFound: the object does not exist (or belongs to another account).
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: the request is malformed or violates a rule.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrConflict: the object is in use or the request races another.
	ErrConflict = errors.New("conflict")
	// ErrInsufficientCapacity: the node has no room for the request.
	ErrInsufficientCapacity = errors.New("insufficient capacity")
	// ErrUnavailable: a dependency is down; the caller may retry.
	ErrUnavailable = errors.New("unavailable")
)

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// NotFoundError names the missing object; it is an ErrNotFound.
type NotFoundError struct {
	Kind string // "ContainerGroup" or "Container"
	ID   string
}

func (e *NotFoundError) Error() string { return e.Kind + " " + e.ID + " not found" }

// Unwrap makes a NotFoundError an ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }
