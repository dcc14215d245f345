package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openkci/openkci/internal/supervisor"
	"github.com/openkci/openkci/internal/testenv"
)

// rig is what one chaos run owns on the machine, all of it named after the
// run's ID: a directory <tmp>/kci-chaos-<id> holding the kcid binary's
// config, logs, the clock offset file and data.img, a small ext4 file
// system loop-mounted at data/ (kcid's --data-dir, so it can fill up);
// kcid, started with containerd namespace kcichaos-<id> and a containerd
// address where nothing answers, so that it starts and supervises its own
// containerd under data/containerd; and that containerd. It never talks to
// the system containerd.
type rig struct {
	log     *slog.Logger
	id      string // run ID: 8 hex digits
	ns      string // containerd namespace
	dir     string
	dataDir string // mount point of the loop file system
	img     string // the file behind it
	loopDev string
	kcidBin string
	offset  string // clock offset file
	cfgPath string
	logPath string

	mu       sync.Mutex
	instance string // the runtime's identity (instanceID)
	url      string
	proc     *process
	gen      int // kcid starts so far
}

// process is a started kcid.
type process struct {
	*testenv.Process
	killed bool // by the suite
}

const (
	accessKeyID     = "AKLTchaoskey0001"
	secretAccessKey = "chaos-secret-access-key-0001"
	account         = "2000000001" // kcid's default account
	vpcID           = "vpc-chaos"
	subnetID        = "subnet-chaos"
	sgID            = "sg-chaos"
	imageRef        = "local/chaos-busybox:1"
)

// diskIDs are the EBS volumes of the config, 1 GiB each (sparse).
var diskIDs = []string{
	"c4a05000-0000-4000-8000-000000000001",
	"c4a05000-0000-4000-8000-000000000002",
	"c4a05000-0000-4000-8000-000000000003",
}

// configYAML: one VPC and subnet (10.79.0.0/16, away from the e2e tests'
// 10.77 and the default networks' 10.88), three disks, the fake GPUs, a
// short stop grace (sh ignores SIGTERM), rate limits that never throttle
// the suite, room for every disk the run makes on demand.
func configYAML(gpus []string) string {
	var b strings.Builder
	b.WriteString(`vpcs:
  - {id: vpc-chaos, name: chaos, cidr: 10.79.0.0/16}
subnets:
  - {id: subnet-chaos, name: chaos, vpc: vpc-chaos, cidr: 10.79.1.0/24, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-chaos, name: chaos, vpc: vpc-chaos}
stopGracePeriod: 1s
`)
	fmt.Fprintf(&b, "node: {cpu: 64, memory: 64, gpus: {devices: [%s]}}\n", strings.Join(gpus, ", "))
	b.WriteString(`onDemandDisks: {maxPerAccount: 1000}
rateLimit: {mutatingPerSecond: 1000, mutatingBurst: 1000, readPerSecond: 10000, readBurst: 10000}
disks:
`)
	for _, d := range diskIDs {
		fmt.Fprintf(&b, "  - {id: %s, account: %q, zone: cn-beijing-6a, sizeGb: 1}\n", d, account)
	}
	return b.String()
}

// gpus are the run's two fake GPUs: character devices in its directory.
func (r *rig) gpus() []string {
	return []string{filepath.Join(r.dir, "gpu0"), filepath.Join(r.dir, "gpu1")}
}

// runDirPrefix starts the name of every run's directory in the temporary
// directory.
const runDirPrefix = "kci-chaos-"

// rigFor names the run's parts after its ID.
func rigFor(log *slog.Logger, id string) *rig {
	r := &rig{log: log, id: id, ns: "kcichaos-" + id}
	r.dir = filepath.Join(os.TempDir(), runDirPrefix+id)
	r.dataDir = filepath.Join(r.dir, "data")
	r.img = filepath.Join(r.dir, "data.img")
	r.offset = filepath.Join(r.dir, "clock-offset")
	r.cfgPath = filepath.Join(r.dir, "config.yaml")
	r.logPath = filepath.Join(r.dir, "kcid.log")
	return r
}

