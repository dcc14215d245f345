// Package containerlog is the logging process of the containerd runtime's
// containers: containerd's shim starts it for every task (a binary:// log
// URI, see Args), hands it the read ends of the container's stdout and
// stderr pipes, and it writes both, in the order it reads them, to one
// file that it rotates before a write would take it over its cap.
//
// The process is the running kcid binary (or test binary) itself,
// re-executed by the shim: this package's init recognises the arguments
// Args produces and runs the logger instead of the program. Every binary
// that links the containerd runtime links this package, so every binary
// that can start a task can also be its logger.
//
// Why a process of the shim and not a copier in kcid: the shim starts,
// owns and reaps it, so it lives exactly as long as the task's stdio —
// through kcid restarts, kcid crashes and containerd restarts — and a
// container's output never waits for kcid. Why not the shim writing the
// file itself (cio.LogFile): then nothing can bound the file between two
// checks (a container printing with `yes` writes hundreds of MB/s).
//
// The bound: the current file never exceeds Max bytes, and one rotated
// file (path + ".1", replaced at each rotation with a rename) never
// exceeds Max either, so a container's log takes at most 2·Max bytes on
// disk. The only slack is outside the writer: a reader that has the
// rotated file open while a rotation replaces it keeps the replaced
// file's blocks until it closes it (one more Max per reader, for the
// duration of one read).
//
// Rotation happens after the last newline that fits, so both files hold
// whole lines unless a single line is longer than what is left.
//
// Output is never silently lost: when the file cannot be opened or
// written (a full disk, a removed directory), the logger keeps draining
// the pipes, so the container never blocks on it, counts what it had to
// drop, and writes a line saying how much was lost and why as soon as it
// can write again. If the logger itself dies (killed by hand), the
// container's writes fail with EPIPE: output is refused, not queued.
package containerlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Argument names of the logging process. The shim passes a binary://
// URI's query parameters as "name value" pairs, in no particular order.
const (
	argFile = "openkci-container-log"
	argMax  = "openkci-container-log-max"
)

// MinMax is the smallest cap accepted; smaller ones are raised to it.
const MinMax = 4 << 10

// Args are the query parameters of the binary:// log URI that makes the
// shim run this package's logger writing path with a cap of max bytes
// (cio.BinaryIO(os.Executable(), Args(path, max))).
func Args(path string, max int64) map[string]string {
	return map[string]string{argFile: path, argMax: strconv.FormatInt(max, 10)}
}

func init() {
	path, max, ok := parseArgs(os.Args[1:])
	if !ok {
		return
	}
	os.Exit(run(path, max))
}

// parseArgs recognises the logger's command line: exactly the pairs Args
// makes, in any order.
func parseArgs(args []string) (path string, max int64, ok bool) {
	if len(args) != 4 {
		return "", 0, false
	}
	var maxArg string
	for i := 0; i < len(args); i += 2 {
		switch args[i] {
		case argFile:
			path = args[i+1]
		case argMax:
			maxArg = args[i+1]
		default:
			return "", 0, false
		}
	}
	max, err := strconv.ParseInt(maxArg, 10, 64)
	if path == "" || err != nil {
		return "", 0, false
	}
	return path, max, true
}

// drainAfterTerm is how long the logger keeps reading after the shim's
// SIGTERM (sent when the task is deleted, after the pipes' write ends are
// closed): what the container wrote last is read to EOF, but a pipe kept
// open by a stray process does not keep the logger alive. The shim kills
// it after 12 s anyway.
const drainAfterTerm = 3 * time.Second

