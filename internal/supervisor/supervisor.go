package supervisor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrContainerdNotFound is wrapped by the error of Ensure when no containerd
// answers and none can be started because the binary is not on the PATH.
var ErrContainerdNotFound = errors.New("containerd is not on the PATH")

// InstallHint says how to get what kcid's own containerd needs on Debian.
const InstallHint = "apt-get install containerd runc containernetworking-plugins"

// maxSocketPath is the longest unix socket path: sun_path holds 108 bytes
// including the terminating NUL.
const maxSocketPath = 107

// tunables are the timings of a supervisor; tests shorten them.
type tunables struct {
	startTimeout  time.Duration // for the daemon to answer after a start
	stopGrace     time.Duration // between SIGTERM and SIGKILL
	backoffMin    time.Duration // first restart delay
	backoffMax    time.Duration // restart delay ceiling
	backoffReset  time.Duration // uptime after which the delay is back to backoffMin
	pollAdopted   time.Duration // how often an adopted daemon is checked for life
	progressEvery time.Duration // how often waiting is logged
}

var defaults = tunables{
	startTimeout:  30 * time.Second,
	stopGrace:     10 * time.Second,
	backoffMin:    time.Second,
	backoffMax:    30 * time.Second,
	backoffReset:  time.Minute,
	pollAdopted:   500 * time.Millisecond,
	progressEvery: 5 * time.Second,
}

// Ensure returns the address of a containerd that answers.
//
// If one answers at address, address is returned as is and stop does
// nothing: that daemon is not kcid's to manage.
//
// Otherwise kcid's own containerd is used, under dataDir/containerd (see
// the package documentation): the one an earlier kcid left running if its
// pid file names it and it answers, else a new one started from the
// containerd on the PATH. Ensure waits (up to 30 s, logging progress) until
// it answers, and from then on supervises it: an unexpected exit is logged
// with the tail of its log and followed by a restart after a back-off of
// 1 s, doubling up to 30 s (back to 1 s after a minute of uptime).
//
// ctx bounds Ensure only, not the supervision, which lasts until stop.
// stop terminates the daemon (SIGTERM, then SIGKILL after 10 s), waits for
// it and for the supervision to end, and is safe to call more than once.
// Running containers survive it: their shims keep them alive.
//
// When no containerd answers and containerd is not on the PATH the error
// wraps ErrContainerdNotFound and says what to install or which flag to
// pass.
func Ensure(ctx context.Context, address, dataDir string, log *slog.Logger) (addr string, stop func(), err error) {
	if log == nil {
		log = slog.Default()
	}
	noop := func() {}
	var reason error
	if address == "" {
		reason = errors.New("no address given")
	} else {
		v, err := Ping(ctx, address)
		if err == nil {
			log.Info("using containerd", "address", address, "version", v)
			return address, noop, nil
		}
		reason = err
	}
	if dataDir == "" {
		return "", nil, fmt.Errorf("no containerd answers at %q (%v), and without a data dir kcid cannot start its own", address, reason)
	}
	l, err := newLayout(dataDir)
	if err != nil {
		return "", nil, err
	}
	log.Info("no containerd answers at the configured address; using kcid's own",
		"address", address, "reason", reason.Error(), "dir", l.dir)
	if l.sockDir != "" {
		log.Info("socket path under the data dir is too long for a unix socket; using /run",
			"socket", l.sock, "limit_bytes", maxSocketPath+1)
	}
	for _, d := range []string{l.dir, l.sockDir} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(d, 0o711); err != nil {
			return "", nil, fmt.Errorf("kcid's containerd: %w", err)
		}
	}
	unlock, err := lockFile(ctx, l.lock, log)
	if err != nil {
		return "", nil, fmt.Errorf("kcid's containerd: %w", err)
	}
	defer unlock()

	s := &supervisor{log: log, l: l, tun: defaults, done: make(chan struct{})}

	// A daemon left running by an earlier kcid (killed, crashed)?
	if p := s.previous(); p != nil {
		t0 := time.Now()
		v, werr := s.waitReady(ctx, p, "containerd left running by an earlier kcid")
		if werr == nil {
			log.Info("adopted the containerd an earlier kcid left running",
				"pid", p.pid, "socket", l.sock, "version", v, "took", since(t0))
			s.run(p)
			return l.sock, s.stop, nil
		}
		if ctx.Err() != nil {
			p.release()
			return "", nil, werr
		}
		log.Warn("the containerd an earlier kcid left running does not answer; stopping it",
			"pid", p.pid, "err", werr)
		s.terminate(p)
	}

	// Something we did not start (no valid pid file) answers on our socket:
	// use it, but it is not ours to restart or stop.
	if v, err := Ping(ctx, l.sock); err == nil {
		log.Warn("a containerd not started by kcid (no valid pid file) answers on kcid's socket; using it unsupervised",
			"socket", l.sock, "version", v, "pid_file", l.pid)
		return l.sock, noop, nil
	}

	if _, err := exec.LookPath("containerd"); err != nil {
		return "", nil, fmt.Errorf("no containerd answers at %s (%v), and kcid cannot start its own: %w; "+
			"install it (%s) or pass --containerd-address with the socket of a running containerd",
			address, reason, ErrContainerdNotFound, InstallHint)
	}
	if os.Geteuid() != 0 {
		return "", nil, fmt.Errorf("no containerd answers at %s (%v), and starting kcid's own needs root (euid %d): "+
			"run kcid as root or pass --containerd-address with the socket of a running containerd",
			address, reason, os.Geteuid())
	}
	if _, err := exec.LookPath("runc"); err != nil {
		log.Warn("runc is not on the PATH: containerd will start but cannot run containers", "install", InstallHint)
	}
	s.removeStaleSockets()

	t0 := time.Now()
	p, err := s.start()
	if err != nil {
		return "", nil, err
	}
	v, err := s.waitReady(ctx, p, "containerd")
	if err != nil {
		s.terminate(p)
		s.removePidFile(p.pid)
		return "", nil, err
	}
	log.Info("started kcid's own containerd", "pid", p.pid, "socket", l.sock, "version", v,
		"took", since(t0), "log", l.log)
	s.run(p)
	return l.sock, s.stop, nil
}

