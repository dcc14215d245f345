package vkprovider

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/openkci/openkci/pkg/kci"
)

// fakeSources serves fixed ConfigMaps and Secrets and a token naming its
// audience and lifetime.
type fakeSources struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	failWith   error
}

func (f *fakeSources) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if f.failWith != nil {
		return nil, f.failWith
	}
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, &NotFound{Kind: "configMap", Namespace: ns, Name: name}
}

func (f *fakeSources) Secret(ns, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, &NotFound{Kind: "secret", Namespace: ns, Name: name}
}

func (f *fakeSources) Token(_ context.Context, pod *corev1.Pod, audience string, exp int64) (string, error) {
	return "token-of-" + pod.Name + "-" + audience, nil
}

var testMapping = Mapping{
	ClusterID: "c1", NodeName: "vk", SubnetID: "subnet-1", SecurityGroupIDs: []string{"sg-1"},
	DefaultCPU: 1, DefaultMemory: 2,
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1", UID: "uid-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			DNSPolicy:     corev1.DNSClusterFirst,
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1.36", ImagePullPolicy: corev1.PullIfNotPresent,
				TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
		},
	}
}

func baseRequest() *kci.CreateContainerGroupRequest {
	return &kci.CreateContainerGroupRequest{
		ContainerGroupName: "web-1", SubnetID: "subnet-1", SecurityGroupIDs: []string{"sg-1"},
		RestartPolicy: "Always", ClientToken: "uid-1", CPU: 1, Memory: 2,
		Labels: []kci.Label{{Key: "cluster-id", Value: "c1"}, {Key: "namespace", Value: "ns"}, {Key: "pod-name", Value: "web-1"},
			{Key: "node-name", Value: "vk"}, {Key: "pod-uid", Value: "uid-1"}},
		Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "main", Image: "busybox:1.36", ImagePullPolicy: "IfNotPresent"}}},
	}
}

