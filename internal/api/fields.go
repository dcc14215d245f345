package api

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// sdkField is what kcid does with one CreateContainerGroup field that the
// current official SDKs define (sdk-go and sdk-python, kci-2026.md §2.1).
//
// createFields is the one table of them: the create handler consults it
// before decoding, so a field is either implemented (Refused == "") or
// refused with 400 InvalidParameterValue naming the wire key as sent and
// giving Refused as the reason. Implementing a field means flipping its
// entry here (and decoding and validating it in wire.go/validate.go).
// Names no KCI SDK defines are not in the table and stay ignored, as
// common parameters and other clients' extensions are (docs/api.md).
type sdkField struct {
	// Wire is the canonical wire name, every list index written N:
	// "Container.N.LivenessProbe.HttpGet.Port".
	Wire string
	// Alt are other spellings the SDKs or the 2020 spec send for the same
	// field ("HostAlias.N.Ip" for "HostAliase.N.Ip").
	Alt []string
	// Refused, if not empty, is why kcid refuses the field: the error
	// message after the key.
	Refused string
	// ZeroOK accepts a refused field whose value asks for nothing: false
	// or 0, which is what kcid does anyway (the Go SDK sends false and 0
	// for fields a caller set to their zero value).
	ZeroOK bool
	// Allow are values of a refused field that kcid accepts because they
	// ask for what it does (KciType=RBKCI).
	Allow []string
	// Note says how a supported field is implemented, for docs/api.md.
	Note string
}

// Reasons shared by several fields.
const (
	refuseGPU      = "GPUs are not offered by this kcid: its node declares none (the operator declares them under node.gpus.devices, or node.gpus.kubernetesResource on Kubernetes, in kcid's config); leave it out or send 0"
	noteGPU        = "a whole number of the node's GPUs, each given to at most one live group; refused unless the config declares GPUs (node.gpus), see GPUs below"
	refuseCluster  = "cluster mode (virtual-kubelet on a KCE cluster) is not supported by this kcid; groups run standalone"
	refuseVM       = "this kcid runs groups on its node directly, without a virtual machine per group, so there is no machine to configure"
	refuseEIP      = "elastic IPs are not supported by this kcid"
	refuseInstance = "instance types and families are not offered by this kcid; give Cpu and Memory"
	refuseSnapshot = "this kcid keeps no snapshots (no action makes one), so there is none to create a disk from; leave SnapshotId out for an empty disk"
)

// probeFields are the ten fields of a probe under prefix.
func probeFields(prefix string) []sdkField {
	var out []sdkField
	for _, f := range []string{"InitialDelaySeconds", "PeriodSeconds", "TimeoutSeconds", "SuccessThreshold", "FailureThreshold",
		"HttpGet.Port", "HttpGet.Path", "HttpGet.Scheme", "TcpSocket.Port", "Exec.Command.N"} {
		out = append(out, sdkField{Wire: prefix + f, Note: "Kubernetes' probe semantics and defaults (see Probes below)"})
	}
	return out
}