// staleRigs finds the directories of earlier runs that ended without
// their teardown (the suite killed): with the run lock held no other run
// is live, so every such directory is stale. Their loop devices are found
// by their backing file.
func staleRigs(log *slog.Logger) []*rig {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), runDirPrefix+"*"))
	var rigs []*rig
	for _, d := range dirs {
		id := strings.TrimPrefix(filepath.Base(d), runDirPrefix)
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() || len(id) != 8 {
			continue // not a run directory (a kept "-logs" directory, say)
		}
		r := rigFor(log, id)
		if out, err := exec.Command("losetup", "--noheadings", "--output", "NAME", "-j", r.img).Output(); err == nil {
			r.loopDev, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
		}
		rigs = append(rigs, r)
	}
	return rigs
}

// newRig creates the directory, the loop file system and the config.
func newRig(log *slog.Logger, id, kcidBin string, dataMiB int) (*rig, error) {
	r := rigFor(log, id)
	r.kcidBin = kcidBin
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		return nil, err
	}
	for _, g := range r.gpus() {
		// /dev/null's numbers (1:3): harmless to write to
		// (internal/runtime/containerd's GPU tests make theirs so).
		if err := unix.Mknod(g, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			return nil, fmt.Errorf("fake GPU %s: %w", g, err)
		}
	}
	if err := os.WriteFile(r.cfgPath, []byte(configYAML(r.gpus())), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.offset, []byte("0s\n"), 0o600); err != nil {
		return nil, err
	}
	f, err := os.Create(r.img)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(int64(dataMiB) << 20)
	f.Close()
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "kcichaos", r.img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs.ext4 %s: %v: %s", r.img, err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", r.img).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup %s: %v: %s", r.img, err, out)
	}
	r.loopDev = strings.TrimSpace(string(out))
	if out, err := exec.Command("mount", r.loopDev, r.dataDir).CombinedOutput(); err != nil {
		return r, fmt.Errorf("mount %s %s: %v: %s", r.loopDev, r.dataDir, err, out)
	}
	return r, nil
}

// containerdSocket is where kcid's own containerd listens (see
// internal/supervisor).
func (r *rig) containerdSocket() string {
	return filepath.Join(r.dataDir, "containerd", "containerd.sock")
}

// generation is the number of kcid starts so far.
func (r *rig) generation() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

func (r *rig) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url
}

// start starts kcid and waits until it answers /healthz (or exits, or
// timeout passes: kcid did not start).
func (r *rig) start(timeout time.Duration) (time.Duration, error) {
	began := time.Now()
	for attempt := 0; ; attempt++ {
		addr, err := testenv.FreePort()
		if err != nil {
			return 0, err
		}
		p, err := r.spawn(addr)
		if err != nil {
			return 0, err
		}
		err = testenv.WaitHealthy(p.Process, "http://"+addr+"/healthz", timeout)
		if err == nil {
			r.mu.Lock()
			r.proc, r.url = p, "http://"+addr
			r.gen++
			r.mu.Unlock()
			return time.Since(began), nil
		}
		r.kill(p)
		if attempt < 2 && strings.Contains(testenv.TailFile(r.logPath, 5), "address already in use") {
			continue // the port was taken between freePort and listen
		}
		return time.Since(began), fmt.Errorf("%v; kcid log %s, last lines:\n%s", err, r.logPath, testenv.TailFile(r.logPath, 40))
	}
}

// spawn starts kcid (testenv.StartProcess: it ends with the suite).
func (r *rig) spawn(addr string) (*process, error) {
	p, err := testenv.StartProcess(r.logPath, []string{r.kcidBin, "serve",
		"--listen", addr,
		"--data-dir", r.dataDir,
		"--config", r.cfgPath,
		// Nothing answers there: kcid starts (or adopts) its own
		// containerd under the data dir and supervises it.
		"--containerd-address", filepath.Join(r.dir, "no-containerd.sock"),
		"--containerd-namespace", r.ns,
		"--log-level", "debug",
	}, append(os.Environ(),
		"KCID_ACCESS_KEY_ID="+accessKeyID,
		"KCID_SECRET_ACCESS_KEY="+secretAccessKey,
		"KCID_TEST_CLOCK_OFFSET_FILE="+r.offset))
	if err != nil {
		return nil, fmt.Errorf("start kcid: %w", err)
	}
	return &process{Process: p}, nil
}

