package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/exec"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/pkg/kci"
)

// ExecOptions configures ExecContainerCommand and its socket.
type ExecOptions struct {
	Tokens   *exec.Tokens
	Sessions *exec.Sessions
	// BaseURI starts every WebSocketUri; empty: ws(s):// and the request's
	// Host.
	BaseURI string
	// SyncTimeout bounds a Sync=true command (30s).
	SyncTimeout time.Duration
}

// ExecPath is the route of the exec socket; the token follows it.
const ExecPath = "/exec/"

// Limits of ExecContainerCommand.
const (
	maxExecArgs      = 256
	maxExecArgsBytes = 64 << 10
	// maxSyncOutput bounds the output a Sync call returns.
	maxSyncOutput = 1 << 20
)

// ExecContainerCommand's request and response are pkg/kci's: one wire
// model for server and client.

func (h *Handler) execContainerCommand(c *call) (any, error) {
	var req kci.ExecContainerCommandRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := validateExec(&req); err != nil {
		return nil, err
	}
	eo := h.o.Exec
	if eo == nil {
		return nil, &apiError{Status: http.StatusNotImplemented, Code: kci.CodeUnsupportedOperation, Message: "Exec is not enabled on this kcid."}
	}
	target, err := h.o.Service.CheckExec(c.ctx, c.accountID, req.ContainerGroupID, req.ContainerName)
	if err != nil {
		return nil, execError(err)
	}
	if c.dryRun {
		return nil, errDryRun
	}
	if req.Sync {
		return h.execSync(c, target, req.Command)
	}
	stdin := req.Stdin == nil || *req.Stdin
	token, expires, err := eo.Tokens.Issue(exec.Grant{AccountID: c.accountID, Target: target, Command: req.Command, TTY: req.TTY, Stdin: stdin})
	if err != nil {
		return nil, &apiError{Status: http.StatusConflict, Code: kci.CodeLimitExceeded, Message: withDetail(msgLimitExceeded, err.Error()+"; try again when some have expired")}
	}
	h.o.Logger.Info("exec token issued", "request_id", c.requestID, "account", c.accountID, "group", target.GroupID,
		"container", target.Container, "command", req.Command, "tty", req.TTY, "stdin", stdin, "expires", expires)
	return kci.ExecContainerCommandResponse{RequestID: c.requestID, WebSocketURI: execBaseURI(eo.BaseURI, c.http) + ExecPath + token}, nil
}

func validateExec(req *kci.ExecContainerCommandRequest) error {
	switch {
	case req.ContainerGroupID == "":
		return missing("ContainerGroupId")
	case len(req.ContainerGroupID) > maxIDLength:
		return invalid("ContainerGroupId", "IDs are at most %d characters", maxIDLength)
	case len(req.Command) == 0:
		return missing("Command.N")
	case len(req.Command) > maxExecArgs:
		return invalid("Command.N", "a command has at most %d arguments", maxExecArgs)
	case req.Command[0] == "":
		return invalid("Command.1", "the program must not be empty")
	case req.Sync && req.TTY:
		return invalid("TTY", "a Sync call returns the output in the response and cannot have a terminal; use Sync=false for a TTY")
	}
	n := 0
	for _, a := range req.Command {
		n += len(a)
		if strings.ContainsRune(a, 0) {
			return invalid("Command.N", "arguments must not contain NUL characters")
		}
	}
	if n > maxExecArgsBytes {
		return invalid("Command.N", "the command is %d bytes long; at most %d are allowed", n, maxExecArgsBytes)
	}
	return nil
}

// execError maps the errors of an exec that are particular to it; others
// go through the common map.
func execError(err error) error {
	switch {
	case errors.Is(err, service.ErrExecUnsupported):
		return &apiError{Status: http.StatusNotImplemented, Code: kci.CodeUnsupportedOperation, Message: withDetail("Exec is not supported", err.Error())}
	}
	return err
}