// createFields lists every CreateContainerGroup field of the current SDKs.
var createFields = concat(
	[]sdkField{
		{Wire: "ContainerGroupName", Note: "see below"},
		{Wire: "SubnetId", Note: "see below"},
		{Wire: "MultiSubnetId.N", Note: "see below"},
		{Wire: "SecurityGroupId.N", Note: "see below"},
		{Wire: "KciType", Refused: "the only KciType this kcid offers is RBKCI", Allow: []string{"RBKCI"}},
		{Wire: "InstanceType", Refused: refuseInstance},
		{Wire: "InstanceFamily", Refused: refuseInstance},
		{Wire: "ChargeType", Note: "only `HourlyInstantSettlement`; `Spot` is refused"},
		{Wire: "SpotStrategy", Refused: "spot instances are not offered by this kcid"},
		{Wire: "ProjectId", Refused: "projects are not supported by this kcid; every group is in project 0", ZeroOK: true},
		{Wire: "Cpu", Note: "see below"},
		{Wire: "Memory", Note: "see below"},
		{Wire: "Gpu", Note: noteGPU},
		{Wire: "KubeConfig", Refused: refuseCluster},
		{Wire: "RetainIp", Refused: "retaining a deleted group's IP is not supported by this kcid", ZeroOK: true},
		{Wire: "RetainIpHours", Note: "accepted; the SDK documents it as ignored unless RetainIp is true, which is refused"},
		{Wire: "EipAllocationId", Refused: refuseEIP},
		{Wire: "MultiEipAllocationId.N", Refused: refuseEIP},
		{Wire: "AutoMatchImageCache", Note: "picks the caller's Available image cache holding most of the group's images (none: a normal pull); see Image caches"},
		{Wire: "ImageCacheId", Note: "the caller's image cache to start from; it must be Available (else 409 IncorrectState); see Image caches"},
		{Wire: "AdvanceSettings.ImageId", Refused: refuseVM},
		{Wire: "AdvanceSettings.DataDiskGb", Refused: refuseVM},
		{Wire: "AdvanceSettings.SystemDisk.Type", Refused: refuseVM},
		{Wire: "AdvanceSettings.SystemDisk.Size", Refused: refuseVM},
		{Wire: "MachineDnsConfig.NameServer.N", Refused: refuseVM},
		{Wire: "MachineDnsConfig.Search.N", Refused: refuseVM},
		{Wire: "MachineDnsConfig.Option.N.Name", Refused: refuseVM},
		{Wire: "MachineDnsConfig.Option.N.Value", Refused: refuseVM},
		{Wire: "MachineHostAliase.N.Ip", Refused: refuseVM},
		{Wire: "MachineHostAliase.N.Hostname.N", Refused: refuseVM},
		{Wire: "RestartPolicy", Note: "see below"},
		{Wire: "ImageRegistryCredential.N.Server", Note: "see below"},
		{Wire: "ImageRegistryCredential.N.Username", Note: "see below"},
		{Wire: "ImageRegistryCredential.N.Password", Note: "see below"},
		{Wire: "Volume.N.Type", Note: "see below"},
		{Wire: "Volume.N.Name", Note: "see below"},
		{Wire: "Volume.N.NFSVolume.Server", Note: "with Volume.N.Type `NFSVolume`, where the runtime can mount NFS: on containerd only if the host's kernel has an NFS client (see below)"},
		{Wire: "Volume.N.NFSVolume.Path", Note: "see below"},
		{Wire: "Volume.N.NFSVolume.ReadOnly", Note: "see below"},
		{Wire: "Volume.N.HostPathVolume.Path", Note: "with Volume.N.Type `HostPathVolume`; only under the config's policy.hostPathPrefixes of the account (see below)"},
		{Wire: "Volume.N.EBSVolume.FsType", Note: "see below"},
		{Wire: "Volume.N.EBSVolume.VolumeId", Note: "see below"},
		{Wire: "Volume.N.EBSVolume.DeleteWithInstance", Note: "see below"},
		{Wire: "Volume.N.EBSVolume.Type", Note: "see below"},
		{Wire: "Volume.N.EBSVolume.Size", Note: "see below"},
		{Wire: "Volume.N.EBSVolume.SnapshotId", Refused: refuseSnapshot, ZeroOK: true},
		{Wire: "Volume.N.ConfigFileVolume.DefaultMode", Note: "see below"},
		{Wire: "Volume.N.ConfigFileVolume.ConfigFileToPath.N.Path", Alt: []string{"Volume.N.ConfigFileVolume.ConfigFilePath.N.Path"}, Note: "see below"},
		{Wire: "Volume.N.ConfigFileVolume.ConfigFileToPath.N.Content", Alt: []string{"Volume.N.ConfigFileVolume.ConfigFilePath.N.Content"}, Note: "see below"},
		{Wire: "Volume.N.ConfigFileVolume.ConfigFileToPath.N.mode", Alt: []string{
			"Volume.N.ConfigFileVolume.ConfigFileToPath.N.Mode", "Volume.N.ConfigFileVolume.ConfigFilePath.N.mode", "Volume.N.ConfigFileVolume.ConfigFilePath.N.Mode"}, Note: "see below"},
	},
	containerFields("Container.N.", false),
	[]sdkField{
		{Wire: "DnsConfig.NameServer.N", Note: "see below"},
		{Wire: "DnsConfig.Search.N", Note: "see below"},
		{Wire: "DnsConfig.Option.N.Name", Note: "see below"},
		{Wire: "DnsConfig.Option.N.Value", Note: "see below"},
		{Wire: "HostAliase.N.Ip", Alt: []string{"HostAlias.N.Ip"}, Note: "see below"},
		{Wire: "HostAliase.N.Hostname.N", Alt: []string{"HostAlias.N.Hostname.N"}, Note: "see below"},
		{Wire: "ClusterDns", Refused: refuseCluster},
		{Wire: "ClusterDomain", Refused: refuseCluster},
		{Wire: "Label.N.Key", Note: "see below"},
		{Wire: "Label.N.Value", Note: "see below"},
		{Wire: "KubeProxy.Enabled", Refused: refuseCluster, ZeroOK: true},
		{Wire: "KlogEnabled", Refused: refuseCluster, ZeroOK: true},
		{Wire: "DataDisk.N.VolumeName", Note: "see below"},
		{Wire: "DataDisk.N.Type", Note: "see below"},
		{Wire: "DataDisk.N.Size", Note: "see below"},
		{Wire: "DataDisk.N.DeleteWithInstance", Note: "see below"},
		{Wire: "DataDisk.N.SnapshotId", Refused: refuseSnapshot, ZeroOK: true},
		{Wire: "ContainerSpec.N.RequestCpu", Note: "sizes Container.N of the same index (see below)"},
		{Wire: "ContainerSpec.N.RequestMem", Note: "sizes Container.N of the same index (see below)"},
		{Wire: "ContainerSpec.N.LimitCpu", Note: "sizes Container.N of the same index (see below)"},
		{Wire: "ContainerSpec.N.LimitMem", Note: "sizes Container.N of the same index (see below)"},
		{Wire: "HostPID", Note: "true only for accounts the config's policy.hostPIDAccounts allows, else refused (see below)"},
		// The 2020 spec's, absent from the current SDKs; kcid keeps them.
		{Wire: "IngressBandwidth", Note: "see below (2020 spec only)"},
		{Wire: "EgressBandwidth", Note: "see below (2020 spec only)"},
	},
	containerFields("InitContainer.N.", true),
)

