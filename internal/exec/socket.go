package exec

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/pkg/kci"
)

// Runner runs a granted command (the service: it checks the group again,
// and deleting the group cancels ctx).
type Runner interface {
	Exec(ctx context.Context, accountID string, t service.ExecTarget, p core.ExecProcess) (int, error)
}

// Timings of a session.
const (
	// pingPeriod: the socket pings the client this often; a client that
	// answers nothing (no pong, no message) for idleTimeout is gone.
	pingPeriod  = 20 * time.Second
	idleTimeout = 3 * pingPeriod
	// writeTimeout bounds one message to the client: a client that stops
	// reading ends its session instead of stalling the command forever.
	writeTimeout = 30 * time.Second
	// maxMessage bounds one message from the client.
	maxMessage = 1 << 20
)

// Sessions serves exec sockets for redeemed grants and bounds how many
// run at once per account. Safe for concurrent use.
type Sessions struct {
	runner Runner
	log    *slog.Logger
	max    int

	mu     sync.Mutex
	active map[string]int // by account
	up     websocket.Upgrader
}

// DefaultMaxSessions is the default bound on an account's concurrent
// sessions.
const DefaultMaxSessions = 32

// ErrTooManySessions: the account has as many sessions open as allowed.
var ErrTooManySessions = errors.New("too many exec sessions are open for this account")

// NewSessions returns the session server; maxPerAccount <= 0 means
// DefaultMaxSessions.
func NewSessions(r Runner, maxPerAccount int, log *slog.Logger) *Sessions {
	if maxPerAccount <= 0 {
		maxPerAccount = DefaultMaxSessions
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sessions{
		runner: r, log: log, max: maxPerAccount, active: map[string]int{},
		up: websocket.Upgrader{
			Subprotocols: []string{kci.ExecProtocolV5, kci.ExecProtocolV4},
			// The token authenticates the socket; any origin may use it.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

// Acquire reserves a session slot of the account; call release when the
// session ends.
func (s *Sessions) Acquire(accountID string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[accountID] >= s.max {
		return nil, ErrTooManySessions
	}
	s.active[accountID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.active[accountID]--; s.active[accountID] <= 0 {
				delete(s.active, accountID)
			}
		})
	}, nil
}

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

// Serve upgrades r to a WebSocket and runs g's command over it until the
// command ends or the client goes away (which kills the command). The
// subprotocol is the first of the client's that kcid speaks; none means
// plain mode.
func (s *Sessions) Serve(w http.ResponseWriter, r *http.Request, g Grant, sessionID string) {
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the client already.
		s.log.Info("exec socket upgrade failed", "session", sessionID, "err", err)
		return
	}
	defer conn.Close()
	sess := &session{conn: conn, proto: conn.Subprotocol(), grant: g, log: s.log.With("session", sessionID)}
	sess.run(r.Context(), s.runner)
}

// session is one open socket.
type session struct {
	conn  *websocket.Conn
	proto string // kci.ExecProtocolV5, V4, or "" (plain)
	grant Grant
	log   *slog.Logger

	wmu sync.Mutex // serialises data messages
}

func (s *session) k8s() bool { return s.proto != "" }

func (s *session) run(parent context.Context, runner Runner) {
	// The request's context ends when the handler returns; the session's
	// own ends when the client goes away.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()

	var stdinR *io.PipeReader
	var stdinW *io.PipeWriter
	if s.grant.Stdin {
		stdinR, stdinW = io.Pipe()
		defer stdinW.Close()
	}
	resize := make(chan core.TermSize, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		err := s.readLoop(stdinW, resize)
		s.log.Debug("exec socket reader ended", "err", err)
		if stdinW != nil {
			stdinW.CloseWithError(io.EOF)
		}
		cancel() // the client is gone (or broke the protocol): kill the command
	}()
	go s.pinger(ctx)

	p := core.ExecProcess{Command: s.grant.Command, TTY: s.grant.TTY, Stdout: s.writer(kci.ExecChannelStdout)}
	if stdinR != nil {
		p.Stdin = stdinR
	}
	if s.grant.TTY {
		// Only the channel protocols carry sizes: a plain session's
		// terminal keeps the runtime's default.
		if s.k8s() {
			p.Resize = resize
		}
	} else {
		p.Stderr = s.writer(kci.ExecChannelStderr)
	}
	code, err := runner.Exec(ctx, s.grant.AccountID, s.grant.Target, p)
	if ctx.Err() != nil && err == nil {
		// Killed because the client left: nobody to tell.
		s.log.Info("exec session ended by the client")
		return
	}
	s.finish(code, err)
	// Wait (briefly) for the client to close in turn, so that the close
	// handshake completes and our close frame is not lost to a reset.
	select {
	case <-readerDone:
	case <-time.After(5 * time.Second):
	}
}

// readLoop reads the client's messages until the socket ends.
func (s *session) readLoop(stdin *io.PipeWriter, resize chan core.TermSize) error {
	s.conn.SetReadLimit(maxMessage)
	_ = s.conn.SetReadDeadline(time.Now().Add(idleTimeout))
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(idleTimeout)) })
	stdinOpen := stdin != nil
	closeStdin := func() {
		if stdinOpen {
			stdinOpen = false
			stdin.Close()
		}
	}
	for {
		typ, msg, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		if !s.k8s() {
			// Plain mode: every message is stdin; an empty one is its EOF.
			if len(msg) == 0 {
				closeStdin()
			} else if stdinOpen {
				if _, err := stdin.Write(msg); err != nil {
					closeStdin()
				}
			}
			continue
		}
		if typ != websocket.BinaryMessage || len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case kci.ExecChannelStdin:
			if stdinOpen && len(msg) > 1 {
				if _, err := stdin.Write(msg[1:]); err != nil {
					closeStdin()
				}
			}
		case kci.ExecChannelResize:
			var sz kci.TermSize
			if json.Unmarshal(msg[1:], &sz) != nil || sz.Width == 0 || sz.Height == 0 {
				s.log.Debug("exec resize ignored", "msg", string(msg[1:]))
				continue
			}
			s.log.Debug("exec resize", "width", sz.Width, "height", sz.Height)
			// Keep only the latest size if the command has not taken the last.
			select {
			case <-resize:
			default:
			}
			resize <- core.TermSize{Width: sz.Width, Height: sz.Height}
		case kci.ExecChannelClose:
			if s.proto == kci.ExecProtocolV5 && len(msg) > 1 && msg[1] == kci.ExecChannelStdin {
				closeStdin()
			}
		}
	}
}

