package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Fields of the current SDKs that kcid does not implement are refused over
// HTTP with 400 InvalidParameterValue naming the key as sent, in every
// request style, and create nothing; fields that ask for nothing are
// accepted.
func TestCreateRefusesUnimplementedSDKFields(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	refused := []struct {
		name    string
		set     map[string]string
		param   string
		message string
	}{
		{"privileged init container", map[string]string{"InitContainer.1.Name": "init", "InitContainer.1.Image": "busybox", "InitContainer.1.SecurityContext.Privileged": "true"},
			"InitContainer.N.SecurityContext.Privileged", "container init: privileged containers are not allowed for account"},
		{"container gpu", map[string]string{"Container.1.Gpu": "1"}, "Container.1.Gpu", "GPUs"},
		{"value from an unsupported field", map[string]string{"Container.1.EnvironmentVar.1.Key": "L", "Container.1.EnvironmentVar.1.ValueFrom.FieldRef.FieldPath": "metadata.annotations['app']"},
			"Container.1.EnvironmentVar.1.ValueFrom.FieldRef.FieldPath", "a group has no annotations or namespace"},
		{"value from a bad label key", map[string]string{"Container.1.EnvironmentVar.1.Key": "L", "Container.1.EnvironmentVar.1.ValueFrom.FieldRef.FieldPath": "metadata.labels['-bad-']"},
			"Container.1.EnvironmentVar.1.ValueFrom.FieldRef.FieldPath", "a label key is"},
		// Allowed per account by the config's policy (none here); the
		// service names the container in the message.
		{"privileged", map[string]string{"Container.1.SecurityContext.Privileged": "true"},
			"Container.N.SecurityContext.Privileged", "container nginx-container: privileged containers are not allowed for account"},
		{"host pid", map[string]string{"HostPID": "True"}, "HostPID", "policy.hostPIDAccounts"},
		{"host path", map[string]string{"Volume.1.Name": "h", "Volume.1.Type": "HostPathVolume", "Volume.1.HostPathVolume.Path": "/srv/kci"},
			"Volume.N.HostPathVolume.Path", "volume h: host paths are not allowed for account"},
		{"gpu", map[string]string{"Gpu": "1"}, "Gpu", "GPUs"},
		{"data disk from a snapshot", map[string]string{"DataDisk.1.VolumeName": "d", "DataDisk.1.Size": "20", "DataDisk.1.Type": "SSD3.0", "DataDisk.1.SnapshotId": "snap-1"},
			"DataDisk.1.SnapshotId", "keeps no snapshots"},
		{"ebs volume from a snapshot", map[string]string{"Volume.1.Name": "d", "Volume.1.Type": "EBSVolume", "Volume.1.EBSVolume.Size": "20", "Volume.1.EBSVolume.Type": "SSD3.0", "Volume.1.EBSVolume.SnapshotId": "7"},
			"Volume.1.EBSVolume.SnapshotId", "keeps no snapshots"},
		// The fake runtime mounts no NFS (the service's refusal).
		{"nfs volume", map[string]string{"Volume.1.Name": "n", "Volume.1.Type": "NFSVolume", "Volume.1.NFSVolume.Server": "10.0.0.1", "Volume.1.NFSVolume.Path": "/x"},
			"Volume.N.NFSVolume.Server", "volume n: NFS volumes cannot be mounted by this kcid"},
		{"kube config", map[string]string{"KubeConfig": "apiVersion: v1"}, "KubeConfig", "cluster mode"},
		{"spot", map[string]string{"SpotStrategy": "SpotAsPriceGo"}, "SpotStrategy", "spot"},
		{"kci type", map[string]string{"KciType": "Other"}, "KciType", "RBKCI"},
	}
	for _, st := range []style{stylePOSTForm, stylePOSTJSON, styleGET} {
		for _, tc := range refused {
			t.Run(st.String()+"/"+tc.name, func(t *testing.T) {
				c.style = st
				p := createParams("refused", tc.set)
				mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue", "parameter "+tc.param+": ")
				if r := c.do("CreateContainerGroup", p); !strings.Contains(r.message(), tc.message) {
					t.Errorf("message %q does not say %q", r.message(), tc.message)
				}
			})
		}
	}
	c.style = stylePOSTForm
	// The SDKs' 0-based style names the key as sent.
	p := rebase(createParams("refused"))
	p.Set("Container.0.Gpu", "1")
	mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue",
		"parameter Container.0.Gpu: GPUs are not offered by this kcid: its node declares none (the operator declares them under node.gpus.devices, or node.gpus.kubernetesResource on Kubernetes, in kcid's config); leave it out or send 0")
	if n := total(t, c); n != 0 {
		t.Fatalf("refused creates left %d groups", n)
	}

	// What asks for nothing, and names no SDK defines, are accepted.
	p = createParams("accepted", map[string]string{
		"HostPID": "false", "Gpu": "0", "Container.1.Gpu": "0", "Container.1.SecurityContext.Privileged": "False",
		"KciType": "RBKCI", "ProjectId": "0",
		"Container.1.EnvironmentVar.9.Key": "IP", "Container.1.EnvironmentVar.9.ValueFrom.FieldRef.FieldPath": "status.podIP", "RetainIp": "false", "RetainIpHours": "24", "KubeProxy.Enabled": "false",
		"Container.1.EnvironmentVar.8.Key": "APP", "Container.1.EnvironmentVar.8.ValueFrom.FieldRef.FieldPath": "metadata.labels['example.com/app']",
		"DataDisk.1.SnapshotId":     "",
		"Container.1.NotAnSDKField": "x", "SomeOtherCloudsExtension": "y",
	})
	mustOK(t, c.do("CreateContainerGroup", p))
	if n := total(t, c); n != 1 {
		t.Fatalf("want the one accepted group, have %d", n)
	}
}

