package api

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/errdefs"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the SDK field table in docs/api.md")

// sdkCreateFields is every leaf field of CreateContainerGroup in the current
// official SDKs, transcribed from kci-2026.md §2.1 (sdk-go models.go
// 2.2.122, sdk-python 1.5.8.101), in its notation (list indices N, M, K),
// with the other spellings the SDKs and the 2020 spec send after a '|'.
var sdkCreateFields = []string{
	"ContainerGroupName", "SubnetId", "MultiSubnetId.N", "SecurityGroupId.N", "KciType",
	"InstanceType", "InstanceFamily", "ChargeType", "SpotStrategy", "ProjectId", "Cpu", "Memory",
	"Gpu", "KubeConfig", "RetainIp", "RetainIpHours", "EipAllocationId", "MultiEipAllocationId.N",
	"AutoMatchImageCache", "ImageCacheId", "RestartPolicy", "ClusterDns", "ClusterDomain",
	"KubeProxy.Enabled", "KlogEnabled", "HostPID",
	"AdvanceSettings.ImageId", "AdvanceSettings.DataDiskGb", "AdvanceSettings.SystemDisk.Type", "AdvanceSettings.SystemDisk.Size",
	"MachineDnsConfig.NameServer.N", "MachineDnsConfig.Search.N", "MachineDnsConfig.Option.N.Name", "MachineDnsConfig.Option.N.Value",
	"MachineHostAliase.N.Ip", "MachineHostAliase.N.Hostname.M",
	"ImageRegistryCredential.N.Server", "ImageRegistryCredential.N.Username", "ImageRegistryCredential.N.Password",
	"Volume.N.Type", "Volume.N.Name",
	"Volume.N.NFSVolume.Server", "Volume.N.NFSVolume.Path", "Volume.N.NFSVolume.ReadOnly", "Volume.N.HostPathVolume.Path",
	"Volume.N.EBSVolume.FsType", "Volume.N.EBSVolume.VolumeId", "Volume.N.EBSVolume.DeleteWithInstance",
	"Volume.N.EBSVolume.Type", "Volume.N.EBSVolume.Size", "Volume.N.EBSVolume.SnapshotId",
	"Volume.N.ConfigFileVolume.DefaultMode",
	"Volume.N.ConfigFileVolume.ConfigFileToPath.M.Path|Volume.N.ConfigFileVolume.ConfigFilePath.M.Path",
	"Volume.N.ConfigFileVolume.ConfigFileToPath.M.Content|Volume.N.ConfigFileVolume.ConfigFilePath.M.Content",
	"Volume.N.ConfigFileVolume.ConfigFileToPath.M.mode|Volume.N.ConfigFileVolume.ConfigFileToPath.M.Mode|Volume.N.ConfigFileVolume.ConfigFilePath.M.mode|Volume.N.ConfigFileVolume.ConfigFilePath.M.Mode",
	"Container.N.Name", "Container.N.Command.M", "Container.N.Arg.M", "Container.N.Cpu", "Container.N.Memory",
	"Container.N.Gpu", "Container.N.WorkingDir", "Container.N.Image", "Container.N.ImagePullPolicy",
	"Container.N.LivenessProbe.InitialDelaySeconds", "Container.N.LivenessProbe.PeriodSeconds",
	"Container.N.LivenessProbe.TimeoutSeconds", "Container.N.LivenessProbe.SuccessThreshold",
	"Container.N.LivenessProbe.FailureThreshold", "Container.N.LivenessProbe.HttpGet.Port",
	"Container.N.LivenessProbe.HttpGet.Path", "Container.N.LivenessProbe.HttpGet.Scheme",
	"Container.N.LivenessProbe.TcpSocket.Port", "Container.N.LivenessProbe.Exec.Command.K",
	"Container.N.ReadinessProbe.InitialDelaySeconds", "Container.N.ReadinessProbe.PeriodSeconds",
	"Container.N.ReadinessProbe.TimeoutSeconds", "Container.N.ReadinessProbe.SuccessThreshold",
	"Container.N.ReadinessProbe.FailureThreshold", "Container.N.ReadinessProbe.HttpGet.Port",
	"Container.N.ReadinessProbe.HttpGet.Path", "Container.N.ReadinessProbe.HttpGet.Scheme",
	"Container.N.ReadinessProbe.TcpSocket.Port", "Container.N.ReadinessProbe.Exec.Command.K",
	"Container.N.EnvironmentVar.M.Key", "Container.N.EnvironmentVar.M.Value",
	"Container.N.EnvironmentVar.M.ValueFrom.FieldRef.FieldPath",
	"Container.N.Port.M.Port", "Container.N.Port.M.Protocol",
	"Container.N.VolumeMount.M.Name", "Container.N.VolumeMount.M.MountPath", "Container.N.VolumeMount.M.ReadOnly",
	"Container.N.SecurityContext.Privileged",
	"DnsConfig.NameServer.N", "DnsConfig.Search.N", "DnsConfig.Option.N.Name", "DnsConfig.Option.N.Value",
	"HostAliase.N.Ip|HostAlias.N.Ip", "HostAliase.N.Hostname.M|HostAlias.N.Hostname.M",
	"Label.N.Key", "Label.N.Value",
	"DataDisk.N.VolumeName", "DataDisk.N.Type", "DataDisk.N.Size", "DataDisk.N.DeleteWithInstance", "DataDisk.N.SnapshotId",
	"ContainerSpec.N.RequestCpu", "ContainerSpec.N.RequestMem", "ContainerSpec.N.LimitCpu", "ContainerSpec.N.LimitMem",
	"InitContainer.N.Name", "InitContainer.N.Command.M", "InitContainer.N.Arg.M", "InitContainer.N.Cpu",
	"InitContainer.N.Memory", "InitContainer.N.Gpu", "InitContainer.N.WorkingDir", "InitContainer.N.Image",
	"InitContainer.N.ImagePullPolicy", "InitContainer.N.EnvironmentVar.M.Key", "InitContainer.N.EnvironmentVar.M.Value",
	"InitContainer.N.EnvironmentVar.M.ValueFrom.FieldRef.FieldPath", "InitContainer.N.VolumeMount.M.Name",
	"InitContainer.N.VolumeMount.M.MountPath", "InitContainer.N.VolumeMount.M.ReadOnly",
	"InitContainer.N.SecurityContext.Privileged",
	// The 2020 spec's, absent from the current SDKs.
	"IngressBandwidth", "EgressBandwidth",
}