// pinger keeps the socket alive through proxies and detects a vanished
// client (its read deadline passes without a pong).
func (s *session) pinger(ctx context.Context) {
	t := time.NewTicker(pingPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return
			}
		}
	}
}

// writer returns the stream of one output channel.
func (s *session) writer(channel byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		msg := p
		if s.k8s() {
			msg = make([]byte, 1+len(p))
			msg[0] = channel
			copy(msg[1:], p)
		}
		if err := s.write(msg); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

func (s *session) write(msg []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.conn.WriteMessage(websocket.BinaryMessage, msg)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// finish tells the client how the command ended and closes the socket:
// the status channel (Kubernetes protocols) or the close reason (plain).
func (s *session) finish(code int, err error) {
	closeCode, reason := websocket.CloseNormalClosure, "exit "+strconv.Itoa(code)
	if err != nil {
		msg := publicMessage(err)
		s.log.Info("exec session failed", "err", err)
		closeCode, reason = websocket.CloseInternalServerErr, msg
		if s.k8s() {
			st := kci.ExecStatus{Status: "Failure", Reason: "InternalError", Message: msg}
			switch {
			case errors.Is(err, errdefs.ErrNotRunning), errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrInvalidArgument):
				st.Reason = "BadRequest"
			}
			s.sendStatus(st)
		}
	} else if s.k8s() {
		s.sendStatus(kci.ExitStatus(code))
		reason = ""
	}
	if len(reason) > 123 { // a close frame's reason is at most 123 bytes
		reason = reason[:120] + "..."
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, reason), time.Now().Add(writeTimeout))
}

func (s *session) sendStatus(st kci.ExecStatus) {
	b, _ := json.Marshal(st)
	if err := s.write(append([]byte{kci.ExecChannelStatus}, b...)); err != nil {
		s.log.Debug("send exec status", "err", err)
	}
}

// publicMessage is what the client may read of err: the messages of the
// classes a caller can act on; anything else is internal.
func publicMessage(err error) string {
	var pe *errdefs.ParamError
	var nf *errdefs.NotFoundError
	switch {
	case errors.As(err, &pe):
		return pe.Detail
	case errdefs.PublicMessage(err) != "":
		return errdefs.PublicMessage(err)
	case errors.As(err, &nf):
		return nf.Error()
	}
	return "the command could not be run because of an internal error; the kcid log has the details under this session's ID"
}