// layout is where kcid's own containerd keeps its things.
type layout struct {
	dir              string // <data dir>/containerd
	root, state, opt string
	config, log, pid string
	lock             string
	sockDir          string // "" or /run/kcid-<hash> when dir is too deep
	sock, ttrpc      string
}

func newLayout(dataDir string) (layout, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return layout{}, err
	}
	dir := filepath.Join(abs, "containerd")
	l := layout{
		dir:    dir,
		root:   filepath.Join(dir, "root"),
		state:  filepath.Join(dir, "state"),
		opt:    filepath.Join(dir, "opt"),
		config: filepath.Join(dir, "config.toml"),
		log:    filepath.Join(dir, "containerd.log"),
		pid:    filepath.Join(dir, "containerd.pid"),
		lock:   filepath.Join(dir, "supervisor.lock"),
		sock:   filepath.Join(dir, "containerd.sock"),
	}
	if len(l.sock+".ttrpc") > maxSocketPath {
		sum := sha256.Sum256([]byte(dir))
		l.sockDir = "/run/kcid-" + hex.EncodeToString(sum[:])[:12]
		l.sock = filepath.Join(l.sockDir, "containerd.sock")
	}
	l.ttrpc = l.sock + ".ttrpc"
	return l, nil
}

// configTemplate is containerd's config (version 2: containerd 1.5 to 2.x).
// The CRI plugins are of no use to kcid (it is a containerd client) and
// would only log CNI errors; disabling IDs a version lacks is harmless.
const configTemplate = `# Written by kcid at every start of its own containerd: edits are lost.
version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
`

func (l layout) configText() string {
	return fmt.Sprintf(configTemplate, l.root, l.state, l.sock, l.ttrpc, l.opt)
}

// supervisor runs kcid's own containerd.
type supervisor struct {
	log *slog.Logger
	l   layout
	tun tunables

	ctx    context.Context // done when stop is called
	cancel context.CancelFunc
	done   chan struct{} // closed when supervise returns
	wg     sync.WaitGroup
	once   sync.Once
}

// process is a running containerd: a child, or a daemon adopted from an
// earlier kcid (not a child: its exit is seen by polling).
type process struct {
	pid     int
	proc    *os.Process
	adopted bool
	started time.Time
	exited  chan struct{} // closed when the process is gone
	err     error         // how it ended; read after exited is closed
	quit    chan struct{} // adopted: closed to stop watching
}

// release stops watching an adopted process that is left alone.
func (p *process) release() {
	if p.quit != nil {
		close(p.quit)
	}
}

// run starts supervising p.
func (s *supervisor) run(p *process) {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.supervise(p)
}

func (s *supervisor) stop() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
}