// acceptedWithoutEffect are supported fields that kcid decodes nowhere,
// because the SDK itself documents them as ignored in every case kcid
// accepts.
var acceptedWithoutEffect = []string{"RetainIpHours"}

var indexRe = regexp.MustCompile(`\.[NMK](\.|$)`)

// instantiate writes every list index of a pattern as idx.
func instantiate(pattern, idx string) string {
	for {
		next := indexRe.ReplaceAllString(pattern, "."+idx+"$1")
		if next == pattern {
			return next
		}
		pattern = next
	}
}

// TestEverySDKFieldImplementedOrRefused walks every SDK field: a refused
// one is refused with 400 InvalidParameterValue naming the key as sent
// (0- and 1-based, every spelling); a supported one passes the table and is
// decoded by kcid's request type, so none is silently dropped.
func TestEverySDKFieldImplementedOrRefused(t *testing.T) {
	decoded := names(reflect.TypeOf(createContainerGroupRequest{}), "")
	var inTable []string
	for _, spellings := range sdkCreateFields {
		for i, s := range strings.Split(spellings, "|") {
			pattern := instantiate(s, "N")
			f := createFieldIndex[pattern]
			if f == nil {
				t.Errorf("SDK field %s is not in createFields", s)
				continue
			}
			if i == 0 {
				if f.Wire != pattern {
					t.Errorf("SDK field %s: the table's canonical spelling is %s", s, f.Wire)
				}
				inTable = append(inTable, f.Wire)
			}
			for _, idx := range []string{"0", "1", "12"} {
				key := instantiate(s, idx)
				params := validCreate()
				params.Set(key, "1")
				err := checkSDKFields(params, createFieldIndex)
				if f.Refused == "" {
					if err != nil {
						t.Errorf("%s is supported but refused: %v", key, err)
					}
					continue
				}
				var pe *errdefs.ParamError
				if !errors.As(err, &pe) || pe.Code != errdefs.CodeInvalidParameterValue || pe.Param != key || pe.Detail != f.Refused {
					t.Errorf("%s=1: want InvalidParameterValue naming %s with %q, got %v", key, key, f.Refused, err)
				}
				if f.ZeroOK {
					for _, zero := range []string{"0", "false", "False", "0.0"} {
						params.Set(key, zero)
						if err := checkSDKFields(params, createFieldIndex); err != nil {
							t.Errorf("%s=%s asks for nothing but is refused: %v", key, zero, err)
						}
					}
				}
				for _, v := range f.Allow {
					params.Set(key, v)
					if err := checkSDKFields(params, createFieldIndex); err != nil {
						t.Errorf("%s=%s is allowed but refused: %v", key, v, err)
					}
				}
			}
		}
	}
	for _, f := range createFields {
		if !slices.Contains(inTable, f.Wire) {
			t.Errorf("createFields lists %s, which no SDK defines", f.Wire)
		}
		implemented := slices.Contains(decoded, f.Wire) || slices.Contains(acceptedWithoutEffect, f.Wire)
		if f.Refused == "" && !implemented {
			t.Errorf("%s is marked supported but kcid does not decode it: it would be silently dropped", f.Wire)
		}
		if f.Refused != "" && slices.Contains(decoded, f.Wire) {
			t.Errorf("%s is decoded but refused by the table: flip its entry", f.Wire)
		}
	}
	for _, n := range decoded {
		// kcid's own extensions, which no SDK defines.
		if f := createFieldIndex[n]; f == nil && n != "ClientToken" && !strings.HasPrefix(n, "Container.N.StartupProbe.") {
			t.Errorf("kcid decodes %s, which createFields does not list", n)
		}
	}
}

