package api_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// ClientToken (issue 9 point 6): one token, one group.
func TestClientToken(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{config: netConfig, dataDir: dir})
	c := s.client()
	create := func(c *client, name, token string) *response {
		p := createParams(name)
		if token != "" {
			p.Set("ClientToken", token)
		}
		return c.do("CreateContainerGroup", p)
	}
	id := func(r *response) string {
		t.Helper()
		mustOK(t, r)
		return r.Body["ContainerGroupId"].(string)
	}

	first := id(create(c, "web", "token-1"))
	if again := id(create(c, "web", "token-1")); again != first {
		t.Fatalf("a repeated token made group %s after %s", again, first)
	}
	// JSON and 0-based clients send the same request differently: still
	// the same request.
	c.style = stylePOSTJSON
	if again := id(create(c, "web", "token-1")); again != first {
		t.Fatalf("the same request as JSON made group %s after %s", again, first)
	}
	c.style = stylePOSTForm
	mustErr(t, create(c, "other", "token-1"), http.StatusBadRequest, "InvalidParameterValue", "parameter ClientToken:")
	if other := id(create(c, "web", "token-2")); other == first {
		t.Fatal("another token returned the first group")
	}
	if id(create(c, "web", "")) == first {
		t.Fatal("a create without a token returned an earlier group")
	}
	mustErr(t, create(c, "web", "bad token"), http.StatusBadRequest, "InvalidParameterValue", "parameter ClientToken:")
	mustErr(t, create(c, "web", string(make([]byte, 65))), http.StatusBadRequest, "InvalidParameterValue", "parameter ClientToken:")
	if n := total(t, c); n != 3 {
		t.Fatalf("%d groups, want 3", n)
	}

	// Concurrent creates with one token make one group.
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := create(c, "burst", "token-burst")
			if r.Status == http.StatusOK {
				ids[i] = r.Body["ContainerGroupId"].(string)
			}
		}()
	}
	wg.Wait()
	for _, got := range ids {
		if got == "" || got != ids[0] {
			t.Fatalf("concurrent creates with one token answered %q", ids)
		}
	}

	// A repeat while the first create is still starting waits for it.
	release := s.rt.HoldStarts()
	firstDone := make(chan string)
	go func() { firstDone <- id(create(c, "slow", "token-slow")) }()
	deadline := time.Now().Add(30 * time.Second)
	for total(t, c) != 5 { // the held group is stored
		if time.Now().After(deadline) {
			t.Fatal("the held create never reached the store")
		}
		time.Sleep(5 * time.Millisecond)
	}
	repeatDone := make(chan string)
	go func() { repeatDone <- id(create(c, "slow", "token-slow")) }()
	release()
	if a, b := <-firstDone, <-repeatDone; a != b {
		t.Fatalf("a repeat during the first create made %s besides %s", b, a)
	}

	// A create the runtime refused was rolled back: its token makes a new
	// group on the next try.
	s.rt.SetStartErr(errors.New("runtime refused"))
	if r := create(c, "refused", "token-refused"); r.Status == http.StatusOK {
		t.Fatalf("refused create answered %s", r.Raw)
	}
	s.rt.SetStartErr(nil)
	id(create(c, "refused", "token-refused"))

	// The token outlives a restart (the answer lost when kcid died).
	before := total(t, c)
	s.stop()
	s2 := startServer(t, serverOpts{config: netConfig, dataDir: dir})
	c2 := s2.client()
	if again := id(create(c2, "web", "token-1")); again != first {
		t.Fatalf("after a restart the token made group %s, not %s", again, first)
	}
	if n := total(t, c2); n != before {
		t.Fatalf("%d groups after the restart's repeat, want %d", n, before)
	}
}
