package kci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ExecContainerCommandRequest asks for a command in a running container.
// Stdin and Sync are kcid extensions (as in Alibaba ECI); see docs/exec.md.
type ExecContainerCommandRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
	// ContainerName may be empty when the group has one container.
	ContainerName string   `query:"ContainerName"`
	Command       []string `query:"Command"`
	TTY           bool     `query:"TTY,Tty"`
	// Stdin attaches the socket's input to the command (default true).
	Stdin *bool `query:"Stdin"`
	// Sync runs the command at once, without stdin or a TTY, and returns
	// its output and exit code in the response instead of a socket.
	Sync bool `query:"Sync"`
}

// ExecContainerCommandResponse carries the socket's URI (valid once, for a
// short time), or, with Sync, the command's output and exit code.
type ExecContainerCommandResponse struct {
	RequestID    string `json:"RequestId"`
	WebSocketURI string `json:"WebSocketUri"`
	// SyncResponse is the output (stdout and stderr as written) of a Sync
	// call, at most 1 MiB; ExitCode its exit code.
	SyncResponse *string `json:"SyncResponse,omitempty"`
	ExitCode     *int    `json:"ExitCode,omitempty"`
}

// ExecContainerCommand returns a WebSocketUri for a command in a running
// container (or, with Sync, its output). Like a create, it is retried only
// when the server says it did nothing (throttled, unavailable).
func (c *Client) ExecContainerCommand(ctx context.Context, req *ExecContainerCommandRequest) (*ExecContainerCommandResponse, error) {
	out := &ExecContainerCommandResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "ExecContainerCommand", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// The exec socket's subprotocols: Kubernetes' streaming protocols, which
// kcid speaks so that Kubernetes clients can drive it. Without one the
// socket is in plain mode (see docs/exec.md).
const (
	ExecProtocolV5 = "v5.channel.k8s.io"
	ExecProtocolV4 = "v4.channel.k8s.io"
)

// Channels of the Kubernetes streaming protocol: the first byte of every
// binary message.
const (
	ExecChannelStdin  = 0
	ExecChannelStdout = 1
	ExecChannelStderr = 2
	ExecChannelStatus = 3
	ExecChannelResize = 4
	// ExecChannelClose (v5): the message's second byte names a channel the
	// sender is done with (stdin: EOF).
	ExecChannelClose = 255
)

// ExecStatus is the message of the status channel, in the shape of
// Kubernetes' metav1.Status: Status "Success", or "Failure" with Reason
// "NonZeroExitCode" and the code in a cause of type "ExitCode", or another
// Reason and a Message when the command could not run.
type ExecStatus struct {
	Kind       string            `json:"kind,omitempty"`
	APIVersion string            `json:"apiVersion,omitempty"`
	Metadata   struct{}          `json:"metadata"`
	Status     string            `json:"status"`
	Message    string            `json:"message,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Details    *ExecStatusDetail `json:"details,omitempty"`
	Code       int               `json:"code,omitempty"`
}

// ExecStatusDetail holds the causes of a failure.
type ExecStatusDetail struct {
	Causes []ExecStatusCause `json:"causes,omitempty"`
}

// ExecStatusCause is one cause; Type "ExitCode" carries the exit code.
type ExecStatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ExitStatus returns the status message for an exit code.
func ExitStatus(code int) ExecStatus {
	if code == 0 {
		return ExecStatus{Status: "Success"}
	}
	return ExecStatus{Status: "Failure", Reason: "NonZeroExitCode", Message: fmt.Sprintf("command terminated with exit code %d", code),
		Details: &ExecStatusDetail{Causes: []ExecStatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}}}
}

// ExitCode reads the exit code from a status message; a Failure without
// an exit code is an error carrying the status's message.
func (s ExecStatus) ExitCode() (int, error) {
	switch {
	case s.Status == "Success":
		return 0, nil
	case s.Reason == "NonZeroExitCode" && s.Details != nil:
		for _, c := range s.Details.Causes {
			if c.Type == "ExitCode" {
				return strconv.Atoi(c.Message)
			}
		}
	}
	if s.Message == "" {
		return -1, errors.New("exec failed")
	}
	return -1, errors.New(s.Message)
}

// TermSize is a terminal's size, as sent on the resize channel.
type TermSize struct {
	Width  uint16 `json:"Width"`
	Height uint16 `json:"Height"`
}

// ExecStreams attach a local process to an exec socket.
type ExecStreams struct {
	// Stdin is sent to the command; its EOF closes the command's stdin.
	// Nil sends nothing.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output (with a TTY, all of
	// it arrives on Stdout). Nil discards.
	Stdout, Stderr io.Writer
	// Resize sends terminal sizes (TTY sessions); nil sends none.
	Resize <-chan TermSize
}

// StreamExec connects to an exec socket (a WebSocketUri) with the
// v5.channel.k8s.io protocol, copies the streams until the command ends
// and returns its exit code. An error means the command did not run to
// its end (refused token, container not running, connection lost).
func StreamExec(ctx context.Context, uri string, s ExecStreams) (int, error) {
	d := websocket.Dialer{Subprotocols: []string{ExecProtocolV5}, HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, uri, nil)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if apiErr := decodeError("ExecContainerCommand", resp, raw); apiErr != nil {
				return -1, apiErr
			}
		}
		return -1, fmt.Errorf("connect to exec socket: %w", err)
	}
	defer conn.Close()
	if conn.Subprotocol() != ExecProtocolV5 {
		return -1, fmt.Errorf("exec socket did not agree to %s (got %q)", ExecProtocolV5, conn.Subprotocol())
	}
	var wmu sync.Mutex
	send := func(msg []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.WriteMessage(websocket.BinaryMessage, msg)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = conn.Close()
		case <-stop:
		}
	}()
	if s.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Stdin.Read(buf)
				if n > 0 {
					if send(append([]byte{ExecChannelStdin}, buf[:n]...)) != nil {
						return
					}
				}
				if err != nil {
					_ = send([]byte{ExecChannelClose, ExecChannelStdin})
					return
				}
			}
		}()
	}
	if s.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					b, _ := json.Marshal(sz)
					if send(append([]byte{ExecChannelResize}, b...)) != nil {
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	var status []byte
	for {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			if status != nil {
				var st ExecStatus
				if err := json.Unmarshal(status, &st); err != nil {
					return -1, fmt.Errorf("exec socket sent a bad status %q: %w", status, err)
				}
				return st.ExitCode()
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Text != "" {
				return -1, fmt.Errorf("exec socket closed: %s", ce.Text)
			}
			return -1, fmt.Errorf("exec socket closed before the command's status arrived: %w", err)
		}
		if typ != websocket.BinaryMessage || len(msg) == 0 {
			continue
		}
		var w io.Writer
		switch msg[0] {
		case ExecChannelStdout:
			w = s.Stdout
		case ExecChannelStderr:
			w = s.Stderr
		case ExecChannelStatus:
			status = append(status, msg[1:]...)
		}
		if w != nil {
			if _, err := w.Write(msg[1:]); err != nil {
				return -1, fmt.Errorf("write output: %w", err)
			}
		}
	}
}

// Error codes of ExecContainerCommand and its socket (kcid's; KCI
// documents none). See docs/exec.md.
const (
	CodeInvalidExecToken     = "InvalidExecToken"
	CodeInvalidRequest       = "InvalidRequest"
	CodeOperationTimeout     = "OperationTimeout"
	CodeUnsupportedOperation = "UnsupportedOperation"
)
