package kube

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml golden manifests")

func minimalGroup() *core.Group {
	return &core.Group{
		ID:         "3f2c1a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c",
		Name:       "web",
		AccountID:  "2000000001",
		Region:     "cn-beijing-6",
		Zone:       "cn-beijing-6a",
		ChargeType: "HourlyInstantSettlement",
		CPU:        1, Memory: 2,
		RestartPolicy: core.RestartAlways,
		Network: core.Network{
			VpcID: "vpc-1", VpcCIDR: "10.0.0.0/16", SubnetID: "subnet-1", SubnetCIDR: "10.0.1.0/24",
			Gateway: "10.0.1.1", MAC: "fa:16:3e:00:00:01", InterfaceID: "eni-1",
			SecurityGroupIDs: []string{"sg-1"},
		},
		Containers: []core.Container{{Name: "main", Image: "nginx:1.25"}},
		CreatedAt:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func fullGroup() *core.Group {
	g := minimalGroup()
	g.ID = "0b8e2d4a-1c3f-4e5a-8b7c-9d0e1f2a3b4c"
	g.Name = "full.example"
	g.CPU, g.Memory = 2.5, 4
	g.RestartPolicy = core.RestartOnFailure
	g.Network.SecurityGroupIDs = []string{"sg-1", "sg-2"}
	g.IngressBandwidth, g.EgressBandwidth = 10, 20
	g.HostPID = true
	g.DNS = &core.DNSConfig{
		NameServers: []string{"10.0.0.2", "10.0.0.3"},
		Searches:    []string{"svc.example.com"},
		Options:     []core.DNSOption{{Name: "ndots", Value: "2"}, {Name: "rotate"}},
	}
	g.HostAliases = []core.HostAlias{{IP: "10.0.0.10", Hostnames: []string{"db", "db.local"}}}
	g.Labels = []core.Label{{Key: "cluster-id", Value: "c1"}, {Key: "example.com/tier", Value: "web"}, {Key: "empty"},
		// Kubernetes' own keys stay the group's: they cannot reach the pod's.
		{Key: "app.kubernetes.io/managed-by", Value: "someone-else"}}
	g.Credentials = []core.RegistryCredential{{Server: "registry.example.com", Username: "u", Password: "secret-pw"}}
	g.Volumes = []core.Volume{
		{Name: "scratch", Type: core.VolumeEmptyDir},
		{Name: "conf", Type: core.VolumeConfigFile, DefaultMode: 0o600, ConfigFiles: []core.ConfigFile{
			{Path: "app.conf", Content: []byte("port=80\n")},
			{Path: "bin/run.sh", Content: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
		}},
		{Name: "data", Type: core.VolumeEBS, EBS: &core.EBSVolume{VolumeID: "disk-ABC", FsType: "ext4"}},
		{Name: "host", Type: core.VolumeHostPath, HostPath: "/srv/kci/shared"},
	}
	g.Containers = []core.Container{
		{
			Name: "app", Image: "registry.example.com/app:v1", ImagePullPolicy: "Always",
			Command: []string{"/bin/app"}, Args: []string{"--port", "80"},
			Env: []core.EnvVar{{Key: "MODE", Value: "prod"}, {Key: "EMPTY"},
				{Key: "GROUP_NAME", FieldPath: core.FieldName}, {Key: "GROUP_ID", FieldPath: core.FieldUID},
				{Key: "POD_IP", FieldPath: core.FieldPodIP}, {Key: "POD_IPS", FieldPath: core.FieldPodIPs},
				{Key: "NODE", FieldPath: core.FieldNodeName}},
			CPU: 1.5, Memory: 1.25, RequestCPU: 0.5, RequestMemory: 1,
			WorkingDir: "/srv",
			Ports:      []core.Port{{Port: 80, Protocol: "TCP"}, {Port: 53, Protocol: "udp"}},
			VolumeMounts: []core.VolumeMount{
				{Name: "conf", MountPath: "/etc/app", ReadOnly: true},
				{Name: "host", MountPath: "/shared", ReadOnly: true},
				{Name: "data", MountPath: "/data"},
				{Name: "scratch", MountPath: "/tmp/scratch"},
			},
			LivenessProbe: &core.Probe{HTTPGet: &core.HTTPGetAction{Port: 80, Path: "/healthz", Scheme: "HTTPS"},
				InitialDelaySeconds: 5, PeriodSeconds: 10, TimeoutSeconds: 2, SuccessThreshold: 1, FailureThreshold: 3},
			ReadinessProbe: &core.Probe{TCPSocket: &core.TCPSocketAction{Port: 80},
				PeriodSeconds: 3, TimeoutSeconds: 1, SuccessThreshold: 2, FailureThreshold: 1},
			StartupProbe: &core.Probe{Exec: []string{"cat", "/tmp/started"},
				PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30},
		},
		{Name: "sidecar", Image: "busybox", Command: []string{"sh", "-c", "sleep 3600"}, RequestCPU: 0.25,
			VolumeMounts: []core.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}},
		{Name: "metrics", Image: "busybox", Memory: 0.5, Privileged: true},
	}
	// Init containers: one sized, one taking the group's size (containers
	// mode) or nothing (pod-level resources).
	g.InitContainers = []core.Container{
		{Name: "migrate", Image: "registry.example.com/app:v1", ImagePullPolicy: "IfNotPresent",
			Command: []string{"/bin/app", "migrate"}, CPU: 0.5, Memory: 1, WorkingDir: "/srv",
			Env:          []core.EnvVar{{Key: "POD_IP", FieldPath: core.FieldPodIP}},
			VolumeMounts: []core.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}},
		{Name: "wait-db", Image: "busybox", Args: []string{"sh", "-c", "until nc -z db 5432; do sleep 1; done"}, Privileged: true},
	}
	return g
}

// manifest renders what build makes, as an operator would read it.
func manifest(t *testing.T, o *objects) []byte {
	t.Helper()
	var docs [][]byte
	add := func(v any) {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	add(o.Pod)
	for _, s := range o.Secrets {
		add(s)
	}
	for _, c := range o.Claims {
		add(c)
	}
	return bytes.Join(docs, []byte("---\n"))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", name), got, *update)
}

// volumesGroup mounts a disk made on demand and an NFS export.
func volumesGroup() *core.Group {
	g := minimalGroup()
	g.Volumes = []core.Volume{
		{Name: "made", Type: core.VolumeEBS, EBS: &core.EBSVolume{VolumeID: "6a3b1c2d-0000-4000-8000-00000000000f", FsType: "ext4", SizeGB: 20, Type: "SSD3.0"}},
		{Name: "share", Type: core.VolumeNFS, NFS: &core.NFSVolume{Server: "10.0.0.5", Path: "/exports/data", ReadOnly: true}},
	}
	g.Containers[0].VolumeMounts = []core.VolumeMount{{Name: "made", MountPath: "/data"}, {Name: "share", MountPath: "/share"}}
	return g
}

// gpuGroup has a container given two GPUs and one given none.
func gpuGroup() *core.Group {
	g := minimalGroup()
	g.GPU = 2
	g.Containers[0].GPU = 2
	g.Containers = append(g.Containers, core.Container{Name: "plain", Image: "busybox"})
	return g
}

func TestGoldenManifests(t *testing.T) {
	for _, tc := range []struct {
		file string
		g    *core.Group
		mode ResourceMode
	}{
		{"minimal.yaml", minimalGroup(), ResourcesPod},
		{"full-pod-resources.yaml", fullGroup(), ResourcesPod},
		{"full-container-resources.yaml", fullGroup(), ResourcesContainers},
		{"volumes.yaml", volumesGroup(), ResourcesPod},
		{"gpu.yaml", gpuGroup(), ResourcesPod},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := mapping{namespacePrefix: "kci-", grace: 30, resources: tc.mode, gpuResource: "nvidia.com/gpu"}
			o, err := m.build(tc.g)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, manifest(t, o))
		})
	}
}

