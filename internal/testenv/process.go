package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Process is a program started in the background by StartProcess, for
// programs and tests that run a daemon (kcid) themselves.
type Process struct{ d *daemon }

// StartProcess starts argv with env, its stdout and stderr appended to
// logPath, in its own process group, from an OS thread locked for the
// process's life with Pdeathsig SIGTERM: it ends with the starting
// program even if that one is killed.
func StartProcess(logPath string, argv, env []string) (*Process, error) {
	d, err := startDaemon(argv[0], logPath, argv, env)
	if err != nil {
		return nil, err
	}
	return &Process{d: d}, nil
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool { return p.d.exited() }

// Err is how the process ended (Wait's result); nil while it runs.
func (p *Process) Err() error {
	if !p.d.exited() {
		return nil
	}
	return p.d.err
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.d.cmd.Process.Pid }

// Kill sends SIGKILL, as a crash would, and waits for the exit.
func (p *Process) Kill() {
	if p.d.exited() {
		return
	}
	_ = p.d.cmd.Process.Kill()
	<-p.d.done
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL.
func (p *Process) Stop(grace time.Duration) { p.d.stop(grace) }

// WaitHealthy polls url until it answers 200, the process exits, or
// timeout passes.
func WaitHealthy(p *Process, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			return fmt.Errorf("exited: %v", p.Err())
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePort returns a loopback address (127.0.0.1:port) that nothing
// listens on at the moment, for a daemon to listen on.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// TailFile returns the last n lines of a file (a log), or why it has none.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// AppendLine appends a line to a daemon's log, so that the log shows where
// a test did something to it; errors are ignored (the log is a help).
func AppendLine(path, format string, args ...any) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, format+"\n", args...)
	f.Close()
}