// execSync runs the command at once and returns its output.
func (h *Handler) execSync(c *call, target service.ExecTarget, command []string) (any, error) {
	timeout := h.o.Exec.SyncTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), timeout)
	defer cancel()
	out := core.NewCappedBuffer(maxSyncOutput)
	code, err := h.o.Service.Exec(ctx, c.accountID, target, core.ExecProcess{Command: command, Stdout: out, Stderr: out})
	if err != nil {
		return nil, execError(err)
	}
	if ctx.Err() != nil {
		return nil, &apiError{Status: http.StatusRequestTimeout, Code: kci.CodeOperationTimeout,
			Message: fmt.Sprintf("The command did not finish within %s and was killed; Sync is for short commands, run longer ones through the WebSocketUri of a call with Sync=false.", timeout)}
	}
	s := out.String()
	return kci.ExecContainerCommandResponse{RequestID: c.requestID, SyncResponse: &s, ExitCode: &code}, nil
}

// execBaseURI is the configured base, or the scheme and Host the client
// reached kcid at.
func execBaseURI(base string, r *http.Request) string {
	if base != "" {
		return strings.TrimSuffix(base, "/")
	}
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	return scheme + "://" + r.Host
}

// ServeExecSocket serves GET /exec/{token}: it redeems the token (which is
// the socket's whole authentication), then hands the connection to the
// session. Refusals are answered in the KCI error format before any
// upgrade.
func (h *Handler) ServeExecSocket(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := h.o.NewRequestID()
	w.Header().Set("X-Kci-Request-Id", requestID)
	g, release, err := h.openExec(r)
	if err != nil {
		ae, _ := toAPIError(err)
		h.o.Logger.Info("exec socket refused", "request_id", requestID, "status", ae.Status, "code", ae.Code, "remote", r.RemoteAddr)
		writeJSON(w, ae.Status, ae.envelope(requestID))
		return
	}
	defer release()
	h.o.Logger.Info("exec session opened", "request_id", requestID, "account", g.AccountID, "group", g.Target.GroupID,
		"container", g.Target.Container, "command", g.Command, "tty", g.TTY, "remote", r.RemoteAddr)
	h.o.Exec.Sessions.Serve(w, r, g, requestID)
	h.o.Logger.Info("exec session closed", "request_id", requestID, "account", g.AccountID, "group", g.Target.GroupID,
		"duration", time.Since(start).Round(time.Millisecond))
}

// openExec checks an exec socket request and redeems its token.
func (h *Handler) openExec(r *http.Request) (exec.Grant, func(), error) {
	eo := h.o.Exec
	switch {
	case eo == nil:
		return exec.Grant{}, nil, &apiError{Status: http.StatusNotImplemented, Code: kci.CodeUnsupportedOperation, Message: "Exec is not enabled on this kcid."}
	case r.Method != http.MethodGet:
		return exec.Grant{}, nil, &apiError{Status: http.StatusBadRequest, Code: kci.CodeInvalidMethod, Message: fmt.Sprintf(msgInvalidMethod, clip(r.Method))}
	case !exec.IsUpgrade(r):
		// Checked before the token is redeemed: a plain GET (a browser, a
		// probe) does not burn it.
		return exec.Grant{}, nil, &apiError{Status: http.StatusBadRequest, Code: kci.CodeInvalidRequest,
			Message: "This is an exec socket: connect with a WebSocket client (Connection: Upgrade, Upgrade: websocket)."}
	}
	g, err := eo.Tokens.Redeem(strings.TrimPrefix(r.URL.Path, ExecPath))
	if err != nil {
		return exec.Grant{}, nil, &apiError{Status: http.StatusForbidden, Code: kci.CodeInvalidExecToken,
			Message: withDetail("The exec socket was refused", err.Error()+"; call ExecContainerCommand for a new WebSocketUri")}
	}
	release, err := eo.Sessions.Acquire(g.AccountID)
	if err != nil {
		return exec.Grant{}, nil, &apiError{Status: http.StatusConflict, Code: kci.CodeLimitExceeded,
			Message: withDetail("The exec socket was refused", err.Error()+"; close one and call ExecContainerCommand again")}
	}
	return g, release, nil
}