// TestGPUsWithoutResource: without a GPU resource the runtime refuses a
// group with GPUs rather than start it without them.
func TestGPUsWithoutResource(t *testing.T) {
	_, err := mapping{namespacePrefix: "kci-", grace: 30}.build(gpuGroup())
	if err == nil || !strings.Contains(err.Error(), "node.gpus.kubernetesResource") {
		t.Fatalf("err = %v, want it to name node.gpus.kubernetesResource", err)
	}
}

func TestMappingDetails(t *testing.T) {
	g := fullGroup()
	o, err := mapping{namespacePrefix: "kci-", grace: 30, resources: ResourcesContainers}.build(g)
	if err != nil {
		t.Fatal(err)
	}
	p := o.Pod
	// Spread: app 1500m/1.25Gi explicit; sidecar and metrics share the
	// remaining 1000m; sidecar gets the remaining memory minus metrics' own.
	want := map[string][2]string{"app": {"1500m", "1280Mi"}, "sidecar": {"500m", "2304Mi"}, "metrics": {"500m", "512Mi"}}
	for _, c := range p.Spec.Containers {
		cpu := c.Resources.Limits[corev1.ResourceCPU]
		mem := c.Resources.Limits[corev1.ResourceMemory]
		if w := want[c.Name]; cpu.String() != w[0] || mem.String() != w[1] {
			t.Errorf("%s: cpu %s mem %s, want %v", c.Name, cpu.String(), mem.String(), w)
		}
	}
	// The annotation holds the group without secrets.
	dg, err := decodeGroup(p)
	if err != nil {
		t.Fatal(err)
	}
	if dg.ID != g.ID || dg.Name != g.Name || dg.Network.SubnetID != "subnet-1" || len(dg.Containers) != 3 || !dg.CreatedAt.Equal(g.CreatedAt) {
		t.Errorf("decoded group %+v", dg)
	}
	if dg.Credentials[0].Password != "" || dg.Volumes[1].ConfigFiles[0].Content != nil {
		t.Errorf("annotation leaks secrets: %+v", dg)
	}
	if strings.Contains(p.Annotations[AnnotationGroup], "secret-pw") {
		t.Errorf("password in the annotation")
	}
	if g.Credentials[0].Password != "secret-pw" || g.Volumes[1].ConfigFiles[0].Content == nil {
		t.Errorf("redaction changed the caller's group")
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ prefix, account, want string }{
		{"kci-", "2000000001", "kci-2000000001"},
		{"kci-", "Acct_42", "kci-acct-42-" + shortHash("Acct_42")},
		{"x-", strings.Repeat("a", 80), "x-" + strings.Repeat("a", 50) + "-" + shortHash(strings.Repeat("a", 80))},
	} {
		got := namespaceName(tc.prefix, tc.account)
		if got != tc.want || len(got) > 63 || !dns1123Label.MatchString(got) {
			t.Errorf("namespaceName(%q, %q) = %q, want %q", tc.prefix, tc.account, got, tc.want)
		}
	}
	if namespaceName("kci-", "Acct_42") == namespaceName("kci-", "acct-42") {
		t.Errorf("distinct accounts share a namespace")
	}
	if got := podName("3f2c1a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c"); got != "3f2c1a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c" {
		t.Errorf("podName(uuid) = %q", got)
	}
	if got := podName("Group_1"); !strings.HasPrefix(got, "kci-") || !dns1123Label.MatchString(got) {
		t.Errorf("podName(Group_1) = %q", got)
	}
	if got := hostname(&core.Group{ID: "abc", Name: "a.b"}); got != "abc" {
		t.Errorf("hostname with a dot = %q", got)
	}
}

func TestUserLabelKey(t *testing.T) {
	long := strings.Repeat("a", 240) + ".example"
	cases := []struct{ key, want string }{
		{"cluster-id", "label.kci.openkci.io/cluster-id"},
		{"example.com/tier", "example.com.label.kci.openkci.io/tier"},
		{"app.kubernetes.io/managed-by", "app.kubernetes.io.label.kci.openkci.io/managed-by"},
		{"kci.openkci.io/group-id", "kci.openkci.io.label.kci.openkci.io/group-id"},
		{long + "/x", "h-" + shortHash(long) + ".label.kci.openkci.io/x"},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		got := userLabelKey(tc.key)
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.key, got, tc.want)
		}
		if errs := validation.IsQualifiedName(got); len(errs) > 0 {
			t.Errorf("%s: %s is no label key: %v", tc.key, got, errs)
		}
		if seen[got] {
			t.Errorf("%s: %s given twice", tc.key, got)
		}
		seen[got] = true
	}
}
