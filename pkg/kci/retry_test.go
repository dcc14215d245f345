package kci_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/pkg/kci"
)

// counting serves kcid's handler on a listener of its own and counts the
// requests that reach it.
func counting(t *testing.T, s *kcidtest.Server) (url string, sent *atomic.Int32) {
	sent = new(atomic.Int32)
	h := s.App.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, sent
}

// TestRefusedCreateSentOnce: kcid refuses a create (its runtime refuses,
// or the request or the node does); the client sends it exactly once,
// unless kcid says it did nothing for a passing reason (ServiceUnavailable),
// and only then retries, up to MaxAttempts. With a ClientToken (the
// default) a transient failure (ServiceTimeout) is retried too: a repeat
// cannot make a second group.
func TestRefusedCreateSentOnce(t *testing.T) {
	chain := errors.New("rpc error: code = Unknown desc = detail")
	for _, tc := range []struct {
		name     string
		startErr error
		mod      func(*kci.CreateContainerGroupRequest)
		code     string
		// sends without and with a ClientToken
		sends, tokenSends int32
	}{
		{"admission refusal", errdefs.Wrap(errdefs.ErrInvalidArgument, chain, "the cluster refused the container group: violates PodSecurity"), nil, kci.CodeInvalidParameterValue, 1, 1},
		{"quota", errdefs.Wrap(errdefs.ErrInsufficientCapacity, chain, "the cluster's quota refused the container group: exceeded quota"), nil, kci.CodeInsufficientResource, 1, 1},
		{"disk in use", errdefs.New(errdefs.ErrConflict, "disk d-1 is in use"), nil, kci.CodeResourceInUse, 1, 1},
		{"timeout", errdefs.Wrap(errdefs.ErrTimeout, chain, "the cluster did not answer in time"), nil, kci.CodeServiceTimeout, 1, kci.DefaultMaxAttempts},
		{"internal", chain, nil, kci.CodeInternalError, 1, 1},
		{"node full", nil, func(r *kci.CreateContainerGroupRequest) { r.CPU = 100 }, kci.CodeInsufficientResource, 1, 1},
		{"invalid request", nil, func(r *kci.CreateContainerGroupRequest) { r.Containers[0].Name = "Not_Valid" }, kci.CodeInvalidParameterValue, 1, 1},
		{"unavailable", fmt.Errorf("containerd: %w: %w", errdefs.ErrUnavailable, chain), nil, kci.CodeServiceUnavailable, kci.DefaultMaxAttempts, kci.DefaultMaxAttempts},
	} {
		for _, token := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/token=%v", tc.name, token), func(t *testing.T) {
				s := kcidtest.Start(t, kcidtest.Options{})
				s.Runtime.SetStartErr(tc.startErr)
				url, sent := counting(t, s)
				c := newClient(t, url, func(c *kci.Config) { c.NoClientToken = !token })
				want := tc.sends
				if token {
					want = tc.tokenSends
				}
				req := fullRequest()
				if tc.mod != nil {
					tc.mod(req)
				}
				_, err := c.CreateContainerGroup(context.Background(), req)
				if kci.ErrorCode(err) != tc.code {
					t.Fatalf("err %v, want code %s", err, tc.code)
				}
				if n := sent.Load(); n != want {
					t.Errorf("create sent %d times, want %d", n, want)
				}
				// Nothing was created, whatever the number of tries.
				s.Runtime.SetStartErr(nil)
				all, err := c.ListContainerGroups(context.Background(), nil)
				if err != nil || len(all) != 0 {
					t.Errorf("after the refusal: %d groups, %v", len(all), err)
				}
			})
		}
	}
}

// TestTransient: which answers are worth sending again.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		e    kci.APIError
		want bool
	}{
		{kci.APIError{StatusCode: 409, Code: kci.CodeLimitExceeded}, true},
		{kci.APIError{StatusCode: 500, Code: kci.CodeServiceUnavailable}, true},
		{kci.APIError{StatusCode: 500, Code: kci.CodeServiceTimeout}, true},
		{kci.APIError{StatusCode: 500, Code: kci.CodeInternalError}, false},
		{kci.APIError{StatusCode: 409, Code: kci.CodeInsufficientResource}, false},
		{kci.APIError{StatusCode: 409, Code: kci.CodeResourceInUse}, false},
		{kci.APIError{StatusCode: 400, Code: kci.CodeInvalidParameterValue}, false},
		{kci.APIError{StatusCode: 404, Code: kci.CodeContainerGroupNotFound}, false},
		{kci.APIError{StatusCode: 429}, true},
		{kci.APIError{StatusCode: 502}, true},
		{kci.APIError{StatusCode: 503}, true},
		{kci.APIError{StatusCode: 504}, true},
		{kci.APIError{StatusCode: 500}, false},
		{kci.APIError{StatusCode: 404, Code: kci.CodeServiceUnavailable}, false}, // KCI's "no internal service"
	} {
		if got := tc.e.Transient(); got != tc.want {
			t.Errorf("%d %q: Transient() = %v, want %v", tc.e.StatusCode, tc.e.Code, got, tc.want)
		}
	}
}

// TestCreateRetriedAfterLostAnswer: kcid makes the group but the answer is
// lost (the connection breaks after the handler ran). The client sends the
// create again with the same ClientToken and gets the first group's ID;
// one group exists.
func TestCreateRetriedAfterLostAnswer(t *testing.T) {
	s := kcidtest.Start(t, kcidtest.Options{})
	h := s.App.Handler()
	var sent atomic.Int32
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sent.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			tokens = append(tokens, form.Get("ClientToken"))
		}
		if n > 1 {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r) // done, answer dropped
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	out, err := c.CreateContainerGroup(context.Background(), fullRequest())
	if err != nil {
		t.Fatal(err)
	}
	if sent.Load() != 2 || len(tokens) != 2 || tokens[0] == "" || tokens[0] != tokens[1] {
		t.Fatalf("%d sends with tokens %q, want 2 with one token", sent.Load(), tokens)
	}
	all, err := c.ListContainerGroups(context.Background(), nil)
	if err != nil || len(all) != 1 || all[0].ContainerGroupID != out.ContainerGroupID {
		t.Fatalf("after the retry: %d groups (%v), want only %s", len(all), err, out.ContainerGroupID)
	}
}
