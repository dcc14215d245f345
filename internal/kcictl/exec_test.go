package kcictl_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/kcictl"
	"github.com/openkci/openkci/internal/testutil"
)

// ptySession runs kcictl with its stdin and stdout on a pseudo-terminal
// and collects what the terminal shows.
type ptySession struct {
	ctl, tty *os.File
	shown    *testutil.SyncBuffer
	stderr   *testutil.SyncBuffer
	done     chan int
}

func (h *harness) startOnPTY(t *testing.T, args ...string) *ptySession {
	ctl, tty := testutil.OpenPTY(t, 100, 30)
	s := &ptySession{ctl: ctl, tty: tty, shown: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan int, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ctl.Read(buf)
			s.shown.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	env := h.envFor("", nil, s.stderr)
	env.Stdin, env.Stdout, env.StdinIsTerminal = tty, tty, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	go func() { s.done <- kcictl.Main(ctx, args, env) }()
	return s
}

func (s *ptySession) waitShown(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.shown.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%q\nstderr: %s", want, s.shown.String(), s.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *ptySession) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(15 * time.Second):
		t.Fatalf("kcictl exec still runs; terminal:\n%q\nstderr: %s", s.shown.String(), s.stderr.String())
		return -1
	}
}

func rawMode(t *testing.T, tty *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&(unix.ICANON|unix.ECHO) == 0
}

// TestExecTTY: kcictl exec -it on a terminal: the terminal is raw for the
// session and restored after, the window size reaches the command and
// follows SIGWINCH, keys go through one by one, Ctrl-D ends the input and
// the command's exit code is kcictl's.
func TestExecTTY(t *testing.T) {
	h := newHarness(t)
	h.create("web", "--image", "busybox")
	s := h.startOnPTY(t, "exec", "web", "-it", "--", "sh", "exit=3")
	s.waitShown(t, "fake exec: sh exit=3")
	s.waitShown(t, "fake exec: size 100x30")
	if !rawMode(t, s.tty) {
		t.Errorf("the terminal is not raw during the session")
	}
	testutil.SetTermSize(t, s.tty, 120, 40)
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	s.waitShown(t, "fake exec: size 120x40")
	// Raw: no line editing, no local echo; "ab" arrives before any newline.
	if _, err := s.ctl.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	s.waitShown(t, "ab")
	if strings.Count(s.shown.String(), "ab") != 1 {
		t.Errorf("keys echoed locally as well: %q", s.shown.String())
	}
	if _, err := s.ctl.Write([]byte{4}); err != nil { // Ctrl-D
		t.Fatal(err)
	}
	if code := s.wait(t); code != 3 {
		t.Errorf("exit code %d, want the command's 3; stderr: %s", code, s.stderr.String())
	}
	if rawMode(t, s.tty) {
		t.Errorf("the terminal was left raw")
	}
}

// TestExecStdin: without -t, -i passes stdin through; on a terminal
// (cooked) Ctrl-D ends it; piped input ends at its end.
func TestExecStdin(t *testing.T) {
	h := newHarness(t)
	h.create("web", "--image", "busybox")

	s := h.startOnPTY(t, "exec", "web", "-i", "--", "cat")
	s.waitShown(t, "fake exec: cat")
	if _, err := s.ctl.Write([]byte("line one\n\x04")); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t); code != 0 {
		t.Errorf("exit code %d; stderr: %s", code, s.stderr.String())
	}
	// The terminal's echo, then cat's output (read from the terminal
	// after kcictl ended, perhaps).
	s.waitShown(t, "line one\r\nline one\r\n")

	r := h.runIn("piped\n", "exec", "web", "-i", "--", "cat", "exit=7")
	if r.code != 7 || r.stdout != "fake exec: cat exit=7\npiped\n" {
		t.Errorf("piped: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = h.run("exec", "web", "--", "true")
	if r.code != 0 || r.stdout != "fake exec: true\n" {
		t.Errorf("no stdin: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestExecUsage(t *testing.T) {
	h := newHarness(t)
	h.create("web", "--image", "busybox")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"exec"}, 2, "needs the container group ID or NAME"},
		{[]string{"exec", "web", "sh"}, 2, "give the command after --"},
		{[]string{"exec", "web", "--"}, 2, "give the command after --"},
		{[]string{"exec", "nope", "--", "sh"}, 1, "nope"},
		{[]string{"exec", "web", "-c", "other", "--", "sh"}, 1, `no container "other"`},
	} {
		r := h.run(tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
}
