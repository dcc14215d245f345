package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/core/coretest"
)

// testSealer "seals" by prefixing the aad, so a value opened elsewhere
// fails; it stands in for the store's AES-GCM.
type testSealer struct{}

func (testSealer) Seal(plain, aad []byte) ([]byte, error) {
	return append(append(append([]byte{}, aad...), '|'), plain...), nil
}

func (testSealer) Open(sealed, aad []byte) ([]byte, error) {
	p := append(append([]byte{}, aad...), '|')
	if !bytes.HasPrefix(sealed, p) {
		return nil, errors.New("wrong aad")
	}
	return sealed[len(p):], nil
}

func TestRoundTrip(t *testing.T) {
	for name, g := range map[string]*core.Group{"filled": coretest.Filled(), "fixture": coretest.Groups()[1]} {
		t.Run(name, func(t *testing.T) {
			b, err := MarshalGroup(g, testSealer{})
			if err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalGroup(b, testSealer{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, g) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", back, g)
			}
			for _, c := range g.Credentials {
				if bytes.Contains(b, []byte(`"`+c.Password+`"`)) {
					t.Fatalf("password %q in the record unsealed: %s", c.Password, b)
				}
			}
		})
	}
}

func TestNoSealerDropsPasswords(t *testing.T) {
	g := coretest.Groups()[1]
	b, err := MarshalGroup(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalGroup(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := *g
	want.Credentials = nil
	for _, c := range g.Credentials {
		c.Password = ""
		want.Credentials = append(want.Credentials, c)
	}
	if !reflect.DeepEqual(back, &want) {
		t.Fatalf("without a sealer:\n got %+v\nwant %+v", back, &want)
	}
	// A sealed password needs the sealer.
	sealed, _ := MarshalGroup(g, testSealer{})
	if _, err := UnmarshalGroup(sealed, nil); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("sealed record without a sealer: %v", err)
	}
}

// TestExplicitFieldNames pins the version 3 keys: renaming a field of
// core.Group or of Group must not change them.
func TestExplicitFieldNames(t *testing.T) {
	g := coretest.Groups()[0]
	g.Labels = []core.Label{{Key: "cluster-id", Value: "c1"}}
	b, err := MarshalGroup(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"version":3,"group":{"id":"0a4c1c52-0000-4000-8000-000000000001","name":"minimal","accountId":"2000000001","region":"cn-beijing-6","zone":"cn-beijing-6a","chargeType":"HourlyInstantSettlement","cpu":0.5,"memoryGiB":1,"restartPolicy":"Always","network":{"vpcId":"vpc-1","vpcCidr":"10.88.0.0/16","subnetId":"subnet-1","subnetCidr":"10.88.0.0/20","gateway":"10.88.0.1","privateIp":"10.88.0.10","mac":"fa:16:3e:00:00:10","interfaceId":"eni-10.88.0.10","securityGroupIds":["sg-1"]},"containers":[{"name":"main","image":"local/busybox:1"}],"labels":[{"key":"cluster-id","value":"c1"}],"createdAt":"2026-11-30T09:00:00.123456789Z"}}`
	if string(b) != want {
		t.Fatalf("record:\n got %s\nwant %s", b, want)
	}
	// Version 3's own keys.
	g.GPU = 1
	g.Containers[0].GPU = 1
	g.Containers[0].GPUDevices = []string{"/dev/nvidia0"}
	p := &core.Probe{TCPSocket: &core.TCPSocketAction{Port: 80}, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	g.Containers[0].LivenessProbe, g.Containers[0].ReadinessProbe, g.Containers[0].StartupProbe = p, p, p
	if b, err = MarshalGroup(g, nil); err != nil {
		t.Fatal(err)
	}
	const probe = `{"tcpSocketPort":80,"periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3}`
	for _, key := range []string{`}],"gpu":1,"labels"`, `"gpu":1,"gpuDevices":["/dev/nvidia0"]`,
		`"livenessProbe":` + probe, `"readinessProbe":` + probe, `"startupProbe":` + probe} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("record without %s: %s", key, b)
		}
	}
}

func TestUnmarshalVersions(t *testing.T) {
	// Version 1 is encoding/json of the core.Group of then; core.Group
	// has no tags, so marshalling the filled group today writes it.
	filled := coretest.Filled()
	// Versions 1 and 2 had no labels.
	v1, err := json.Marshal(filled)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := MarshalGroup(filled, testSealer{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(v3, []byte(`"labels":[{"key":`)) {
		t.Fatalf("version 3 record without labels: %s", v3)
	}
	// Version 2 is version 3's shape: as written by the kcids that had
	// GPUs and probes before version 3 (every field) and by those before
	// them (none of version 3's fields).
	asVersion2 := func(b []byte) []byte {
		return bytes.Replace(b, []byte(`{"version":3,`), []byte(`{"version":2,`), 1)
	}
	v2Late := asVersion2(v3)
	want2 := coretest.Filled()
	want2.GPU = 0
	for _, cs := range [][]core.Container{want2.Containers, want2.InitContainers} {
		for i := range cs {
			cs[i].GPU, cs[i].GPUDevices = 0, nil
			cs[i].LivenessProbe, cs[i].ReadinessProbe, cs[i].StartupProbe = nil, nil, nil
		}
	}
	v2Early, err := MarshalGroup(want2, testSealer{})
	if err != nil {
		t.Fatal(err)
	}
	v2Early = asVersion2(v2Early)
	for _, key := range []string{`"gpu"`, `"gpuDevices"`, `Probe"`} {
		if bytes.Contains(v2Early, []byte(key)) {
			t.Fatalf("the early version 2 record has %s: %s", key, v2Early)
		}
	}
	if bytes.Contains(v1, []byte(`"version"`)) {
		t.Fatal("a version 1 record must not have a version key")
	}
	// Fields core.Group gained after version 1 was replaced are not read
	// from a version 1 record.
	want1 := coretest.Filled()
	want1.HostPID = false
	want1.GPU = 0
	want1.ImageCacheID = ""
	want1.Labels = nil
	for i := range want1.Volumes {
		want1.Volumes[i].HostPath = ""
		want1.Volumes[i].NFS = nil
		if e := want1.Volumes[i].EBS; e != nil {
			e.SizeGB, e.Type, e.DeleteWithInstance = 0, "", false
		}
	}
	want1.InitContainers = nil
	for i := range want1.Containers {
		want1.Containers[i].Privileged = false
		want1.Containers[i].GPU, want1.Containers[i].GPUDevices = 0, nil
		want1.Containers[i].RequestCPU, want1.Containers[i].RequestMemory = 0, 0
		want1.Containers[i].LivenessProbe, want1.Containers[i].ReadinessProbe, want1.Containers[i].StartupProbe = nil, nil, nil
		for j := range want1.Containers[i].Env {
			want1.Containers[i].Env[j].FieldPath = ""
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want *core.Group
		err  string
	}{
		{"version 1", v1, want1, ""},
		{"version 2 before GPUs and probes", v2Early, want2, ""},
		{"version 2 with GPUs and probes", v2Late, filled, ""},
		{"version 3", v3, filled, ""},
		{"newer", []byte(`{"version":4,"group":{}}`), nil, "group record version 4 (this kcid reads up to 3): written by a newer kcid; run that kcid or a newer one"},
		{"unknown", []byte(`{"version":-1,"group":{}}`), nil, "not one kcid ever wrote"},
		{"garbage", []byte(`{"version":2,"group":[]}`), nil, "version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := UnmarshalGroup(tc.in, testSealer{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("\n got %+v\nwant %+v", g, tc.want)
			}
		})
	}
}