// supervise waits for p to exit and restarts it, until stop.
func (s *supervisor) supervise(p *process) {
	defer close(s.done)
	defer s.wg.Wait()
	delay := s.tun.backoffMin
	for {
		select {
		case <-s.ctx.Done():
			s.terminate(p)
			s.removePidFile(p.pid)
			return
		case <-p.exited:
		}
		if s.ctx.Err() != nil {
			s.removePidFile(p.pid)
			return
		}
		up := time.Since(p.started)
		if up >= s.tun.backoffReset {
			delay = s.tun.backoffMin
		}
		attrs := []any{"pid", p.pid, "exit", p.err.Error(), "restart_in", delay, "log", s.l.log}
		if !p.adopted {
			attrs = append(attrs, "uptime", up.Round(time.Millisecond))
		}
		if tail := logTail(s.l.log, 15); tail != "" {
			attrs = append(attrs, "log_tail", tail)
		}
		s.log.Error("kcid's containerd exited unexpectedly; restarting it", attrs...)
		for {
			t := time.NewTimer(delay)
			select {
			case <-s.ctx.Done():
				t.Stop()
				s.removePidFile(p.pid)
				return
			case <-t.C:
			}
			delay = min(2*delay, s.tun.backoffMax)
			np, err := s.start()
			if err == nil {
				s.log.Info("restarted kcid's containerd", "pid", np.pid, "previous_pid", p.pid)
				p = np
				break
			}
			s.log.Error("restarting kcid's containerd failed", "err", err, "retry_in", delay)
		}
		s.wg.Add(1)
		go s.watchRestart(p)
	}
}

// watchRestart logs when a restarted daemon answers, or that it does not.
func (s *supervisor) watchRestart(p *process) {
	defer s.wg.Done()
	t0 := time.Now()
	v, err := s.waitReady(s.ctx, p, "restarted containerd")
	switch {
	case err == nil:
		s.log.Info("kcid's containerd answers again", "pid", p.pid, "version", v, "took", since(t0))
	case s.ctx.Err() != nil:
	case isClosed(p.exited):
		// supervise logs the exit.
	default:
		s.log.Error("restarted containerd does not answer", "pid", p.pid, "err", err)
	}
}

// start starts containerd and writes its pid file.
func (s *supervisor) start() (*process, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("%w (install it: %s)", ErrContainerdNotFound, InstallHint)
	}
	if err := writeFileAtomic(s.l.config, []byte(s.l.configText()), 0o644); err != nil {
		return nil, fmt.Errorf("writing containerd config: %w", err)
	}
	rotateLog(s.l.log, 16<<20)
	logf, err := os.OpenFile(s.l.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("containerd log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "%s %s: kcid starts %s --config %s\n", logMarker, time.Now().Format(time.RFC3339), bin, s.l.config)
	cmd := exec.Command(bin, "--config", s.l.config)
	cmd.Dir = s.l.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group: ^C at kcid's terminal must not reach it (kcid
	// stops it in order). No Pdeathsig: it must outlive a killed kcid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	p := &process{pid: cmd.Process.Pid, proc: cmd.Process, started: time.Now(), exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		p.err = err
		close(p.exited)
	}()
	if err := writeFileAtomic(s.l.pid, []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		s.log.Warn("writing containerd pid file", "err", err)
	}
	return p, nil
}

// logMarker starts the line written to the log before every start.
const logMarker = "=== kcid"

// previous returns the daemon an earlier kcid left running, as named by
// the pid file, or nil; a stale pid file is removed.
func (s *supervisor) previous() *process {
	b, err := os.ReadFile(s.l.pid)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	stale := func(why string) *process {
		s.log.Info("removing stale containerd pid file", "pid_file", s.l.pid, "content", strings.TrimSpace(string(b)), "why", why)
		if err := os.Remove(s.l.pid); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing stale containerd pid file", "err", err)
		}
		return nil
	}
	if err != nil {
		return stale(err.Error())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return stale("not a pid")
	}
	// Open a handle (a pidfd on Linux) before checking that the pid is our
	// containerd: once open, the handle cannot be fooled by pid reuse.
	proc, err := os.FindProcess(pid)
	if err != nil {
		return stale(err.Error())
	}
	if why := s.notOurs(pid); why != "" {
		proc.Release()
		return stale(why)
	}
	if err := proc.Signal(syscall.Signal(0)); err != nil {
		proc.Release()
		return stale(err.Error())
	}
	p := &process{pid: pid, proc: proc, adopted: true, started: time.Now(),
		exited: make(chan struct{}), quit: make(chan struct{})}
	// Not a child: its exit is seen by polling. A zombie (its new parent
	// has not reaped it yet) counts as gone.
	go func() {
		t := time.NewTicker(s.tun.pollAdopted)
		defer t.Stop()
		for {
			if err := proc.Signal(syscall.Signal(0)); err != nil {
				p.err = errors.New("gone")
				break
			}
			if isZombie(pid) {
				p.err = errors.New("exited (zombie)")
				break
			}
			select {
			case <-p.quit:
				return
			case <-t.C:
			}
		}
		close(p.exited)
	}()
	return p
}