// sdkVPCActionFields are the fields the current SDKs define for the VPC
// actions that change a subnet's name servers or a network's name
// (kci-2026.md §3.6 and §3.14), with kcid's request type for each.
var sdkVPCActionFields = []struct {
	action string
	req    any
	fields []string
}{
	{"CreateSubnet", createSubnetRequest{}, []string{"VpcId", "SubnetName", "CidrBlock", "ProvidedIpv6CidrBlock", "SubnetType",
		"DhcpIpFrom", "DhcpIpTo", "Dns1", "Dns2", "GatewayIp", "SecondaryCidrId", "AvailabilityZone", "VisitInternet"}},
	{"ModifyVpc", modifyVpcRequest{}, []string{"VpcName", "VpcId"}},
	{"ModifySubnet", modifySubnetRequest{}, []string{"SubnetId", "SubnetName", "Dns1", "Dns2"}},
}

// TestEveryVPCActionFieldDecoded: kcid decodes every SDK field of these
// VPC actions (to use or refuse it), and decodes nothing else, so none is
// silently dropped.
func TestEveryVPCActionFieldDecoded(t *testing.T) {
	for _, a := range sdkVPCActionFields {
		decoded := names(reflect.TypeOf(a.req), "")
		for _, f := range a.fields {
			if !slices.Contains(decoded, f) {
				t.Errorf("%s: SDK field %s is not decoded: it would be silently dropped", a.action, f)
			}
		}
		for _, n := range decoded {
			if !slices.Contains(a.fields, n) {
				t.Errorf("%s: kcid decodes %s, which no SDK defines", a.action, n)
			}
		}
	}
}

// TestUnknownNamesIgnored: names no SDK defines stay ignored, and the
// first refused key in key order is the one named.
func TestUnknownNamesIgnored(t *testing.T) {
	params := validCreate()
	for _, k := range []string{"Container.1.Foo", "Bogus", "Volume.1.Whatever.Path", "InitContainers.1.Name", "Version", "X-Amz-Date"} {
		params.Set(k, "1")
	}
	if err := checkSDKFields(params, createFieldIndex); err != nil {
		t.Fatalf("unknown names refused: %v", err)
	}
	params.Set("KubeConfig", "x")
	params.Set("HostPID", "true")
	params.Set("EipAllocationId", "eip-1")
	err := checkSDKFields(params, createFieldIndex)
	var pe *errdefs.ParamError
	if !errors.As(err, &pe) || pe.Param != "EipAllocationId" {
		t.Fatalf("want EipAllocationId (first in key order) named, got %v", err)
	}
}

// TestDocsListEverySDKField: docs/api.md carries the table rendered from
// createFields (go test -run TestDocsListEverySDKField -update-docs).
func TestDocsListEverySDKField(t *testing.T) {
	const begin, end = "<!-- sdk-fields:begin -->\n", "<!-- sdk-fields:end -->"
	path := "../../docs/api.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("docs/api.md has no %q ... %q section", begin, end)
	}
	want := renderFieldTable()
	if got := doc[i+len(begin) : j]; got != want {
		if *updateDocs {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("docs/api.md's SDK field table is stale; run go test ./internal/api -run TestDocsListEverySDKField -update-docs")
	}
}

func renderFieldTable() string {
	var b strings.Builder
	b.WriteString("| SDK field (other spellings) | kcid |\n|---|---|\n")
	for _, f := range createFields {
		name := "`" + f.Wire + "`"
		for _, a := range f.Alt {
			name += " (`" + a + "`)"
		}
		verdict := "supported"
		switch {
		case f.Refused != "" && f.ZeroOK:
			verdict = "**refused** unless false/0: " + f.Refused
		case f.Refused != "" && len(f.Allow) > 0:
			verdict = fmt.Sprintf("**refused** unless `%s`: %s", strings.Join(f.Allow, "`, `"), f.Refused)
		case f.Refused != "":
			verdict = "**refused**: " + f.Refused
		case f.Note != "" && f.Note != "see below":
			verdict += "; " + f.Note
		}
		fmt.Fprintf(&b, "| %s | %s |\n", name, verdict)
	}
	return b.String()
}