// Where the current SDK documents a looser limit than the 2020 spec, kcid
// accepts it (docs/api.md, Current limits): a group name of 128 characters.
func TestCurrentLimits(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	name := strings.Repeat("a.b-", 31) + "abcd"
	if len(name) != 128 {
		t.Fatalf("name is %d characters", len(name))
	}
	mustOK(t, c.do("CreateContainerGroup", createParams(name)))
	r := c.do("DescribeContainerGroup", nil)
	mustOK(t, r)
	if g := groups(r); len(g) != 1 || g[0]["ContainerGroupName"] != name {
		t.Fatalf("want the group named %s, got %v", name, g)
	}
	mustErr(t, c.do("CreateContainerGroup", createParams(name+"a")), http.StatusBadRequest, "InvalidParameterValue", "at most 128")
}

// TestHostPathVolumeByPolicy: a HostPathVolume under the account's
// prefix is created, mounted and described (HostPathVolume.Path) in every
// request style; one beside the prefix is refused naming the field and
// creates nothing.
func TestHostPathVolumeByPolicy(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig + "policy: {hostPathPrefixes: {'*': [/srv/kci]}}\n"})
	c := s.client()
	hostPath := func(name, p string) url.Values {
		v := createParams(name)
		v.Set("Volume.1.Name", "host")
		v.Set("Volume.1.Type", "HostPathVolume")
		v.Set("Volume.1.HostPathVolume.Path", p)
		v.Set("Container.1.VolumeMount.1.Name", "host")
		v.Set("Container.1.VolumeMount.1.MountPath", "/host")
		return v
	}
	for _, st := range []style{stylePOSTForm, stylePOSTJSON, styleGET} {
		c.style = st
		r := c.do("CreateContainerGroup", hostPath("allowed", "/srv/kci/data"))
		mustOK(t, r)
		id, _ := r.Body["ContainerGroupId"].(string)
		r = c.do("DescribeContainerGroup", vals("ContainerGroupId.1", id))
		mustOK(t, r)
		if want := `{"Type":"HostPathVolume","Name":"host","ConfigFileVolume":null,"EBSVolume":null,"HostPathVolume":{"Path":"/srv/kci/data"}}`; !strings.Contains(string(r.Raw), want) {
			t.Errorf("%s: Describe lacks %s: %s", st, want, r.Raw)
		}
		mustErr(t, c.do("CreateContainerGroup", hostPath("beside", "/srv/kci2")), http.StatusBadRequest, "InvalidParameterValue", "parameter Volume.N.HostPathVolume.Path: ")
	}
	c.style = stylePOSTForm
	if n := total(t, c); n != 3 {
		t.Fatalf("%d groups, want the 3 allowed ones", n)
	}
}

// TestCreateAllowedByPolicy: the config's policy lets an account create
// privileged containers and HostPID groups, in every request style.
func TestCreateAllowedByPolicy(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig + "policy: {privilegedAccounts: ['*'], hostPIDAccounts: ['*']}\n"})
	c := s.client()
	for _, st := range []style{stylePOSTForm, stylePOSTJSON, styleGET} {
		c.style = st
		p := createParams("allowed")
		p.Set("HostPID", "true")
		p.Set("Container.1.SecurityContext.Privileged", "true")
		r := c.do("CreateContainerGroup", p)
		mustOK(t, r)
		if id, _ := r.Body["ContainerGroupId"].(string); !s.rt.Running(id) {
			t.Errorf("%s: group %q was not started", st, id)
		}
	}
}
