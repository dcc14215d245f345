// Command chaos is OpenKCI's chaos suite: it drives a real kcid binary on
// a real containerd (kcid's own, supervised one, in a namespace, data dir
// and loop-mounted file system unique to the run) with a mixed workload of
// signed creates and deletes — groups with several containers, EmptyDir
// and ConfigFile volumes, EBS disks, every restart policy — and injects a
// fault in every round at a random moment: SIGKILL of kcid, SIGKILL of
// kcid's containerd, the data dir's file system filling up, a jump of
// kcid's clock by an hour. After each fault it restarts what died and
// checks what kcid reports and what is on the host (see invariants.go).
// It prints counts, and exits 1 on any violation, with the seed that
// replays the run's choices.
//
// Run as root, after .ci/install-deps.sh (make chaos builds kcid first):
//
//	go build -o bin/kcid ./cmd/kcid
//	go run ./test/chaos -kcid bin/kcid -n 1000 [-seed S] [-faults kcid-kill=80,...]
//
// docs/reliability.md has the invariants, the figures of long runs and
// what they found.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	os.Exit(runChaos(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	n         int
	seed      uint64
	faults    string
	kcidBin   string
	maxGroups int
	dataMiB   int
	logLevel  string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 30, "number of `faults` to inject (one per round)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of every random choice (0: a random one, printed)")
	fs.StringVar(&o.faults, "faults", defaultMix, "`kinds` of fault and their weights: kcid-kill, containerd-kill, disk-full, clock-jump")
	fs.StringVar(&o.kcidBin, "kcid", "bin/kcid", "kcid `binary` to run (go build -o bin/kcid ./cmd/kcid)")
	fs.IntVar(&o.maxGroups, "max-groups", 8, "at most this many `groups` live at once")
	fs.IntVar(&o.dataMiB, "data-mib", 768, "`size` of the data dir's file system in MiB")
	fs.StringVar(&o.logLevel, "log-level", "info", "`level` of the suite's log (kcid's own log is in the run directory)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.n < 1 {
		return nil, fmt.Errorf("-n: %d faults; want at least 1", o.n)
	}
	if o.maxGroups < 1 {
		return nil, fmt.Errorf("-max-groups: want at least 1")
	}
	if o.dataMiB < 256 {
		return nil, fmt.Errorf("-data-mib: %d MiB is too small for containerd and three disks; want 256 or more", o.dataMiB)
	}
	return o, nil
}

func runChaos(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(stderr, "chaos: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	mix, err := parseMix(o.faults)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	if err := preflight(o); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	if o.seed == 0 {
		o.seed = mrand.Uint64()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// One run at a time per machine: runs share the subnet 10.79.1.0/24.
	unlock, err := lockRun()
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	defer unlock()
	// The report goes to stdout and the log to stderr: a reader that goes
	// away (| head) must not end the run before its teardown.
	signal.Ignore(syscall.SIGPIPE)
	for _, r := range staleRigs(log) {
		log.Warn("removing what an earlier run left", "dir", r.dir)
		(&suite{log: log, rig: r, model: newModel()}).teardown()
	}

	s, err := newSuite(log, o, mix)
	if s != nil {
		defer s.teardown()
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos: set-up:", err)
		return 2
	}
	err = s.run(ctx)
	s.final(ctx)
	s.report(stdout, err)
	if err != nil || len(s.violations) > 0 {
		return 1
	}
	return 0
}

// preflight checks what the suite needs, so it fails with a clear message
// rather than midway.
func preflight(o *options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the suite loop-mounts a file system and kcid runs containers")
	}
	if fi, err := os.Stat(o.kcidBin); err != nil || fi.IsDir() {
		return fmt.Errorf("-kcid %s: no kcid binary there (go build -o %s ./cmd/kcid)", o.kcidBin, o.kcidBin)
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip", "losetup", "mkfs.ext4", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: install the dependencies (bash .ci/install-deps.sh)", bin)
		}
	}
	return nil
}

// lockRun takes /run/kci-chaos.lock for the run.
func lockRun() (func(), error) {
	f, err := os.OpenFile("/run/kci-chaos.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another chaos run holds /run/kci-chaos.lock (runs share their subnet; wait for it to end)")
	}
	return func() { f.Close() }, nil
}

func randomID() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// absPath makes the kcid binary path absolute (kcid runs from elsewhere).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