// run is the logging process: fd 3 and 4 are the container's stdout and
// stderr, fd 5 is closed to tell the shim that the logger is ready.
func run(path string, max int64) int {
	// Only the shim ends the logger (SIGTERM, then SIGKILL after 12 s):
	// signals meant for a terminal or a process group are not for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	w := NewWriter(path, max)
	w.open()
	ready := os.NewFile(5, "ready")
	if ready != nil {
		ready.Close()
	}
	var pipes []*os.File
	for fd, name := range map[uintptr]string{3: "stdout", 4: "stderr"} {
		_ = syscall.SetNonblock(int(fd), true) // pollable: read deadlines work
		if f := os.NewFile(fd, name); f != nil {
			pipes = append(pipes, f)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range pipes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = w.ReadFrom(f)
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-term:
		for _, f := range pipes {
			_ = f.SetReadDeadline(time.Now().Add(drainAfterTerm))
		}
		<-done
	}
	return w.Close()
}

// Writer writes a container's output to a capped, rotated file. It is safe
// for concurrent use (one ReadFrom per stream).
type Writer struct {
	path string
	max  int64

	mu      sync.Mutex
	f       *os.File // nil while the file cannot be opened
	size    int64
	dropped int64 // bytes lost since the last successful write
	lastErr error
}

// NewWriter returns a writer of path capped at limit bytes (at least
// MinMax).
func NewWriter(path string, limit int64) *Writer {
	return &Writer{path: path, max: max(limit, MinMax)}
}

// ReadFrom copies r to the log until EOF or a read error, in chunks no
// larger than the cap.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, min(32<<10, w.max))
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			w.Write(buf[:k])
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Write logs p. It never fails: what cannot be written is counted and
// reported in the log once writing works again.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil && !w.open() {
		w.dropped += int64(len(p))
		return len(p), nil
	}
	if lost := w.dropped; lost > 0 {
		w.dropped = 0
		w.put(fmt.Appendf(nil, "[openkci: %d bytes of this container's output were lost: %v]\n", lost, w.lastErr))
		if w.dropped > 0 { // the note failed too: it is not output
			w.dropped = lost
		}
	}
	w.put(p)
	return len(p), nil
}

// open opens the current file for appending; a file over the cap (written
// by an earlier logger with a larger cap) is rotated first. Callers hold
// mu, except run before the readers start.
func (w *Writer) open() bool {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		w.lastErr = err
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		w.lastErr = err
		return false
	}
	w.f, w.size = f, fi.Size()
	if w.size > w.max {
		w.rotate()
	}
	return w.f != nil
}

// put writes p, rotating whenever the next bytes would exceed the cap: at
// the last newline that fits, else where the cap falls.
func (w *Writer) put(p []byte) {
	for len(p) > 0 && w.f != nil {
		room := w.max - w.size
		if int64(len(p)) <= room {
			w.append(p)
			return
		}
		cut := int(room)
		if i := bytes.LastIndexByte(p[:cut], '\n'); i >= 0 {
			cut = i + 1
		} else if w.size > 0 {
			cut = 0 // start the line in a fresh file
		}
		w.append(p[:cut])
		p = p[cut:]
		w.rotate()
	}
	if len(p) > 0 {
		w.dropped += int64(len(p))
	}
}

func (w *Writer) append(p []byte) {
	if len(p) == 0 || w.f == nil {
		return
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if err != nil {
		w.dropped += int64(len(p) - n)
		w.lastErr = err
		w.f.Close()
		w.f = nil
	}
}

// rotate replaces path.1 with the current file and starts an empty one.
func (w *Writer) rotate() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		w.lastErr = err
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		w.lastErr = err
		return
	}
	w.f, w.size = f, 0
}

// Close reports output still unaccounted for and closes the file. It
// returns the process exit code: 1 when output was lost and could not be
// reported in the log.
func (w *Writer) Close() int {
	w.mu.Lock()
	dropped := w.dropped
	w.mu.Unlock()
	if dropped > 0 {
		_, _ = w.Write(nil) // writes the note if the file can be written again
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.dropped > 0 {
		fmt.Fprintf(os.Stderr, "containerlog %s: %d bytes lost: %v\n", w.path, w.dropped, w.lastErr)
		return 1
	}
	return 0
}
