package testutil

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/openkci/openkci/internal/testenv"
)

// OpenPTY returns a new pseudo-terminal's controller and terminal ends,
// the terminal sized cols×rows; both are closed when the test ends. It
// skips the test where there are no pseudo-terminals (fails it in CI).
func OpenPTY(t testing.TB, cols, rows uint16) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.SkipOrFatal(t, "no pseudo-terminals: %v", err)
	}
	var unlock int32
	if err := ioctl(ctl, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	var n uint32
	if err := ioctl(ctl, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close(); ctl.Close() })
	SetTermSize(t, tty, cols, rows)
	return ctl, tty
}

// SetTermSize sets a terminal's window size (as a terminal emulator does
// when its window is resized; it does not send SIGWINCH).
func SetTermSize(t testing.TB, tty *os.File, cols, rows uint16) {
	t.Helper()
	ws := struct{ Row, Col, X, Y uint16 }{Row: rows, Col: cols}
	if err := ioctl(tty, syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		t.Fatalf("set terminal size: %v", err)
	}
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
