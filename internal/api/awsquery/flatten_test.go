package awsquery

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

// fullRequest sets every field of createRequest with non-empty values, so
// that flattening it with pkg/kci's encoder and decoding must reproduce it
// exactly.
func fullRequest() createRequest {
	probeFor := func(port int) *probe {
		return &probe{
			InitialDelaySeconds: ptr(5), PeriodSeconds: ptr(10), TimeoutSeconds: ptr(1),
			SuccessThreshold: ptr(1), FailureThreshold: ptr(3),
			HttpGet:   &httpGetAction{Port: ptr(port), Path: "/healthz", Scheme: "HTTP"},
			TcpSocket: &tcpSocketAction{Port: ptr(port)},
			Exec:      &execAction{Command: []string{"sh", "-c", "true"}},
		}
	}
	env := []envVar{
		{Key: "A", Value: "1"},
		{Key: "POD_IP", ValueFrom: &valueFrom{FieldRef: &fieldRef{FieldPath: "status.podIP"}}},
		{Key: "EMPTY_IN_LIST", Value: "x y&z=%"},
	}
	return createRequest{
		ContainerGroupName:   "web-1",
		SubnetId:             "subnet-1",
		MultiSubnetId:        []string{"subnet-1", "subnet-2"},
		SecurityGroupId:      []string{"sg-1", "sg-2", "sg-3"},
		KciType:              "RBKCI",
		InstanceType:         "N3.4B",
		InstanceFamily:       "S6,X7",
		ChargeType:           "HourlyInstantSettlement",
		SpotStrategy:         "SpotAsPriceGo",
		ProjectId:            ptr(int64(0)),
		Cpu:                  ptr(2.5),
		Memory:               ptr(0.125),
		Gpu:                  ptr(1e-5),
		KubeConfig:           "apiVersion: v1\nkind: Config\n",
		RetainIp:             ptr(false),
		RetainIpHours:        ptr(24),
		EipAllocationId:      "eip-1",
		MultiEipAllocationId: []string{"eip-2", "eip-3"},
		AutoMatchImageCache:  ptr(true),
		ImageCacheId:         "ic-1",
		AdvanceSettings: &advanceSettings{
			ImageId: "img-1", DataDiskGb: ptr(20),
			SystemDisk: &systemDisk{Type: "ESSD_SYSTEM_PL0", Size: ptr(50)},
		},
		MachineDnsConfig: &dnsConfig{
			NameServer: []string{"1.1.1.1"}, Search: []string{"svc.local"},
			Option: []dnsOption{{Name: "ndots", Value: "5"}},
		},
		MachineHostAliase: []hostAlias{{Ip: "10.0.0.9", Hostname: []string{"registry.local", "r"}}},
		RestartPolicy:     "OnFailure",
		ImageRegistryCredential: []registryCred{
			{Server: "hub.example.com", Username: "u", Password: "p+w =&"},
			{Server: "ghcr.io", Username: "u2", Password: "p2"},
		},
		Volume: []volume{
			{Type: "ConfigFileVolume", Name: "cfg", ConfigFileVolume: &configFileVolume{
				DefaultMode: ptr(420),
				ConfigFileToPath: []configFilePath{
					{Path: "a.conf", Content: "aGVsbG8=", Mode: ptr(256)},
					{Path: "b.conf", Content: "d29ybGQ="},
				},
			}},
			{Type: "EBSVolume", Name: "data", EBSVolume: &ebsVolume{
				FsType: "ext4", VolumeId: "vol-1", DeleteWithInstance: ptr(true),
				Type: "SSD3.0", Size: ptr(100), SnapshotId: "snap-1",
			}},
			{Type: "NFSVolume", Name: "nfs", NFSVolume: &nfsVolume{Server: "10.0.0.3", Path: "/export", ReadOnly: ptr(true)}},
			{Type: "HostPathVolume", Name: "host", HostPathVolume: &hostPathVolume{Path: "/var/log"}},
			{Type: "EmptyDirVolume", Name: "tmp"},
		},
		Container: []container{
			{
				initContainer: initContainer{
					Name: "app", Command: []string{"/bin/app"}, Arg: []string{"--port", "8080", ""},
					Cpu: ptr(1.0), Memory: ptr(0.5), Gpu: ptr(0.0), WorkingDir: "/srv",
					Image: "nginx:1.27", ImagePullPolicy: "IfNotPresent", EnvironmentVar: env,
					VolumeMount:     []volumeMount{{Name: "cfg", MountPath: "/etc/cfg", ReadOnly: ptr(true)}, {Name: "data", MountPath: "/data", ReadOnly: ptr(false)}},
					SecurityContext: &securityContext{Privileged: ptr(false)},
				},
				Port:          []port{{Port: ptr(8080), Protocol: "TCP"}, {Port: ptr(53), Protocol: "UDP"}},
				LivenessProbe: probeFor(8080), ReadinessProbe: probeFor(8081),
			},
			{initContainer: initContainer{Name: "sidecar", Image: "busybox", Command: []string{"sleep", "inf"}}},
		},
		DnsConfig: &dnsConfig{
			NameServer: []string{"8.8.8.8", "8.8.4.4"}, Search: []string{"a", "b"},
			Option: []dnsOption{{Name: "ndots", Value: "2"}, {Name: "edns0"}},
		},
		HostAliase:    []hostAlias{{Ip: "10.0.0.1", Hostname: []string{"a.local"}}},
		ClusterDns:    "10.96.0.10",
		ClusterDomain: "cluster.local",
		Label:         []label{{Key: "cluster-id", Value: "c1"}, {Key: "namespace", Value: "default"}},
		KubeProxy:     &kubeProxy{Enabled: ptr(true)},
		KlogEnabled:   ptr(false),
		DataDisk:      []dataDisk{{VolumeName: "dd", Type: "ESSD_PL1", Size: ptr(40), DeleteWithInstance: ptr(true), SnapshotId: "s"}},
		ContainerSpec: []containerSpec{{RequestCpu: ptr(0.25), RequestMem: ptr(0.5), LimitCpu: ptr(1.0), LimitMem: ptr(2.0)}},
		HostPID:       ptr(true),
		InitContainer: []initContainer{{
			Name: "init", Image: "busybox", Command: []string{"sh"}, Arg: []string{"-c", "echo"},
			Cpu: ptr(0.1), Memory: ptr(0.1), Gpu: ptr(0.0), WorkingDir: "/", ImagePullPolicy: "Always",
			EnvironmentVar:  env[:1],
			VolumeMount:     []volumeMount{{Name: "cfg", MountPath: "/cfg"}},
			SecurityContext: &securityContext{Privileged: ptr(true)},
		}},
		IngressBandwidth: ptr(int64(100)),
		EgressBandwidth:  ptr(int64(1024)),
	}
}