func (r *rig) kill(p *process) {
	if p == nil {
		return
	}
	p.killed = true
	p.Kill()
}

// killKcid SIGKILLs the running kcid, as a crash would.
func (r *rig) killKcid() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	r.note("=== chaos: SIGKILL kcid ===")
	r.kill(p)
}

// dead reports whether kcid is not running, and if it exited without the
// suite killing it, how.
func (r *rig) dead() (bool, error) {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p == nil {
		return true, nil
	}
	if !p.Exited() {
		return false, nil
	}
	r.mu.Lock()
	r.proc = nil
	r.mu.Unlock()
	if p.killed {
		return true, nil
	}
	return true, fmt.Errorf("kcid exited by itself: %v", p.Err())
}

// stopKcid ends kcid with SIGTERM (SIGKILL after 30 s); kcid then stops its
// containerd.
func (r *rig) stopKcid() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.killed = true
	p.Stop(30 * time.Second)
}

// dumpKcid sends kcid SIGQUIT: the Go runtime writes every goroutine's
// stack to kcid's log and exits. The suite does so when a run ends with
// violations, so the log shows where a stuck teardown waits.
func (r *rig) dumpKcid() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil || p.Exited() {
		return
	}
	p.killed = true
	r.note("=== chaos: SIGQUIT kcid (goroutine dump) ===")
	_ = syscall.Kill(p.Pid(), syscall.SIGQUIT)
	for i := 0; i < 100 && !p.Exited(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	p.Stop(10 * time.Second) // a no-op once it exited
}

// containerdPid is the pid of kcid's own containerd, from its pid file,
// checked to be a containerd run with this rig's config (so the suite
// never signals anything else); 0 if none runs.
func (r *rig) containerdPid() int {
	b, err := os.ReadFile(filepath.Join(r.dataDir, "containerd", "containerd.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if filepath.Base(args[0]) != "containerd" || !strings.Contains(string(cmdline), filepath.Join(r.dataDir, "containerd")+"/") {
		return 0
	}
	return pid
}

// killContainerd SIGKILLs kcid's own containerd; kcid's supervisor is to
// restart it. It reports whether there was one to kill.
func (r *rig) killContainerd() bool {
	pid := r.containerdPid()
	if pid == 0 {
		return false
	}
	r.note("=== chaos: SIGKILL containerd %d ===", pid)
	return syscall.Kill(pid, syscall.SIGKILL) == nil
}

// waitContainerd waits until kcid's containerd answers.
func (r *rig) waitContainerd(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := supervisor.Ping(ctx, r.containerdSocket())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("kcid's containerd does not answer on %s within %v: %v", r.containerdSocket(), timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// importImage imports the busybox image into kcid's namespace of its own
// containerd.
func (r *rig) importImage() error {
	tarball, err := testenv.BusyboxArchive(imageRef)
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, "busybox.tar")
	if err := os.WriteFile(path, tarball, 0o600); err != nil {
		return err
	}
	defer os.Remove(path)
	_, err = r.ctr("images", "import", path)
	return err
}

// ctr runs ctr against kcid's containerd in the run's namespace.
func (r *rig) ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", r.containerdSocket(), "-n", r.ns}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// setClockOffset makes kcid's clock (and the suite's signing clock) the
// machine's plus d.
func (r *rig) setClockOffset(d time.Duration) error {
	tmp := r.offset + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.offset)
}

// note writes a line into kcid's log, so the log shows where faults fell.
func (r *rig) note(format string, args ...any) { testenv.AppendLine(r.logPath, format, args...) }
