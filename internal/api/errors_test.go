package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/pkg/kci"
)

// TestErrorMapCoversEveryClass: every class has an entry, every entry a
// code and status, and only transient classes are retryable — exactly the
// codes pkg/kci retries on.
func TestErrorMapCoversEveryClass(t *testing.T) {
	if len(errorMap) != len(errdefs.Classes) {
		t.Errorf("errorMap has %d entries for %d classes", len(errorMap), len(errdefs.Classes))
	}
	codes := map[string]error{}
	for _, class := range errdefs.Classes {
		m, ok := errorMap[class]
		if !ok {
			t.Errorf("class %v has no entry", class)
			continue
		}
		if m.Code == "" || m.Message == "" || m.Status < 400 || m.Status > 599 {
			t.Errorf("class %v: incomplete entry %+v", class, m)
		}
		if other, dup := codes[m.Code]; dup {
			t.Errorf("classes %v and %v share code %s", class, other, m.Code)
		}
		codes[m.Code] = class
		if m.Retryable != kci.TransientCode(m.Code) {
			t.Errorf("class %v: Retryable %v, but kci.TransientCode(%s) = %v", class, m.Retryable, m.Code, kci.TransientCode(m.Code))
		}
		if m.Retryable && m.Status < 500 {
			t.Errorf("class %v: a client error (%d) marked retryable", class, m.Status)
		}
	}
}

// TestToAPIError walks every class and the runtime refusals: code, status,
// a message that says what to act on, and never the internal chain.
func TestToAPIError(t *testing.T) {
	secret := errors.New(`rpc error: code = Unknown desc = /var/lib/kcid/groups/x: mount: permission denied`)
	for _, tc := range []struct {
		name        string
		err         error
		status      int
		code        string
		msgContains string
		logged      bool // the error holds detail beyond the answer
	}{
		// Every class, with and without a public message.
		{"invalid argument", fmt.Errorf("group ID %q: %w: %w", "a/b", errdefs.ErrInvalidArgument, secret), 400, kci.CodeInvalidParameterValue, "not valid.", true},
		{"not found", fmt.Errorf("get pod: %w: %w", errdefs.ErrNotFound, secret), 404, kci.CodeResourceNotFound, "does not exist.", true},
		{"conflict", fmt.Errorf("ip held: %w", errdefs.ErrConflict), 409, kci.CodeResourceInUse, "in use", true},
		{"failed precondition", errdefs.New(errdefs.ErrFailedPrecondition, "group g is being deleted"), 409, kci.CodeIncorrectState, "not in a state that allows it: group g is being deleted.", false},
		{"capacity", errdefs.New(errdefs.ErrInsufficientCapacity, "Cpu 8 requested but only 2 of 4 cores are free on this node"), 409, kci.CodeInsufficientResource, "not enough capacity for it: Cpu 8 requested", false},
		{"timeout", errdefs.Wrap(errdefs.ErrTimeout, secret, "the cluster did not answer in time"), 500, kci.CodeServiceTimeout, "time out: the cluster did not answer in time.", true},
		{"unavailable", fmt.Errorf("containerd at /run/x.sock: %w: %w", errdefs.ErrUnavailable, secret), 500, kci.CodeServiceUnavailable, "try again later.", true},
		{"internal", secret, 500, kci.CodeInternalError, "details under this RequestId.", true},
		// Runtime refusals (docs/api.md lists them).
		{"kubernetes admission", errdefs.Wrap(errdefs.ErrInvalidArgument, secret, `the cluster refused the container group: pods "g" is forbidden: violates PodSecurity "restricted:latest"`),
			400, kci.CodeInvalidParameterValue, `refused the container group: pods "g" is forbidden: violates PodSecurity`, true},
		{"resource quota", fmt.Errorf("start group: %w", errdefs.Wrap(errdefs.ErrInsufficientCapacity, secret, "the cluster's quota refused the container group: exceeded quota: q, requested: cpu=2")),
			409, kci.CodeInsufficientResource, "exceeded quota: q, requested: cpu=2.", true},
		{"disk in use", errdefs.New(errdefs.ErrConflict, "disk d-1 (Volume.N.EBSVolume.VolumeId) is in use by container group g-2"), 409, kci.CodeResourceInUse, "disk d-1 (Volume.N.EBSVolume.VolumeId) is in use by container group g-2.", false},
		{"kcid not allowed", errdefs.Wrap(errdefs.ErrInternal, secret, "kcid is not allowed to create pod in the cluster"), 500, kci.CodeInternalError, "not allowed to create pod", true},
		{"long refusal is clipped", errdefs.New(errdefs.ErrInvalidArgument, "%s", strings.Repeat("é", 3000)), 400, kci.CodeInvalidParameterValue, "éé...", false},
		// Errors of the edge keep their own codes.
		{"param", errdefs.Param(errdefs.CodeMissingParameter, "ContainerName", ""), 400, kci.CodeMissingParameter, "ContainerName", false},
		{"group not found", &errdefs.NotFoundError{Kind: "ContainerGroup", ID: "g-1"}, 404, kci.CodeContainerGroupNotFound, "container group g-1 does not exist", false},
		{"dry run", errDryRun, 412, kci.CodeDryRunOperation, "DryRun", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae, logged := toAPIError(tc.err)
			if ae.Status != tc.status || ae.Code != tc.code || !strings.Contains(ae.Message, tc.msgContains) {
				t.Errorf("got %d %s %q, want %d %s containing %q", ae.Status, ae.Code, ae.Message, tc.status, tc.code, tc.msgContains)
			}
			if strings.Contains(ae.Message, "rpc error") || strings.Contains(ae.Message, "/var/lib") {
				t.Errorf("message carries the internal chain: %q", ae.Message)
			}
			if logged != tc.logged {
				t.Errorf("logDetail = %v, want %v", logged, tc.logged)
			}
		})
	}
}
