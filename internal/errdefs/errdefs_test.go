package errdefs

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClass(t *testing.T) {
	cause := errors.New("rpc error: code = Unavailable desc = connection refused")
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"invalid argument wrapped", fmt.Errorf("group ID %q: %w", "x/y", ErrInvalidArgument), ErrInvalidArgument},
		{"param error", Param(CodeInvalidParameterValue, "Cpu", "must be positive"), ErrInvalidArgument},
		{"not found", fmt.Errorf("group g: %w", ErrNotFound), ErrNotFound},
		{"not found error", &NotFoundError{Kind: "ContainerGroup", ID: "g"}, ErrNotFound},
		{"conflict", fmt.Errorf("ip held: %w", ErrConflict), ErrConflict},
		{"failed precondition", New(ErrFailedPrecondition, "group %s is being deleted", "g"), ErrFailedPrecondition},
		{"capacity", New(ErrInsufficientCapacity, "no room"), ErrInsufficientCapacity},
		{"unavailable", Wrap(ErrUnavailable, cause, "containerd does not answer"), ErrUnavailable},
		{"timeout class", fmt.Errorf("x: %w", ErrTimeout), ErrTimeout},
		{"deadline", fmt.Errorf("pull: %w", context.DeadlineExceeded), ErrTimeout},
		{"canceled", fmt.Errorf("pull: %w", context.Canceled), ErrUnavailable},
		{"internal", fmt.Errorf("x: %w", ErrInternal), ErrInternal},
		{"no class is internal", errors.New("open /var/lib/kcid/x: permission denied"), ErrInternal},
		// The outermost *Error decides, whatever its cause carries.
		{"error over cause class", Wrap(ErrInvalidArgument, fmt.Errorf("%w: denied", ErrUnavailable), "refused"), ErrInvalidArgument},
		{"wrapped error", fmt.Errorf("start group: %w", New(ErrConflict, "disk in use")), ErrConflict},
		// Without an *Error the more specific class wins.
		{"joined", errors.Join(fmt.Errorf("a: %w", ErrUnavailable), fmt.Errorf("b: %w", ErrInvalidArgument)), ErrInvalidArgument},
		{"timeout over unavailable", fmt.Errorf("%w: %w", ErrUnavailable, ErrTimeout), ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Class(tc.err); got != tc.want {
				t.Errorf("Class(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// Every class is its own Class: none shadows another.
func TestClassesAreDistinct(t *testing.T) {
	for _, c := range Classes {
		if got := Class(fmt.Errorf("ctx: %w", c)); got != c {
			t.Errorf("Class(wrapped %v) = %v", c, got)
		}
	}
}

func TestErrorHidesCauseFromPublic(t *testing.T) {
	cause := errors.New(`pods "g" is forbidden: exceeded quota: q`)
	err := fmt.Errorf("start group: %w", Wrap(ErrInsufficientCapacity, cause, "the cluster's quota for the account is used up"))
	if got := PublicMessage(err); got != "the cluster's quota for the account is used up" {
		t.Errorf("PublicMessage = %q", got)
	}
	if !errors.Is(err, cause) || !errors.Is(err, ErrInsufficientCapacity) {
		t.Errorf("%v is not both its cause and its class", err)
	}
	if PublicMessage(fmt.Errorf("x: %w", ErrConflict)) != "" {
		t.Error("PublicMessage of a plain class error is not empty")
	}
}