// notOurs says why pid is not the containerd of this layout ("" if it is):
// its command line must be `<.../containerd> --config <our config>`.
func (s *supervisor) notOurs(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "no such process"
		}
		return err.Error()
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "containerd" {
		return fmt.Sprintf("process %d is not containerd (%q)", pid, args[0])
	}
	for i, a := range args {
		if a == "--config="+s.l.config || (a == "--config" || a == "-c") && i+1 < len(args) && args[i+1] == s.l.config {
			return ""
		}
	}
	return fmt.Sprintf("process %d is a containerd with another config", pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// waitReady waits until the daemon answers on the socket, for up to
// startTimeout, logging progress; it fails early if p exits or ctx ends.
func (s *supervisor) waitReady(ctx context.Context, p *process, what string) (string, error) {
	t0 := time.Now()
	deadline := t0.Add(s.tun.startTimeout)
	nextLog := t0.Add(s.tun.progressEvery)
	for {
		pdl := time.Now().Add(2 * time.Second)
		if pdl.After(deadline) {
			pdl = deadline
		}
		pctx, cancel := context.WithDeadline(ctx, pdl)
		v, err := Ping(pctx, s.l.sock)
		cancel()
		if err == nil {
			return v, nil
		}
		if isClosed(p.exited) {
			return "", fmt.Errorf("%s (pid %d) exited before answering on %s (%v); log %s:\n%s",
				what, p.pid, s.l.sock, p.err, s.l.log, logTail(s.l.log, 20))
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("waiting for %s (pid %d) to answer: %w", what, p.pid, context.Cause(ctx))
		}
		now := time.Now()
		if !now.Before(deadline) {
			return "", fmt.Errorf("%s (pid %d) did not answer on %s within %s (%v); log %s:\n%s",
				what, p.pid, s.l.sock, s.tun.startTimeout, err, s.l.log, logTail(s.l.log, 20))
		}
		if !now.Before(nextLog) {
			s.log.Info("waiting for "+what+" to answer", "pid", p.pid, "socket", s.l.sock,
				"elapsed", since(t0), "timeout", s.tun.startTimeout, "last_error", err.Error())
			nextLog = nextLog.Add(s.tun.progressEvery)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-p.exited:
		case <-t.C:
		}
		t.Stop()
	}
}

// terminate stops p: SIGTERM (and SIGCONT, should it be stopped), then
// SIGKILL after the grace period.
func (s *supervisor) terminate(p *process) {
	if isClosed(p.exited) {
		return
	}
	s.log.Info("stopping kcid's containerd (running containers stay up)", "pid", p.pid)
	t0 := time.Now()
	_ = p.proc.Signal(syscall.SIGTERM)
	_ = p.proc.Signal(syscall.SIGCONT)
	t := time.NewTimer(s.tun.stopGrace)
	defer t.Stop()
	select {
	case <-p.exited:
		s.log.Info("kcid's containerd stopped", "pid", p.pid, "took", since(t0))
		return
	case <-t.C:
	}
	s.log.Warn("containerd did not stop on SIGTERM; killing it", "pid", p.pid, "grace", s.tun.stopGrace)
	_ = p.proc.Signal(syscall.SIGKILL)
	t.Reset(5 * time.Second)
	select {
	case <-p.exited:
	case <-t.C:
		s.log.Error("containerd survives SIGKILL", "pid", p.pid)
	}
}

// removePidFile removes the pid file if it still names pid.
func (s *supervisor) removePidFile(pid int) {
	b, err := os.ReadFile(s.l.pid)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		return
	}
	_ = os.Remove(s.l.pid)
}

// removeStaleSockets removes socket files nobody answers on (containerd
// would replace them too, but a stale socket confuses whoever looks).
func (s *supervisor) removeStaleSockets() {
	for _, path := range []string{s.l.sock, s.l.ttrpc} {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			continue
		}
		s.log.Info("removing stale containerd socket", "socket", path)
		if err := os.Remove(path); err != nil {
			s.log.Warn("removing stale containerd socket", "socket", path, "err", err)
		}
	}
}

// lockFile takes an exclusive flock on path, waiting (while ctx lasts) for
// another kcid that holds it.
func lockFile(ctx context.Context, path string, log *slog.Logger) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600) // close-on-exec: the daemon does not inherit it
	if err != nil {
		return nil, err
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !logged {
			log.Info("waiting for another kcid that is starting containerd in the same data dir", "lock", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rotateLog moves a log larger than limit to <log>.1.
func rotateLog(path string, limit int64) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > limit {
		_ = os.Rename(path, path+".1")
	}
}

// logTail returns up to n last lines of the log written since the last
// start marker.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	s := string(b)
	if i := strings.LastIndex(s, logMarker); i >= 0 {
		s = s[i:]
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
