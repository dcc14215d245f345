package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/api"
)

// TestExecContainerCommandRefusals: bad input and a runtime without exec
// are answered in the KCI format, naming the parameter, before anything
// is issued. (The socket itself is tested over real containerd in
// internal/runtime/containerd, TestExecOverHTTP.)
func TestExecContainerCommandRefusals(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	r := c.do("CreateContainerGroup", createParams("ex"))
	mustOK(t, r)
	id := r.Body["ContainerGroupId"].(string)
	long := make([]string, 0, 2*257)
	for i := 1; i <= 257; i++ {
		long = append(long, "Command."+itoa(i), "x")
	}
	for _, tc := range []struct {
		name   string
		params []string
		status int
		code   string
		msg    string
	}{
		{"no group", []string{"Command.1", "sh"}, 400, "MissingParameter", "ContainerGroupId"},
		{"no command", []string{"ContainerGroupId", id, "ContainerName", "main"}, 400, "MissingParameter", "Command.N"},
		{"empty program", []string{"ContainerGroupId", id, "Command.1", ""}, 400, "InvalidParameterValue", "Command.1"},
		{"NUL", []string{"ContainerGroupId", id, "Command.1", "sh", "Command.2", "a\x00b"}, 400, "InvalidParameterValue", "NUL"},
		{"too many arguments", append([]string{"ContainerGroupId", id}, long...), 400, "InvalidParameterValue", "at most 256"},
		{"sync with tty", []string{"ContainerGroupId", id, "Command.1", "sh", "TTY", "true", "Sync", "true"}, 400, "InvalidParameterValue", "TTY"},
		{"bad bool", []string{"ContainerGroupId", id, "Command.1", "sh", "Stdin", "maybe"}, 400, "InvalidParameterValue", "Stdin"},
		{"unknown group", []string{"ContainerGroupId", "nope", "Command.1", "sh"}, 404, "ContainerGroupNotFound", "nope"},
		{"unknown container", []string{"ContainerGroupId", id, "ContainerName", "nope", "Command.1", "sh"}, 404, "ContainerNotFound", "nope"},
		{"dry run", []string{"ContainerGroupId", id, "Command.1", "sh", "DryRun", "true"}, 412, "DryRunOperation", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustErr(t, c.do("ExecContainerCommand", vals(tc.params...)), tc.status, tc.code, tc.msg)
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestExecContainerCommandURI: the answer is a socket on the host the
// call was sent to.
func TestExecContainerCommandURI(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	r := c.do("CreateContainerGroup", createParams("ex"))
	mustOK(t, r)
	r = c.do("ExecContainerCommand", vals("ContainerGroupId", r.Body["ContainerGroupId"].(string), "Command.1", "sh", "TTY", "true"))
	mustOK(t, r)
	uri, _ := r.Body["WebSocketUri"].(string)
	if want := "ws://" + strings.TrimPrefix(s.URL, "http://") + api.ExecPath; !strings.HasPrefix(uri, want) || len(uri) < len(want)+40 {
		t.Errorf("WebSocketUri %q, want %s and a token", uri, want)
	}
}

// TestExecContainerCommandBaseURI: behind a proxy the URI starts with the
// configured base.
func TestExecContainerCommandBaseURI(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig + "exec: {baseURI: 'wss://kci.example.com/kcid/'}\n"})
	c := s.client()
	r := c.do("CreateContainerGroup", createParams("ex"))
	mustOK(t, r)
	r = c.do("ExecContainerCommand", vals("ContainerGroupId", r.Body["ContainerGroupId"].(string), "Command.1", "sh"))
	mustOK(t, r)
	if uri, _ := r.Body["WebSocketUri"].(string); !strings.HasPrefix(uri, "wss://kci.example.com/kcid"+api.ExecPath) {
		t.Errorf("WebSocketUri %q, want it under the configured base", uri)
	}
}

// TestExecSocketRefusals: the socket route answers refusals in the KCI
// format: not a WebSocket handshake, not GET, a token kcid never issued.
func TestExecSocketRefusals(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	for _, tc := range []struct {
		name    string
		method  string
		upgrade bool
		status  int
		code    string
	}{
		{"plain GET", http.MethodGet, false, 400, "InvalidRequest"},
		{"POST", http.MethodPost, true, 400, "InvalidMethod"},
		{"unknown token", http.MethodGet, true, 403, "InvalidExecToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+api.ExecPath+"made-up-token", nil)
			if tc.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				RequestID string `json:"RequestId"`
				Error     struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || body.Error.Code != tc.code || body.RequestID == "" || !strings.HasSuffix(body.Error.Message, ".") {
				t.Errorf("%d %+v; want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}
}