func TestGroupRequest(t *testing.T) {
	src := &fakeSources{
		configMaps: map[string]*corev1.ConfigMap{"ns/conf": {Data: map[string]string{"b.conf": "B", "a.conf": "A"}}},
		secrets: map[string]*corev1.Secret{
			"ns/pull": {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
				corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://reg.example.com/":{"auth":"` + b64("u:p:w") + `"},"r2.example.com":{"username":"a","password":"b"}}}`)}},
			"ns/tls": {Data: map[string][]byte{"tls.key": []byte("K")}},
		},
	}
	yes, mode := true, int32(0o400)
	runMappingCases(t, testMapping, src, []mappingCase{
		{name: "plain pod gets the default size"},
		{
			name: "command, args, env sorted, working dir, ports, privileged",
			pod: func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.Command, c.Args, c.WorkingDir = []string{"sh", "-c"}, []string{"sleep 1"}, "/w"
				c.Env = []corev1.EnvVar{{Name: "Z", Value: "1"}, {Name: "A", Value: "2"}}
				c.Ports = []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
				c.SecurityContext = &corev1.SecurityContext{Privileged: &yes}
				p.Spec.HostPID = true
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				c := &r.Containers[0]
				c.Command, c.Args, c.WorkingDir = []string{"sh", "-c"}, []string{"sleep 1"}, "/w"
				c.EnvironmentVars = []kci.EnvironmentVar{{Key: "A", Value: "2"}, {Key: "Z", Value: "1"}}
				c.Ports = []kci.Port{{Port: 80, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}}
				c.SecurityContext = &kci.SecurityContext{Privileged: true}
				r.HostPID = true
			},
		},
		{
			name: "status.podIP resolved too early is taken from the stored pod",
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "IP", Value: ""}, {Name: "N", Value: "web-1"}}
			},
			orig: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{
					{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "N", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.Containers[0].EnvironmentVars = []kci.EnvironmentVar{
					{Key: "IP", ValueFrom: &kci.ValueFrom{FieldRef: &kci.FieldRef{FieldPath: "status.podIP"}}}, {Key: "N", Value: "web-1"}}
			},
		},
		{
			name: "resources: limits size containers, requests go to ContainerSpec, the group sums them",
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox:1.36",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}})
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.Containers[0].CPU, r.Containers[0].Memory = 0.5, 0.5
				r.Containers = append(r.Containers, kci.Container{InitContainer: kci.InitContainer{Name: "side", Image: "busybox:1.36"}})
				r.ContainerSpecs = []kci.ContainerSpec{{RequestCPU: 0.25, RequestMem: 0.25, LimitCPU: 0.5, LimitMem: 0.5}, {RequestCPU: 1}}
				r.CPU, r.Memory = 1.5, 0.5
			},
		},
		{
			name: "an init container larger than the containers sizes the group",
			pod: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.36", Command: []string{"true"},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("3Gi")}}}}
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.InitContainers = []kci.InitContainer{{Name: "init", Image: "busybox:1.36", Command: []string{"true"}, CPU: 2, Memory: 3}}
				r.CPU, r.Memory = 2, 3
			},
		},
		{
			name: "probes: exec, HTTP on a named port, TCP, with their timings",
			pod: func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}
				c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("web"), Scheme: corev1.URISchemeHTTP}},
					InitialDelaySeconds: 3, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
				c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/ready"}}}, PeriodSeconds: 2, SuccessThreshold: 2, FailureThreshold: 1}
				c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(8080)}}, FailureThreshold: 30}
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				c := &r.Containers[0]
				c.Ports = []kci.Port{{Port: 8080, Protocol: "TCP"}}
				c.LivenessProbe = &kci.Probe{HTTPGet: &kci.HTTPGetAction{Path: "/healthz", Port: 8080, Scheme: "HTTP"},
					InitialDelaySeconds: 3, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
				c.ReadinessProbe = &kci.Probe{Exec: &kci.ExecAction{Command: []string{"cat", "/ready"}}, PeriodSeconds: 2, SuccessThreshold: 2, FailureThreshold: 1}
				c.StartupProbe = &kci.Probe{TCPSocket: &kci.TCPSocketAction{Port: 8080}, FailureThreshold: 30}
			},
		},
		{
			name: "restart policy, host aliases, dnsConfig",
			pod: func(p *corev1.Pod) {
				p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
				p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"db"}}}
				p.Spec.DNSPolicy = corev1.DNSNone
				v := "2"
				p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"x"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &v}}}
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.RestartPolicy = "OnFailure"
				r.HostAliases = []kci.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"db"}}}
				r.DNSConfig = &kci.DNSConfig{NameServers: []string{"1.1.1.1"}, Searches: []string{"x"}, Options: []kci.DNSOption{{Name: "ndots", Value: "2"}}}
			},
		},
		{
			name: "volumes: emptyDir, configMap (all keys, sorted), secret items with modes, projected token and downward API",
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
					{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: &mode,
						Items: []corev1.KeyToPath{{Key: "tls.key", Path: "k/key.pem", Mode: &mode}}}}},
					{Name: "api", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "aud"}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: &yes}},
					}}}},
				}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/s"}, {Name: "tls", MountPath: "/tls", ReadOnly: true}}
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.Volumes = []kci.Volume{
					{Name: "scratch", Type: kci.VolumeEmptyDir},
					{Name: "conf", Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{Files: []kci.ConfigFile{{Path: "a.conf", Content: b64("A")}, {Path: "b.conf", Content: b64("B")}}}},
					{Name: "tls", Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{DefaultMode: "0400", Files: []kci.ConfigFile{{Path: "k/key.pem", Content: b64("K"), Mode: "0400"}}}},
					{Name: "api", Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{Files: []kci.ConfigFile{{Path: "token", Content: b64("token-of-web-1-aud")}, {Path: "namespace", Content: b64("ns")}}}},
				}
				r.Containers[0].VolumeMounts = []kci.VolumeMount{{Name: "scratch", MountPath: "/s"}, {Name: "tls", MountPath: "/tls", ReadOnly: true}}
			},
		},
		{
			name: "image pull secrets become registry credentials; a missing one is skipped",
			pod: func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}, {Name: "gone"}}
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.ImageRegistryCredentials = []kci.ImageRegistryCredential{
					{Server: "reg.example.com", Username: "u", Password: "p:w"},
					{Server: "r2.example.com", Username: "a", Password: "b"}}
			},
		},
		// Refusals: every field KCI cannot honour, never dropped.
		{name: "a probe without a handler", pod: func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe = &corev1.Probe{} }, refuse: "spec.containers[0].livenessProbe"},
		{name: "gRPC probe", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9}}}
		}, refuse: "spec.containers[0].readinessProbe.grpc"},
		{name: "HTTP probe headers", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt(80), HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "y"}}}}}
		}, refuse: "spec.containers[0].livenessProbe.httpGet.httpHeaders"},
		{name: "TCP probe of another host", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(80), Host: "db"}}}
		}, refuse: "spec.containers[0].startupProbe.tcpSocket.host"},
		{name: "probe port name unknown", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("web")}}}
		}, refuse: "spec.containers[0].livenessProbe.httpGet.port"},
		{name: "probe grace period", pod: func(p *corev1.Pod) {
			g := int64(5)
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, TerminationGracePeriodSeconds: &g}
		}, refuse: "spec.containers[0].livenessProbe.terminationGracePeriodSeconds"},
		{name: "lifecycle hooks", pod: func(p *corev1.Pod) { p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{} }, refuse: "spec.containers[0].lifecycle"},
		{name: "runAsUser", pod: func(p *corev1.Pod) {
			u := int64(1000)
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: &u}
		}, refuse: "spec.containers[0].securityContext"},
		{name: "pod security context", pod: func(p *corev1.Pod) {
			g := int64(2000)
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: &g}
		}, refuse: "spec.securityContext"},
		{name: "host network", pod: func(p *corev1.Pod) { p.Spec.HostNetwork = true }, refuse: "spec.hostNetwork"},
		{name: "host port", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		}, refuse: "spec.containers[0].ports[0].hostPort"},
		{name: "SCTP", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolSCTP}}
		}, refuse: "spec.containers[0].ports[0].protocol"},
		{name: "subPath", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/v", SubPath: "x"}}
		}, refuse: "spec.containers[0].volumeMounts[0].subPath"},
		{name: "GPU on a node that offers none", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		}, refuse: "spec.containers[0].resources.limits[nvidia.com/gpu]"},
		{name: "ephemeral storage", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}
		}, refuse: "spec.containers[0].resources.requests[ephemeral-storage]"},
		{name: "hostPath volume", pod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		}, refuse: "spec.volumes[0]"},
		{name: "memory emptyDir", pod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "m", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
		}, refuse: "spec.volumes[0].emptyDir.medium"},
		{name: "missing key of an item", pod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}, Items: []corev1.KeyToPath{{Key: "x", Path: "x"}}}}}}
		}, refuse: "spec.volumes[0].configMap.items[0].key"},
		{name: "sidecar init container", pod: func(p *corev1.Pod) {
			always := corev1.ContainerRestartPolicyAlways
			p.Spec.InitContainers = []corev1.Container{{Name: "s", Image: "i", RestartPolicy: &always}}
		}, refuse: "spec.initContainers[0].restartPolicy"},
		{name: "status.hostIP", orig: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "H", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}}}
		}, refuse: "spec.containers[0].env[H]"},
		{name: "activeDeadlineSeconds", pod: func(p *corev1.Pod) {
			d := int64(10)
			p.Spec.ActiveDeadlineSeconds = &d
		}, refuse: "spec.activeDeadlineSeconds"},
		{name: "a name over 63 characters cannot be a label", pod: func(p *corev1.Pod) { p.Name = strings.Repeat("a", 64) }, refuse: "metadata.name"},
		{name: "a pull secret of another type", pod: func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "tls"}}
		}, refuse: "spec.imagePullSecrets[0]"},
	})
}

