package testenv

import (
	"fmt"
	"net/http"
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
