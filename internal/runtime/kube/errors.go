package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// classify wraps a cluster error in the errdefs class the API edge maps to
// a KCI error:
//
//   - quota exceeded (ResourceQuota admission) → ErrInsufficientCapacity
//     (409 InsufficientResource with the cluster's message);
//   - other admission refusals (PodSecurity, LimitRange, webhooks) and
//     invalid objects → ErrInvalidArgument (400 with the message);
//   - missing objects → ErrNotFound;
//   - RBAC refusals of kcid itself, timeouts, throttling, unreachable
//     apiserver → ErrUnavailable (500, details in kcid's log).
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		msg = se.Status().Message
	}
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: %w: %s", what, kcierr.ErrNotFound, msg)
	case apierrors.IsForbidden(err) && strings.Contains(msg, "exceeded quota"):
		return fmt.Errorf("%w: the cluster refused the container group: %s", kcierr.ErrInsufficientCapacity, msg)
	case apierrors.IsForbidden(err) && (strings.Contains(msg, "cannot ") && strings.Contains(msg, "resource")):
		return fmt.Errorf("%s: kcid is not allowed to: %w: %s", what, kcierr.ErrUnavailable, msg)
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err):
		return fmt.Errorf("%w: the cluster refused the container group: %s", kcierr.ErrInvalidArgument, msg)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w: %s", what, kcierr.ErrConflict, msg)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: cluster did not answer in time: %w: %w", what, kcierr.ErrUnavailable, err)
	default:
		return fmt.Errorf("%s: %w: %w", what, kcierr.ErrUnavailable, err)
	}
}
