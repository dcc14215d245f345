// Command benchstart measures how fast a container group starts through
// kcid's API next to `ctr run -d --cni` of the same cached busybox image on
// an equivalent CNI bridge, and where kcid's start time goes (the
// StartTimeline of its median start). `make bench-start` builds kcid and
// runs it; docs/benchmarks.md records the figures.
//
// Everything it makes is its own: a containerd namespace, a data dir, a
// bridge and a CNI config file named kcibench-<random>, all removed at the
// end (kcid removes what it made for its groups when they are deleted).
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/pkg/kci"
)

const (
	accessKey = "AKLTbenchstart"
	secretKey = "benchstart-secret"
	image     = "local/busybox:bench"
	poll      = 5 * time.Millisecond
)

func main() {
	kcidBin := flag.String("kcid", "bin/kcid", "kcid `binary` to measure")
	runs := flag.Int("runs", 20, "sequential starts of each kind")
	many := flag.Int("many", 200, "small groups started at once for the fleet figure (0 skips it)")
	socket := flag.String("containerd", "/run/containerd/containerd.sock", "containerd `socket`")
	imageCache := flag.Bool("imagecache", false, "measure cold starts of a large image against starts from an image cache instead")
	imageMB := flag.Int("image-mb", 300, "with -imagecache: MiB of random data in the image")
	imageLayers := flag.Int("image-layers", 3, "with -imagecache: layers the random data is split into")
	flag.Parse()
	var err error
	if *imageCache {
		err = runImageCache(*kcidBin, *socket, *runs, *imageMB, *imageLayers)
	} else {
		err = run(*kcidBin, *socket, *runs, *many)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// bench is one run's own resources.
type bench struct {
	tag, ns, dir, socket string
	cniConf, bridge      string
	kcid                 *exec.Cmd
	client               *kci.Client
}

func run(kcidBin, socket string, runs, many int) error {
	b := &bench{tag: "kcibench-" + randHex(3), socket: socket}
	b.ns = b.tag
	var err error
	if b.dir, err = os.MkdirTemp("", b.tag); err != nil {
		return err
	}
	defer b.cleanup()
	if err := b.importBusybox(); err != nil {
		return fmt.Errorf("import busybox: %w", err)
	}
	if err := b.startKcid(kcidBin); err != nil {
		return err
	}
	if err := b.writeCtrCNI(); err != nil {
		return err
	}
	ctx := context.Background()

	// Warm both paths once (image unpacked, bridge made).
	if _, _, err := b.kcidStart(ctx, "warm"); err != nil {
		return fmt.Errorf("kcid warm-up: %w", err)
	}
	if _, err := b.ctrStart("warm"); err != nil {
		return fmt.Errorf("ctr warm-up: %w", err)
	}

	var kd, cd []time.Duration
	var timelines [][]kci.StartStep
	cpu0 := b.kcidCPU()
	for i := range runs {
		d, tl, err := b.kcidStart(ctx, fmt.Sprintf("seq-%d", i))
		if err != nil {
			return err
		}
		kd, timelines = append(kd, d), append(timelines, tl)
		c, err := b.ctrStart(fmt.Sprintf("seq-%d", i))
		if err != nil {
			return err
		}
		cd = append(cd, c)
	}
	km, cm := median(kd), median(cd)
	seqCPU := b.kcidCPU() - cpu0
	fmt.Printf("sequential starts, %d each, cached %s, one container, CNI bridge:\n", runs, image)
	fmt.Printf("  kcid (signed CreateContainerGroup, DescribeContainerGroup every %v until Running): median %v, p99 %v\n", poll, ms(km), ms(p99(kd)))
	fmt.Printf("  ctr run -d --cni:                                                        median %v, p99 %v\n", ms(cm), ms(p99(cd)))
	fmt.Printf("  ratio of medians kcid/ctr: %.2f\n", float64(km)/float64(cm))
	fmt.Printf("  kcid's own CPU time: %v per group (start and delete)\n", ms(seqCPU/time.Duration(runs)))
	fmt.Println("kcid's median start, step by step (StartTimeline):")
	printTimeline(timelines[medianIndex(kd)])

	conc, err := b.kcidMany(ctx, "ten", 10, 1, 2)
	if err != nil {
		return err
	}
	fmt.Printf("10 groups created at once: create→Running median %v, p99 %v, all Running after %v\n", ms(median(conc.each)), ms(p99(conc.each)), ms(conc.all))
	printStepSpread(conc.timelines)
	if many > 0 {
		fleet, err := b.kcidMany(ctx, "fleet", many, 0.25, 0.5)
		if err != nil {
			return err
		}
		fmt.Printf("%d groups (Cpu 0.25, Memory 0.5) created at once: all Running after %v (create→Running median %v, p99 %v)\n",
			many, ms(fleet.all), ms(median(fleet.each)), ms(p99(fleet.each)))
		printStepSpread(fleet.timelines)
	}
	return nil
}

func (b *bench) config() string {
	return `vpcs: [{id: vpc-bench, name: bench, cidr: 10.178.0.0/16}]
subnets: [{id: subnet-bench, name: bench, vpc: vpc-bench, cidr: 10.178.0.0/20, zone: cn-beijing-6a}]
securityGroups: [{id: sg-bench, name: bench, vpc: vpc-bench}]
stopGracePeriod: 1s
rateLimit: {mutatingPerSecond: 10000, mutatingBurst: 10000, readPerSecond: 100000, readBurst: 100000}
limits: {maxInFlightPerClient: 1024, maxConnsPerClient: 1024}
`
}

func (b *bench) startKcid(bin string) error {
	cfg := filepath.Join(b.dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(b.config()), 0o600); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(b.dir, "kcid.log"))
	if err != nil {
		return err
	}
	b.kcid = exec.Command(bin, "serve", "--listen", addr, "--data-dir", filepath.Join(b.dir, "data"),
		"--config", cfg, "--containerd-address", b.socket, "--containerd-namespace", b.ns, "--log-level", "warn")
	b.kcid.Stdout, b.kcid.Stderr = logf, logf
	b.kcid.Env = append(os.Environ(), "KCID_ACCESS_KEY_ID="+accessKey, "KCID_SECRET_ACCESS_KEY="+secretKey)
	b.kcid.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := b.kcid.Start(); err != nil {
		return fmt.Errorf("start %s: %w (run make build first)", bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kcid not healthy after 30s (log: %s): %v", logf.Name(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.client, err = kci.New(kci.Config{Endpoint: "http://" + addr, AccessKeyID: accessKey, SecretAccessKey: secretKey})
	return err
}

func (b *bench) request(name string, cpu, mem float64) *kci.CreateContainerGroupRequest {
	return &kci.CreateContainerGroupRequest{
		ContainerGroupName: name, SubnetID: "subnet-bench", SecurityGroupIDs: []string{"sg-bench"},
		CPU: cpu, Memory: mem, RestartPolicy: "Always",
		Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "main", Image: image, ImagePullPolicy: "Never", Command: []string{"sleep", "3600"}}}},
	}
}