// containerFields are the fields of Container.N, or of InitContainer.N
// (init: no Port or probes; they run before the containers, see below).
func containerFields(prefix string, init bool) []sdkField {
	field := func(name, note string) sdkField {
		return sdkField{Wire: prefix + name, Note: note}
	}
	out := []sdkField{
		field("Name", "see below"),
		field("Command.N", "see below"),
		field("Arg.N", "see below"),
		field("Cpu", "see below"),
		field("Memory", "see below"),
		field("Gpu", noteGPU),
		field("WorkingDir", "see below"),
		field("Image", "see below"),
		field("ImagePullPolicy", "see below"),
		field("EnvironmentVar.N.Key", "see below"),
		field("EnvironmentVar.N.Value", "see below"),
		field("EnvironmentVar.N.ValueFrom.FieldRef.FieldPath", "the paths metadata.name, metadata.uid, status.podIP, status.podIPs, spec.nodeName and metadata.labels['KEY']; any other path is refused (see below)"),
		field("VolumeMount.N.Name", "see below"),
		field("VolumeMount.N.MountPath", "see below"),
		field("VolumeMount.N.ReadOnly", "see below"),
		{Wire: prefix + "SecurityContext.Privileged", Note: "true only for accounts the config's policy.privilegedAccounts allows, else refused (see below)"},
	}
	if init {
		out[5] = sdkField{Wire: prefix + "Gpu", Refused: "init containers get no GPUs here; give them to Container.N (Container.N.Gpu) or the group (Gpu)", ZeroOK: true}
		out[0].Note = "init containers run one after another, each to completion, before Container.N start (see below)"
		return out
	}
	out = append(out, field("Port.N.Port", "see below"), field("Port.N.Protocol", "see below"))
	out = append(out, probeFields(prefix+"LivenessProbe.")...)
	return append(out, probeFields(prefix+"ReadinessProbe.")...)
}

func concat(lists ...[]sdkField) []sdkField {
	var out []sdkField
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// createFieldIndex maps every spelling of createFields to its entry.
var createFieldIndex = func() map[string]*sdkField {
	m := map[string]*sdkField{}
	for i := range createFields {
		f := &createFields[i]
		for _, w := range append([]string{f.Wire}, f.Alt...) {
			if m[w] != nil {
				panic("api: SDK field " + w + " is listed twice")
			}
			m[w] = f
		}
	}
	return m
}()

// checkSDKFields refuses the first (in key order) parameter of params
// that names a field of table kcid does not implement.
func checkSDKFields(params url.Values, index map[string]*sdkField) error {
	var buf []byte
	bad := ""
	var why *sdkField
	for key, vals := range params {
		if bad != "" && key >= bad {
			continue
		}
		buf = appendPattern(buf[:0], key)
		f := index[string(buf)]
		if f == nil || f.Refused == "" || f.ZeroOK && asksNothing(vals) || allowed(f.Allow, vals) {
			continue
		}
		bad, why = key, f
	}
	if bad == "" {
		return nil
	}
	return invalid(bad, "%s", why.Refused)
}

// appendPattern appends key with every all-digit segment written N.
func appendPattern(buf []byte, key string) []byte {
	for i := 0; ; {
		j := strings.IndexByte(key[i:], '.')
		seg := key[i:]
		if j >= 0 {
			seg = key[i : i+j]
		}
		if seg != "" && strings.Trim(seg, "0123456789") == "" {
			buf = append(buf, 'N')
		} else {
			buf = append(buf, seg...)
		}
		if j < 0 {
			return buf
		}
		buf = append(buf, '.')
		i += j + 1
	}
}

// asksNothing reports whether every value is empty, false or zero.
func asksNothing(vals []string) bool {
	for _, v := range vals {
		if v == "" || strings.EqualFold(v, "false") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
			continue
		}
		return false
	}
	return true
}

// allowed reports whether every value is one of allow.
func allowed(allow, vals []string) bool {
	if len(allow) == 0 {
		return false
	}
	for _, v := range vals {
		if !slices.Contains(allow, v) {
			return false
		}
	}
	return true
}
