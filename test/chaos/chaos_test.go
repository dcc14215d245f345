package main

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/pkg/kci"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the mix
		wantErr string
	}{
		{in: defaultMix, want: defaultMix},
		{in: "kcid-kill", want: "kcid-kill=1"},
		{in: "kcid-kill=3, clock-jump=0 ,disk-full=2", want: "kcid-kill=3,disk-full=2"},
		{in: "kcid-kill=1,kcid-kill=2", wantErr: "given twice"},
		{in: "reboot=1", wantErr: `unknown fault "reboot"`},
		{in: "kcid-kill=-1", wantErr: "whole number"},
		{in: "kcid-kill=x", wantErr: "whole number"},
		{in: "clock-jump=0", wantErr: "selects no fault"},
		{in: "", wantErr: "selects no fault"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := parseMix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseMix(%q) error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.String(); got != tt.want {
				t.Errorf("parseMix(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestMixPick: the weights are honoured (exactly, over a seeded draw the
// shares are within a wide margin) and a zero weight is never drawn.
func TestMixPick(t *testing.T) {
	m, err := parseMix("kcid-kill=80,containerd-kill=20,disk-full=0")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[faultKind]int{}
	for range 10000 {
		counts[m.pick(rng)]++
	}
	if counts[diskFull] != 0 || counts[clockJump] != 0 {
		t.Errorf("drew faults of weight 0: %v", counts)
	}
	if c := counts[containerdKill]; c < 1500 || c > 2500 {
		t.Errorf("containerd-kill drawn %d times of 10000 with weight 20/100", c)
	}
}

// TestWorkloadReplays: one seed gives the same groups, a disk is never
// drawn while in use, and disks made on demand and GPUs are drawn.
func TestWorkloadReplays(t *testing.T) {
	draw := func() []*kci.CreateContainerGroupRequest {
		w := &workload{image: imageRef, subnet: subnetID, sg: sgID, disks: diskIDs, gpus: []string{"/g0", "/g1"}, run: "r"}
		rng := rand.New(rand.NewPCG(42, 7))
		inUse := map[string]bool{}
		var reqs []*kci.CreateContainerGroupRequest
		for range 200 {
			g, req := w.newGroup(rng, inUse)
			if g.disk != "" {
				if inUse[g.disk] {
					t.Fatalf("group %s got disk %s, which is in use", g.name, g.disk)
				}
				inUse[g.disk] = true
			}
			reqs = append(reqs, req)
		}
		return reqs
	}
	a, b := draw(), draw()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed drew different groups")
	}
	kinds := map[string]int{}
	made, gpus := 0, 0
	for _, r := range a {
		kinds[r.RestartPolicy]++
		made += len(r.DataDisks)
		gpus += r.GPU
	}
	if made == 0 || gpus == 0 {
		t.Errorf("in 200 draws: %d disks made on demand, %d GPUs asked for; want some of each", made, gpus)
	}
	for _, p := range []string{kci.RestartAlways, kci.RestartNever, kci.RestartOnFailure} {
		if kinds[p] == 0 {
			t.Errorf("no group with restart policy %s in 200 draws: %v", p, kinds)
		}
	}
}

func listed(gs ...kci.ContainerGroup) observation { return observation{groups: gs, gen: 2} }

func cg(id, name, status, ip string) kci.ContainerGroup {
	g := kci.ContainerGroup{ContainerGroupID: id, ContainerGroupName: name, Status: status}
	if ip != "" {
		g.NetworkInterfaceAttributes = []kci.NetworkInterface{{NetworkInterfaceType: "primary", PrivateIPAddress: ip}}
	}
	return g
}

func TestReconcile(t *testing.T) {
	type rec struct {
		name, id string
		fate     fate
		gen      int
		diskFull bool
	}
	tests := []struct {
		name      string
		model     []rec
		obs       observation
		wantKinds []violationKind
		wantFates map[string]fate
	}{
		{
			name:  "acknowledged and listed",
			model: []rec{{"a", "id-a", live, 1, false}},
			obs:   listed(cg("id-a", "a", kci.StatusRunning, "10.79.1.2")),
		},
		{
			name:      "acknowledged and missing",
			model:     []rec{{"a", "id-a", live, 1, false}},
			obs:       listed(),
			wantKinds: []violationKind{vLost},
		},
		{
			name:      "deleted and back",
			model:     []rec{{"a", "id-a", deleted, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusRunning, "")),
			wantKinds: []violationKind{vResurrected},
		},
		{
			name:      "lost create, listed later by name",
			model:     []rec{{"a", "", createLost, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusPending, "")),
			wantFates: map[string]fate{"a": live},
		},
		{
			name:      "lost create, not listed by a later kcid",
			model:     []rec{{"a", "", createLost, 1, false}},
			obs:       listed(),
			wantFates: map[string]fate{"a": neverCreated},
		},
		{
			name:      "lost create, not listed by the same kcid: undecided",
			model:     []rec{{"a", "", createLost, 2, false}},
			obs:       listed(),
			wantFates: map[string]fate{"a": createLost},
		},
		{
			name:      "never created, then listed",
			model:     []rec{{"a", "", neverCreated, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusRunning, "")),
			wantKinds: []violationKind{vResurrected},
		},
		{
			name:      "lost delete that took",
			model:     []rec{{"a", "id-a", deleteLost, 1, false}},
			obs:       listed(),
			wantFates: map[string]fate{"a": deleted},
		},
		{
			name:      "lost delete that did not take",
			model:     []rec{{"a", "id-a", deleteLost, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusRunning, "")),
			wantFates: map[string]fate{"a": live},
		},
		{
			name:      "a group nobody created",
			obs:       listed(cg("id-x", "x", kci.StatusRunning, "")),
			wantKinds: []violationKind{vUnknown},
		},
		{
			name:      "two groups for one create",
			model:     []rec{{"a", "id-a", live, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusRunning, ""), cg("id-b", "a", kci.StatusRunning, "")),
			wantKinds: []violationKind{vUnknown},
		},
		{
			name:      "duplicate IP",
			model:     []rec{{"a", "id-a", live, 1, false}, {"b", "id-b", live, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusRunning, "10.79.1.2"), cg("id-b", "b", kci.StatusRunning, "10.79.1.2")),
			wantKinds: []violationKind{vDuplicateIP},
		},
		{
			name:      "final error",
			model:     []rec{{"a", "id-a", live, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusCreateError, "")),
			wantKinds: []violationKind{vStuck},
		},
		{
			name:      "failed",
			model:     []rec{{"a", "id-a", live, 1, false}},
			obs:       listed(cg("id-a", "a", kci.StatusFailed, "")),
			wantKinds: []violationKind{vStuck},
		},
		{
			name:  "failed after the data dir was full",
			model: []rec{{"a", "id-a", live, 1, true}},
			obs:   listed(cg("id-a", "a", kci.StatusFailed, "")),
		},
		{
			name:      "create error after the data dir was full",
			model:     []rec{{"a", "id-a", live, 1, true}},
			obs:       listed(cg("id-a", "a", kci.StatusCreateError, "")),
			wantKinds: []violationKind{vStuck},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newModel()
			for _, r := range tt.model {
				g := &group{name: r.name, fate: r.fate, gen: r.gen, diskFull: r.diskFull}
				m.add(g)
				if r.id != "" {
					m.setID(g, r.id)
				}
			}
			vs := m.reconcile(tt.obs)
			var kinds []violationKind
			for _, v := range vs {
				kinds = append(kinds, v.kind)
			}
			if !reflect.DeepEqual(kinds, tt.wantKinds) {
				t.Errorf("violations %v, want kinds %v", vs, tt.wantKinds)
			}
			for name, want := range tt.wantFates {
				if got := m.groups[name].fate; got != want {
					t.Errorf("group %s is %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestSharedDisks(t *testing.T) {
	withDisk := func(id, disk string) kci.ContainerGroup {
		g := cg(id, id, kci.StatusRunning, "")
		g.Volumes = []kci.VolumeDetail{{Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: disk}}}
		return g
	}
	if vs := sharedDisks([]kci.ContainerGroup{withDisk("a", "d1"), withDisk("b", "d2")}); len(vs) != 0 {
		t.Errorf("two disks in two groups: %v", vs)
	}
	if vs := sharedDisks([]kci.ContainerGroup{withDisk("a", "d1"), withDisk("b", "d1")}); len(vs) != 1 || vs[0].kind != vDiskTwice {
		t.Errorf("one disk in two groups: %v, want one %s", vs, vDiskTwice)
	}
}

// TestRuntimeNames pins the names the suite derives, against values read
// on a machine running kcid: the bridge plugin's chain for a group (seen
// in iptables -t nat -S) and the runtime's netns prefix.
func TestRuntimeNames(t *testing.T) {
	if got, want := cniChain("kcichaos-38fd4bce-subnet-chaos", "237bc01c-c546-4163-8f75-272ca0cc8dcd"), "CNI-2ecd38db183edc5e2deb0b6f"; got != want {
		t.Errorf("cniChain = %s, want %s", got, want)
	}
	if got, want := netnsPrefix("1a2b3c4d"), "kci-1a2b3c4d-"; got != want {
		t.Errorf("netnsPrefix = %q, want %q", got, want)
	}
	if got, want := isolationChain("1a2b3c4d"), "KCI-ISO-1A2B3C4D"; got != want {
		t.Errorf("isolationChain = %q, want %q", got, want)
	}
	tests := map[string]string{
		"6ce8280f-881d-456b-92a7-b1a741997746_main": "6ce8280f-881d-456b-92a7-b1a741997746",
		"g_c0":         "g",
		"nounderscore": "nounderscore",
	}
	for in, want := range tests {
		if got := groupOfContainer(in); got != want {
			t.Errorf("groupOfContainer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitRule(t *testing.T) {
	rule := `POSTROUTING -s 10.79.1.5/32 -m comment --comment "name: \"net\" id: \"g1\"" -j CNI-2ecd38db183edc5e2deb0b6f`
	want := []string{"POSTROUTING", "-s", "10.79.1.5/32", "-m", "comment", "--comment", `name: "net" id: "g1"`, "-j", "CNI-2ecd38db183edc5e2deb0b6f"}
	if got := testenv.SplitRule(rule); !reflect.DeepEqual(got, want) {
		t.Errorf("splitRule:\n got %q\nwant %q", got, want)
	}
	m := commentIDRE.FindStringSubmatch("-A " + rule)
	if m == nil || m[1] != "net" || m[2] != "g1" {
		t.Errorf("comment of %q: %q, want net and g1", rule, m)
	}
}

// TestHostIssues: resources of listed groups are fine, those of no listed
// group are orphans, a disk mounted twice and an IP in two namespaces are
// violations.
func TestHostIssues(t *testing.T) {
	r := rigFor(nil, "0000abcd")
	r.instance = "1a2b3c4d"
	pfx := netnsPrefix(r.instance)
	disk := cg("g1", "a", kci.StatusRunning, "10.79.1.2")
	disk.Volumes = []kci.VolumeDetail{{Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: diskIDs[0]}}}
	diskFile := r.dataDir + "/runtime/disks/" + diskIDs[0] + ".img"
	clean := &hostState{
		containers: []string{"g1_c0"},
		tasks:      []string{"g1_c0"},
		shims:      map[int]string{100: "g1_c0"},
		netns:      map[string]string{pfx + "g1": "g1"},
		cgroups:    map[string]string{"/sys/fs/cgroup/memory/" + r.cgroupRoot() + "/g1": "g1"},
		natRules:   map[string][]string{"g1": {"-A POSTROUTING ..."}},
		chains:     map[string]bool{cniChain(r.cniNetwork(), "g1"): true},
		mounts: map[string]string{
			r.dataDir + "/runtime/groups/g1/volumes/disk":                                           "/dev/loop7",
			r.dataDir + "/containerd/state/io.containerd.runtime.v2.task/" + r.ns + "/g1_c0/rootfs": "overlay",
		},
		loops: map[string]string{"/dev/loop7": diskFile},
		ips:   map[string][]string{"10.79.1.2": {pfx + "g1"}},
	}
	if vs := r.hostIssues(clean, []kci.ContainerGroup{disk}, []string{"g1"}); len(vs) != 0 {
		t.Fatalf("a clean host: %v", vs)
	}
	// The same host once kcid no longer lists g1: everything is an orphan.
	vs := r.hostIssues(clean, nil, []string{"g1"})
	var details []string
	for _, v := range vs {
		if v.kind != vOrphan {
			t.Errorf("unexpected %s: %s", v.kind, v.detail)
		}
		details = append(details, v.detail)
	}
	for _, want := range []string{"containerd container g1_c0", "task g1_c0", "shim pid 100", "network namespace", "cgroup", "NAT rules", "NAT chain", "loop device /dev/loop7", "mount " + r.dataDir + "/runtime/groups/g1", "rootfs mount"} {
		found := false
		for _, d := range details {
			found = found || strings.Contains(d, want)
		}
		if !found {
			t.Errorf("no orphan %q among %q", want, details)
		}
	}
	// A disk mounted twice, an IP in two namespaces, kcid's IP not in the
	// group's namespace.
	bad := *clean
	bad.mounts = map[string]string{
		r.dataDir + "/runtime/groups/g1/volumes/disk":  "/dev/loop7",
		r.dataDir + "/runtime/groups/g1/volumes/disk2": "/dev/loop7",
	}
	bad.ips = map[string][]string{"10.79.1.9": {pfx + "g1", pfx + "g2"}}
	var kinds []violationKind
	for _, v := range r.hostIssues(&bad, []kci.ContainerGroup{disk}, nil) {
		kinds = append(kinds, v.kind)
	}
	if want := []violationKind{vDiskTwice, vDuplicateIP, vDuplicateIP}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("violations %v, want %v", kinds, want)
	}
}

// TestViolateOnce: a violation seen again in a later round is reported
// once; a stuck group is one violation however its detail changes.
func TestViolateOnce(t *testing.T) {
	s := &suite{log: slog.New(slog.NewTextHandler(io.Discard, nil)), opts: &options{}, seen: map[string]bool{}}
	s.violate(violation{kind: vOrphan, detail: "netns x"}, violation{kind: vStuck, key: "g1", detail: "CreateError; last event: A"})
	s.violate(violation{kind: vOrphan, detail: "netns x"}, violation{kind: vStuck, key: "g1", detail: "CreateError; last event: B"})
	if len(s.violations) != 2 {
		t.Errorf("got %d violations, want 2: %v", len(s.violations), s.violations)
	}
	if !s.allSeen([]violation{{kind: vOrphan, detail: "netns x"}}) || s.allSeen([]violation{{kind: vOrphan, detail: "netns y"}}) {
		t.Error("allSeen does not match what was reported")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(*options) bool
	}{
		{args: nil, check: func(o *options) bool { return o.n == 30 && o.faults == defaultMix && o.maxGroups == 8 && o.seed == 0 }},
		{args: []string{"-n", "1000", "-seed", "42", "-faults", "kcid-kill"}, check: func(o *options) bool { return o.n == 1000 && o.seed == 42 && o.faults == "kcid-kill" }},
		{args: []string{"-n", "0"}, wantErr: "at least 1"},
		{args: []string{"-max-groups", "0"}, wantErr: "at least 1"},
		{args: []string{"-data-mib", "64"}, wantErr: "too small"},
		{args: []string{"extra"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) error %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("parseFlags(%q) = %+v", tt.args, *o)
			}
		})
	}
}