// kcidStart creates one group and polls until it is Running; it returns
// create→Running and the group's timeline, then deletes the group.
func (b *bench) kcidStart(ctx context.Context, name string) (time.Duration, []kci.StartStep, error) {
	began := time.Now()
	r, err := b.client.CreateContainerGroup(ctx, b.request(name, 1, 2))
	if err != nil {
		return 0, nil, err
	}
	g, err := b.waitRunning(ctx, r.ContainerGroupID)
	d := time.Since(began)
	if err != nil {
		return 0, nil, err
	}
	_, err = b.client.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: r.ContainerGroupID})
	return d, g.StartTimeline, err
}

func (b *bench) waitRunning(ctx context.Context, id string) (*kci.ContainerGroup, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := b.client.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{id}})
		if err != nil {
			return nil, err
		}
		if len(out.ContainerGroups) == 1 {
			g := &out.ContainerGroups[0]
			switch g.Status {
			case "Running":
				return g, nil
			case "Failed", "CreateError":
				return nil, fmt.Errorf("group %s is %s: %+v", id, g.Status, g.Events)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("group %s not Running after 2m", id)
		}
		time.Sleep(poll)
	}
}

type concurrent struct {
	each      []time.Duration
	all       time.Duration
	timelines [][]kci.StartStep
}