// mappingCase is a pod (basePod changed by pod) and the request it must
// map to (baseRequest changed by want), or the field it must be refused
// for.
type mappingCase struct {
	name   string
	pod    func(*corev1.Pod)
	orig   func(*corev1.Pod) // the pod as stored, when it differs
	want   func(*kci.CreateContainerGroupRequest)
	refuse string // the field of the refusal
}

func runMappingCases(t *testing.T, m Mapping, src Sources, cases []mappingCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			var orig *corev1.Pod
			if tc.orig != nil {
				orig = pod.DeepCopy()
				tc.orig(orig)
			}
			got, err := m.GroupRequest(context.Background(), pod, orig, src)
			if tc.refuse != "" {
				var r *Refusal
				if !errors.As(err, &r) || r.Field != tc.refuse {
					t.Fatalf("want a refusal of %s, got %v (request %+v)", tc.refuse, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := baseRequest()
			if tc.want != nil {
				tc.want(want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("request:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestGroupRequestTransientSourceError(t *testing.T) {
	pod := basePod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}}}
	boom := errors.New("cache not synced")
	_, err := testMapping.GroupRequest(context.Background(), pod, nil, &fakeSources{failWith: boom})
	var r *Refusal
	if !errors.Is(err, boom) || errors.As(err, &r) {
		t.Fatalf("a failing source must be a transient error, not a refusal: %v", err)
	}
}

func TestMissingRequiredSourceIsRetried(t *testing.T) {
	pod := basePod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}}
	_, err := testMapping.GroupRequest(context.Background(), pod, nil, &fakeSources{})
	var r *Refusal
	var nf *NotFound
	if err == nil || errors.As(err, &r) || !errors.As(err, &nf) {
		t.Fatalf("a missing required configMap must be retried (not refused): %v", err)
	}
}

func TestNewLines(t *testing.T) {
	l := func(s ...string) []string {
		for i := range s {
			s[i] += "\n"
		}
		return s
	}
	for _, tc := range []struct {
		name              string
		before, now, want []string
	}{
		{"nothing before", nil, l("a", "b"), l("a", "b")},
		{"whole log grew", l("a", "b"), l("a", "b", "c"), l("c")},
		{"tail 1 then the whole log", l("b"), l("a", "b", "c", "d"), l("c", "d")},
		{"window moved", l("b", "c", "d"), l("c", "d", "e", "f"), l("e", "f")},
		{"nothing new", l("a", "b"), l("a", "b"), nil},
		{"no overlap: all new", l("a"), l("x", "y"), l("x", "y")},
		{"repeated lines never twice", l("ok", "ok"), l("ok", "ok", "ok"), nil},
	} {
		if got := newLines(tc.before, tc.now); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s: newLines = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNoClientToken(t *testing.T) {
	m := testMapping
	m.NoClientToken = true
	got, err := m.GroupRequest(context.Background(), basePod(), nil, &fakeSources{})
	if err != nil || got.ClientToken != "" {
		t.Fatalf("ClientToken %q (%v), want none", got.ClientToken, err)
	}
}

func TestClusterDNS(t *testing.T) {
	m := testMapping
	m.ClusterDNS = "10.96.0.10"
	got, err := m.GroupRequest(context.Background(), basePod(), nil, &fakeSources{})
	if err != nil {
		t.Fatal(err)
	}
	want := &kci.DNSConfig{NameServers: []string{"10.96.0.10"}, Searches: []string{"ns.svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Options: []kci.DNSOption{{Name: "ndots", Value: "5"}}}
	if !reflect.DeepEqual(got.DNSConfig, want) {
		t.Errorf("DNS %+v, want %+v", got.DNSConfig, want)
	}
}

// TestGPUs: on a node offering GPUs (--gpus), a container's whole
// limit of the GPU resource becomes its Container.N.Gpu and the group's
// Gpu is the sum; what cannot map is refused naming the field.
func TestGPUs(t *testing.T) {
	m := testMapping
	m.GPUResource = "nvidia.com/gpu"
	gpus := func(q string) corev1.ResourceList {
		return corev1.ResourceList{"nvidia.com/gpu": resource.MustParse(q)}
	}
	runMappingCases(t, m, &fakeSources{}, []mappingCase{
		{name: "no GPUs asked for: none given"},
		{
			name: "a limit of 2 (the request defaulted to it)",
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: gpus("2"), Requests: gpus("2")}
			},
			want: func(r *kci.CreateContainerGroupRequest) { r.Containers[0].GPU, r.GPU = 2, 2 },
		},
		{
			name: "two containers: each its own, the group the sum; a container asking none gets none",
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Limits = gpus("1")
				p.Spec.Containers = append(p.Spec.Containers,
					corev1.Container{Name: "plain", Image: "busybox:1.36"},
					corev1.Container{Name: "train", Image: "busybox:1.36", Resources: corev1.ResourceRequirements{Limits: gpus("2000m")}})
			},
			want: func(r *kci.CreateContainerGroupRequest) {
				r.Containers[0].GPU = 1
				r.Containers = append(r.Containers, kci.Container{InitContainer: kci.InitContainer{Name: "plain", Image: "busybox:1.36"}}, kci.Container{InitContainer: kci.InitContainer{Name: "train", Image: "busybox:1.36"}, GPU: 2})
				r.GPU = 3
			},
		},
		{
			name: "a limit of 0 asks for none",
			pod:  func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = gpus("0") },
		},
		{name: "a fraction", pod: func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = gpus("500m") },
			refuse: "spec.containers[0].resources.limits[nvidia.com/gpu]"},
		{name: "a request other than the limit", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: gpus("2"), Requests: gpus("1")}
		}, refuse: "spec.containers[0].resources.requests[nvidia.com/gpu]"},
		{name: "a request without a limit", pod: func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Requests = gpus("1") },
			refuse: "spec.containers[0].resources.requests[nvidia.com/gpu]"},
		{name: "another GPU resource", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"amd.com/gpu": resource.MustParse("1")}
		}, refuse: "spec.containers[0].resources.limits[amd.com/gpu]"},
		{name: "an init container", pod: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.36", Resources: corev1.ResourceRequirements{Limits: gpus("1")}}}
		}, refuse: "spec.initContainers[0].resources.limits[nvidia.com/gpu]"},
	})
}
