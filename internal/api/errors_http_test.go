package api_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/fake"
	"github.com/openkci/openkci/internal/testutil"
	"github.com/openkci/openkci/pkg/kci"
)

// TestRuntimeRefusalsOverHTTP: each runtime refusal reaches a real HTTP
// client as its class's code, with its public message and without the
// internal chain, which is in kcid's log under the request ID; nothing is
// left behind.
func TestRuntimeRefusalsOverHTTP(t *testing.T) {
	chain := errors.New("rpc error: code = Unknown desc = secret detail")
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"admission", errdefs.Wrap(errdefs.ErrInvalidArgument, chain, `the cluster refused the container group: admission webhook "deny.example.com" denied the request`),
			400, kci.CodeInvalidParameterValue, `admission webhook "deny.example.com" denied the request.`},
		{"quota", errdefs.Wrap(errdefs.ErrInsufficientCapacity, chain, "the cluster's quota refused the container group: exceeded quota: q"),
			409, kci.CodeInsufficientResource, "exceeded quota: q."},
		{"disk in use", errdefs.New(errdefs.ErrConflict, "disk d-1 is in use: its volume is bound to claim other/c"),
			409, kci.CodeResourceInUse, "disk d-1 is in use"},
		{"unavailable", errdefs.Wrap(errdefs.ErrUnavailable, chain, "the cluster is unavailable"),
			500, kci.CodeServiceUnavailable, "try again later: the cluster is unavailable."},
		{"unclassified", fmt.Errorf("mount /var/lib/kcid: %w", chain), 500, kci.CodeInternalError, "RequestId."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &testutil.SyncBuffer{}
			rt := fake.New()
			s := startServer(t, serverOpts{config: netConfig, rt: rt, log: log})
			rt.SetStartErr(tc.err)
			c := s.client()
			r := c.do("CreateContainerGroup", createParams("refused"))
			mustErr(t, r, tc.status, tc.code, tc.msg)
			if strings.Contains(string(r.Raw), "secret detail") || strings.Contains(string(r.Raw), "/var/lib") {
				t.Errorf("answer carries the internal chain: %s", r.Raw)
			}
			id := fmt.Sprint(r.Body["RequestId"])
			if l := log.String(); errors.Is(tc.err, chain) && !strings.Contains(l, "secret detail") || !strings.Contains(l, id) {
				t.Errorf("kcid's log lacks the chain under request ID %s:\n%s", id, l)
			}
			if n := total(t, c); n != 0 {
				t.Errorf("refused create left %d groups", n)
			}
		})
	}
}