// kcidMany creates n groups at once, waits until all are Running, and
// deletes them. One poller asks for every group not yet Running (100 IDs
// a request) every poll interval: n clients polling each would load the
// machine more than the starts do.
func (b *bench) kcidMany(ctx context.Context, prefix string, n int, cpu, mem float64) (concurrent, error) {
	type created struct {
		id    string
		began time.Time
		err   error
	}
	began := time.Now()
	res := make(chan created, n)
	for i := range n {
		go func() {
			t0 := time.Now()
			r, err := b.client.CreateContainerGroup(ctx, b.request(fmt.Sprintf("%s-%d", prefix, i), cpu, mem))
			if err != nil {
				res <- created{err: err}
				return
			}
			res <- created{id: r.ContainerGroupID, began: t0}
		}()
	}
	var errs []error
	pending := map[string]time.Time{} // group → when its create was sent
	var ids []string
	for range n {
		c := <-res
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		pending[c.id] = c.began
		ids = append(ids, c.id)
	}
	var out concurrent
	deadline := time.Now().Add(5 * time.Minute)
	for len(pending) > 0 && len(errs) == 0 {
		waiting := make([]string, 0, len(pending))
		for id := range pending {
			waiting = append(waiting, id)
		}
		for batch := range slices.Chunk(waiting, 100) {
			r, err := b.client.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: batch, MaxResults: 100})
			seen := time.Now()
			if err != nil {
				errs = append(errs, err)
				break
			}
			for _, g := range r.ContainerGroups {
				switch g.Status {
				case "Running":
					out.each = append(out.each, seen.Sub(pending[g.ContainerGroupID]))
					out.timelines = append(out.timelines, g.StartTimeline)
					delete(pending, g.ContainerGroupID)
				case "Failed", "CreateError":
					errs = append(errs, fmt.Errorf("group %s is %s: %+v", g.ContainerGroupID, g.Status, g.Events))
				}
			}
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("%d groups not Running after 5m", len(pending)))
			break
		}
		time.Sleep(poll)
	}
	out.all = time.Since(began)
	for _, id := range ids {
		_, err := b.client.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: id})
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// writeCtrCNI writes the bridge network ctr --cni uses: a bridge with a
// host-local /16 and a default route, as kcid's groups get.
func (b *bench) writeCtrCNI() error {
	b.bridge = "kcib" + b.tag[len("kcibench-"):]
	conf := map[string]any{
		"cniVersion": "1.0.0", "name": b.tag,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": b.bridge, "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": "10.179.0.0/16"}}},
				"routes": []map[string]string{{"dst": "0.0.0.0/0"}}},
		}},
	}
	js, _ := json.Marshal(conf)
	if err := os.MkdirAll("/etc/cni/net.d", 0o755); err != nil {
		return err
	}
	if ents, _ := os.ReadDir("/etc/cni/net.d"); len(ents) > 0 {
		return fmt.Errorf("/etc/cni/net.d is not empty: ctr --cni would pick its first file, not the benchmark's bridge; empty it or run elsewhere")
	}
	b.cniConf = filepath.Join("/etc/cni/net.d", "10-"+b.tag+".conflist")
	return os.WriteFile(b.cniConf, js, 0o644)
}

// ctrStart times `ctr run -d --cni` of the image, then removes the task
// and container.
func (b *bench) ctrStart(name string) (time.Duration, error) {
	id := b.tag + "-" + name
	began := time.Now()
	out, err := exec.Command("ctr", "-a", b.socket, "-n", b.ns, "run", "-d", "--cni", "docker.io/"+image, id, "sleep", "3600").CombinedOutput()
	d := time.Since(began)
	if err != nil {
		return 0, fmt.Errorf("ctr run: %v: %s", err, out)
	}
	_ = exec.Command("ctr", "-a", b.socket, "-n", b.ns, "task", "kill", "-s", "SIGKILL", id).Run()
	for range 100 {
		if exec.Command("ctr", "-a", b.socket, "-n", b.ns, "task", "rm", id).Run() == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command("ctr", "-a", b.socket, "-n", b.ns, "container", "rm", id).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ctr container rm: %v: %s", err, out)
	}
	return d, nil
}

