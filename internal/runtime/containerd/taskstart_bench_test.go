package containerd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/containerd/containerlog"
	"github.com/openkci/openkci/internal/testenv"
)

// BenchmarkTaskStart measures what a container's task costs to create
// (the shim, `runc create`, the stdio) and to start (`runc start`), the
// step between ContainerCreated and ContainerStarted of a start, for the
// spec and stdio `ctr run -d` gives a task and then for each thing kcid's
// task has beyond it, added one at a time, up to kcid's own (specOpts and
// the logging process). Each of b.N rounds creates a fresh container of
// every variant, times its NewTask and Start, and removes it; it logs the
// medians of both per variant (on stdout: a benchmark's log is cut at
// ten lines) and reports the median of their sum
// (ms/task:VARIANT).
//
//	go test ./internal/runtime/containerd/ -run '^$' -bench TaskStart -benchtime 20x
//
// Root and real containerd; everything is made in a namespace of its own
// and removed.
func BenchmarkTaskStart(b *testing.B) {
	testenv.RequireRoot(b)
	addr := testenv.Containerd(b)
	client, err := containerd.New(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	ns := "kcibench-" + randHex(4)
	ctx := namespaces.WithNamespace(context.Background(), ns)
	// The containers a failed round left, the image (its snapshot and
	// content at once), then the namespace itself.
	b.Cleanup(func() {
		testenv.CleanNamespace(addr, ns)
		if imgs, err := client.ImageService().List(ctx); err == nil {
			for _, im := range imgs {
				_ = client.ImageService().Delete(ctx, im.Name, ctrimages.SynchronousDelete())
			}
		}
		if err := client.NamespaceService().Delete(ctx, ns); err != nil {
			b.Logf("containerd namespace %s not removed: %v", ns, err)
		}
	})
	img := benchImage(b, ctx, client)

	dir := b.TempDir()
	for _, f := range []string{hostsFile, resolvFile, hostnameFile} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	netnsName := ns
	if out, err := exec.Command("ip", "netns", "add", netnsName).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	b.Cleanup(func() { _ = exec.Command("ip", "netns", "del", netnsName).Run() })
	netns := "/run/netns/" + netnsName
	groupCgroup := "/" + ns + "/group"
	if err := setupGroupCgroup(groupCgroup, 1, gib(2)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = removeCgroup("/" + ns) })

	// kcid's benchmark group: one container, Cpu 1, Memory 2.
	g := &core.Group{ID: "group", Name: "bench", CPU: 1, Memory: 2}
	c := &core.Container{Name: "c", Image: "bench", CPU: 1, Memory: 2, Command: []string{"sleep", "3600"}}
	g.Containers = []core.Container{*c}

	ctrSpec := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "3600")}
	fifos := func(id string) cio.Creator { return cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard)) }
	logger := func(id string) cio.Creator {
		exe, _ := os.Executable()
		return cio.BinaryIO(exe, containerlog.Args(filepath.Join(dir, id+".log"), 10<<20))
	}
	with := func(extra ...oci.SpecOpts) func(string) []oci.SpecOpts {
		return func(string) []oci.SpecOpts { return append(append([]oci.SpecOpts{}, ctrSpec...), extra...) }
	}
	limits := []oci.SpecOpts{oci.WithMemoryLimit(uint64(gib(2))), oci.WithCPUCFS(int64(cfsPeriod), cfsPeriod)}
	binds := oci.WithMounts([]specs.Mount{
		bind(filepath.Join(dir, hostsFile), "/etc/hosts", false),
		bind(filepath.Join(dir, resolvFile), "/etc/resolv.conf", false),
		bind(filepath.Join(dir, hostnameFile), "/etc/hostname", false),
	})
	joinNetns := oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns})
	kcidSpec := func(id string) []oci.SpecOpts {
		opts, err := specOpts(ctx, img, g, c, dir, netns, groupCgroup+"/"+id, "node", nil)
		if err != nil {
			b.Fatal(err)
		}
		return opts
	}
	variants := []struct {
		name string
		spec func(id string) []oci.SpecOpts
		io   func(id string) cio.Creator
	}{
		{"ctr", with(), fifos},
		{"ctr+nullio", with(), func(string) cio.Creator { return cio.NullIO }},
		{"ctr+logger", with(), logger},
		{"ctr+seccomp", with(seccomp.WithDefaultProfile()), fifos},
		{"ctr+nonewprivs", with(oci.WithNoNewPrivileges), fifos},
		{"ctr+limits", with(limits...), fifos},
		{"ctr+groupcgroup", func(id string) []oci.SpecOpts { return with(oci.WithCgroup(groupCgroup + "/" + id))(id) }, fifos},
		{"ctr+binds", with(binds), fifos},
		{"ctr+netns", with(joinNetns), fifos},
		{"kcid+fifos", kcidSpec, fifos},
		{"kcid", kcidSpec, logger},
	}
	// Rounds, each variant once per round, so that the machine's load
	// moves every variant alike; medians over the rounds.
	create := make([][]time.Duration, len(variants))
	start := make([][]time.Duration, len(variants))
	b.ResetTimer()
	for i := range b.N {
		for vi, v := range variants {
			id := fmt.Sprintf("%s-%d", strings.ReplaceAll(v.name, "+", "-"), i)
			cont, err := client.NewContainer(ctx, id,
				containerd.WithImage(img),
				containerd.WithNewSnapshot(id, img),
				containerd.WithRuntime(runcRuntime, runtimeOptions()),
				containerd.WithNewSpec(v.spec(id)...))
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			task, err := cont.NewTask(ctx, v.io(id))
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := task.Start(ctx); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			create[vi], start[vi] = append(create[vi], t1.Sub(t0)), append(start[vi], t2.Sub(t1))
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				b.Fatal(err)
			}
			if err := cont.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	med := func(ds []time.Duration) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	for vi, v := range variants {
		task := make([]time.Duration, len(create[vi]))
		for i := range task {
			task[i] = create[vi][i] + start[vi][i]
		}
		fmt.Printf("%-16s median create %6.1f ms, start %5.1f ms, task %6.1f ms (%d rounds)\n", v.name, med(create[vi]), med(start[vi]), med(task), len(task))
		b.ReportMetric(med(task), "ms/task:"+v.name)
	}
}

// benchImage imports the static busybox image into ctx's namespace and
// unpacks it.
func benchImage(b *testing.B, ctx context.Context, client *containerd.Client) containerd.Image {
	b.Helper()
	const ref = "local/busybox:taskbench"
	archive, err := testenv.BusyboxArchive(ref)
	if err != nil {
		b.Fatal(err)
	}
	imgs, err := client.Import(ctx, bytes.NewReader(archive))
	if err != nil {
		b.Fatal(err)
	}
	if len(imgs) == 0 {
		b.Fatal("import: no image")
	}
	img := containerd.NewImage(client, imgs[0])
	if err := img.Unpack(ctx, ""); err != nil {
		b.Fatal(err)
	}
	return img
}
