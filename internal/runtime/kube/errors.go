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
// a KCI error (docs/api.md, "Errors"). The cluster's refusal message is
// public (it says what to change); the error chain stays internal:
//
//   - quota exceeded (ResourceQuota admission) → ErrInsufficientCapacity
//     (409 InsufficientResource);
//   - other admission refusals (PodSecurity, LimitRange, webhooks) and
//     invalid objects → ErrInvalidArgument (400 InvalidParameterValue);
//   - RBAC refusals of kcid itself → ErrInternal (500 InternalError: the
//     operator must grant the permission, a retry cannot help);
//   - missing objects → ErrNotFound; existing or changed ones →
//     ErrConflict;
//   - server or client timeouts → ErrTimeout (500 ServiceTimeout);
//     throttling and an unreachable or failing apiserver → ErrUnavailable
//     (500 ServiceUnavailable).
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
		return kcierr.Wrap(kcierr.ErrInsufficientCapacity, err, "the cluster's quota refused the container group: %s", msg)
	case apierrors.IsForbidden(err) && (strings.Contains(msg, "cannot ") && strings.Contains(msg, "resource")):
		return kcierr.Wrap(kcierr.ErrInternal, err, "kcid is not allowed to %s in the cluster", what)
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err):
		return kcierr.Wrap(kcierr.ErrInvalidArgument, err, "the cluster refused the container group: %s", msg)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w: %s", what, kcierr.ErrConflict, msg)
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return kcierr.Wrap(kcierr.ErrTimeout, fmt.Errorf("%s: %w", what, err), "the cluster did not answer in time")
	default:
		return kcierr.Wrap(kcierr.ErrUnavailable, fmt.Errorf("%s: %w", what, err), "the cluster is unavailable")
	}
}