// importBusybox imports the host's static busybox as a one-layer image.
func (b *bench) importBusybox() error {
	layer, err := busyboxTar()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(layer)
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%x"]}}`, sum)
	manifest := `[{"Config":"config.json","RepoTags":["` + image + `"],"Layers":["layer.tar"]}]`
	var archive bytes.Buffer
	aw := tar.NewWriter(&archive)
	for _, f := range []struct {
		name string
		data []byte
	}{{"config.json", []byte(cfg)}, {"manifest.json", []byte(manifest)}, {"layer.tar", layer}} {
		_ = aw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data))})
		_, _ = aw.Write(f.data)
	}
	if err := aw.Close(); err != nil {
		return err
	}
	path := filepath.Join(b.dir, "busybox.tar")
	if err := os.WriteFile(path, archive.Bytes(), 0o600); err != nil {
		return err
	}
	out, err := exec.Command("ctr", "-a", b.socket, "-n", b.ns, "images", "import", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// cleanup stops kcid after its groups are gone and removes the
// benchmark's namespace, CNI config, bridge and data dir.
func (b *bench) cleanup() {
	if b.client != nil {
		deadline := time.Now().Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			out, err := b.client.DescribeContainerGroup(context.Background(), &kci.DescribeContainerGroupRequest{MaxResults: 100})
			if err == nil && out.TotalCount == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Teardown goes on after the API forgets a group; it is done when
		// the runtime's per-group directories are gone.
		for time.Now().Before(deadline) {
			if ents, _ := os.ReadDir(filepath.Join(b.dir, "data", "runtime", "groups")); len(ents) == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if b.kcid != nil && b.kcid.Process != nil {
		_ = b.kcid.Process.Signal(syscall.SIGTERM)
		_ = b.kcid.Wait()
	}
	b.removeKcidHostParts()
	ctr := func(args ...string) string {
		out, _ := exec.Command("ctr", append([]string{"-a", b.socket, "-n", b.ns}, args...)...).Output()
		return string(out)
	}
	for _, c := range strings.Fields(ctr("containers", "ls", "-q")) {
		ctr("task", "rm", "-f", c)
		ctr("containers", "rm", c)
	}
	for _, im := range strings.Fields(ctr("images", "ls", "-q")) {
		ctr("images", "rm", "--sync", im)
	}
	// The namespace goes once containerd has collected what its images
	// held; kcid leaves its instance's (empty) cgroups under the
	// namespace's cgroup in every hierarchy.
	for range 50 {
		if exec.Command("ctr", "-a", b.socket, "namespaces", "rm", b.ns).Run() == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	removeCgroupTree(b.ns)
	if b.cniConf != "" {
		os.Remove(b.cniConf)
		os.RemoveAll(filepath.Join("/var/lib/cni/networks", b.tag))
		_ = exec.Command("ip", "link", "delete", b.bridge).Run()
	}
	if os.Getenv("KEEP") == "" {
		os.RemoveAll(b.dir)
	} else {
		fmt.Fprintln(os.Stderr, "kept", b.dir)
	}
}

// removeKcidHostParts removes what kcid keeps on the host after its
// groups are gone (docs/host.md): its bridge, named by the alias
// kcid:<instance>, and the host chains of its identity
// (testenv.RemoveRuntimeChains: its bridges' masquerades if kcid did not
// remove them, the isolation chain KCI-ISO-<INSTANCE> and the VPC source
// chain KCI-NOMASQ-<INSTANCE>).
func (b *bench) removeKcidHostParts() {
	var in struct{ ID string }
	raw, err := os.ReadFile(filepath.Join(b.dir, "data", "runtime", "instance.json"))
	if err != nil || json.Unmarshal(raw, &in) != nil || in.ID == "" {
		fmt.Fprintf(os.Stderr, "no kcid instance identity in %s (%v): its bridge and chain, if any, are left\n", b.dir, err)
		return
	}
	out, _ := exec.Command("ip", "-d", "-o", "link", "show", "type", "bridge").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if i := slices.Index(f, "alias"); len(f) > 1 && i >= 0 && i+1 < len(f) && f[i+1] == "kcid:"+in.ID {
			_ = exec.Command("ip", "link", "delete", strings.TrimSuffix(f[1], ":")).Run()
		}
	}
	testenv.RemoveRuntimeChains(in.ID)
}

func printTimeline(steps []kci.StartStep) {
	prev := int64(0)
	for _, s := range steps {
		name := s.Step
		if s.ContainerName != "" {
			name += " (" + s.ContainerName + ")"
		}
		fmt.Printf("  %-28s +%4dms  (step %4dms)\n", name, s.ElapsedMs, s.ElapsedMs-prev)
		prev = s.ElapsedMs
	}
}

// kcidCPU is the CPU time kcid's process has used so far (its children,
// the CNI plugins, not included).
func (b *bench) kcidCPU() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.kcid.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the line, in clock ticks (100 a second).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// printStepSpread prints, for groups started at once, when each step was
// reached after Accepted: the median and p99 over the groups.
func printStepSpread(timelines [][]kci.StartStep) {
	if len(timelines) == 0 {
		return
	}
	var order []string
	at := map[string][]time.Duration{}
	for _, tl := range timelines {
		for _, s := range tl {
			name := s.Step
			if s.ContainerName != "" {
				name += " (" + s.ContainerName + ")"
			}
			if _, ok := at[name]; !ok {
				order = append(order, name)
			}
			at[name] = append(at[name], time.Duration(s.ElapsedMs)*time.Millisecond)
		}
	}
	fmt.Println("  each step, reached after Accepted (median, p99 over the groups):")
	for _, name := range order {
		fmt.Printf("    %-28s %8v %8v\n", name, ms(median(at[name])), ms(p99(at[name])))
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianIndex(ds []time.Duration) int {
	m := median(ds)
	return slices.Index(ds, m)
}

// p99 is the nearest-rank 99th percentile.
func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*99+99)/100 - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return d.Round(time.Millisecond / 10).String() }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// removeCgroupTree removes the cgroup directory name (relative to each
// hierarchy's root) and everything below it, deepest first, in every
// cgroup hierarchy; rmdir refuses a cgroup that still has processes.
func removeCgroupTree(name string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, root := range append(roots, "/sys/fs/cgroup") {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(root, name), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
}