// TestRoundTrip: kci.Flatten, the one query encoder (pkg/kci's client
// sends with it), is the inverse of Decode, through the real wire form.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  any
		dst  func() any
	}{
		{"create", fullRequest(), func() any { return new(createRequest) }},
		{"describe", describeRequest{
			ContainerGroupId: []string{"a", "b"}, MaxResults: ptr(100), Marker: ptr(0),
			ProjectId: []int64{0, 1 << 40}, Search: "web",
			Filter: []filter{{Name: "status", Value: []string{"Running", "Failed"}}, {Name: "vpc-id", Value: []string{"v"}}},
		}, func() any { return new(describeRequest) }},
		{"scalars", allScalars{
			S: "s", B: true, I: -1, I8: -128, I16: 1, I32: 2, I64: -1 << 63, U: 3, U8: 4, U64: 1<<64 - 1,
			F32: 0.1, F64: 123456789.125, PS: ptr("p"), PB: ptr(false), PI: ptr(0), PF: ptr(-0.5),
			Mat: [][]int{{1, 2}, {3}}, LP: []*int{ptr(1), ptr(2)}, Named: "n",
		}, func() any { return new(allScalars) }},
	} {
		for _, base := range []int{0, 1} {
			t.Run(tc.name+"/base"+strconv.Itoa(base), func(t *testing.T) {
				enc := kci.Flatten(tc.src)
				if base == 0 {
					enc = zeroBased(enc)
				}
				// Through the real wire form, to catch escaping problems.
				vals := mustParseQuery(t, enc.Encode())
				dst := tc.dst()
				if err := Decode(vals, dst); err != nil {
					t.Fatal(err)
				}
				clearPrefixes(reflect.ValueOf(dst))
				assertEqual(t, reflect.ValueOf(dst).Elem().Interface(), tc.src)
			})
		}
	}
}

var indexRE = regexp.MustCompile(`\.(\d+)(\.|$)`)

// zeroBased renumbers list indices from 0, as sdk-go and sdk-python send
// them (kci.Flatten counts from 1, as the spec and sdk-java do).
func zeroBased(v map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, vs := range v {
		for {
			next := indexRE.ReplaceAllStringFunc(k, func(m string) string {
				sub := indexRE.FindStringSubmatch(m)
				n, _ := strconv.Atoi(sub[1])
				return ".#" + strconv.Itoa(n-1) + sub[2]
			})
			if next == k {
				break
			}
			k = next
		}
		out[strings.ReplaceAll(k, "#", "")] = vs
	}
	return out
}

// What the wire example (sdk-go's body) decodes to, flattened by
// kci.Flatten, is exactly that body apart from the common parameters and
// the list numbering: our client sends what sdk-go sends.
func TestFlattenMatchesSDKWire(t *testing.T) {
	want := mustParseQuery(t, wireExampleBody())
	for _, k := range []string{"Action", "Service", "Version"} {
		delete(want, k)
	}
	src := wireExampleWant()
	assertEqual(t, zeroBased(kci.Flatten(&src)), map[string][]string(want))
}
