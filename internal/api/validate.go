package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"

	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// The spec's name rules.
var (
	// Group names: lower-case letters, digits, '-' and '.', not starting or
	// ending with a separator, at most 128 characters (the current SDK's
	// limit; the 2020 spec said 63).
	groupNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,126}[a-z0-9])?$`)
	// Container and volume names: DNS labels of at most 63 characters.
	dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// Environment keys: letters, digits, '-', '_', '.', starting with a
	// letter or separator, at most 63 characters.
	envKeyRe = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]{0,62}$`)
	// Label names (a key's name part, and values): Kubernetes' qualified
	// name, at most 63 characters.
	labelNameRe = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	// Label key prefixes: DNS subdomains (lower case), at most 253.
	labelPrefixRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// Host names for host aliases and DNS search domains.
	hostnameRe = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$`)
)

// Limits of the spec and of the later documentation.
const (
	maxSecurityGroups  = 3
	maxGroupCPU        = 256
	maxGroupMemory     = 512 // GiB
	maxConfigFileBytes = 24 * 1024
	maxBandwidth       = 1024
	maxNameServers     = 3
	maxSearches        = 32
	maxImageLen        = 512
	maxPathLen         = 4096
	// The smallest Cpu the runtime can enforce: the CFS quota of
	// Cpu x 100 ms must be at least the kernel's 1 ms.
	minCPU = 0.01
	// The smallest Memory (GiB, 10.24 MiB): runc refuses a memory limit
	// below what its init already uses (~2.3 MB), and 10 MiB runs busybox.
	minMemory = 0.01
	// maxMultiSubnets bounds MultiSubnetId.N (the SDK's limit).
	maxMultiSubnets = 5
	// maxLabels bounds Label.N of one group (choice).
	maxLabels = 64
	// maxContainers bounds Container.N of one group.
	maxContainers = 100
	// maxConfigPathLen bounds a config file's relative path, so that the
	// volume directory plus the path stays far below PATH_MAX.
	maxConfigPathLen = 1024
	// maxConfigNameLen bounds each component of a config file's path: the
	// runtime writes ".<name>.tmp<10 digits>" next to the file before
	// renaming it, and that name must fit NAME_MAX (255 bytes).
	maxConfigNameLen = 255 - len(".") - len(".tmp") - 10
)

func missing(param string) error {
	return &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: param}
}

func invalid(param, format string, args ...any) error {
	return errdefs.Param(errdefs.CodeInvalidParameterValue, param, format, args...)
}

// checkDecimal enforces "positive, at most 3 decimals, between min and max".
func checkDecimal(param string, v, min, max float64) error {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid(param, "must be a positive number")
	}
	if v > max {
		return invalid(param, "must not exceed %s", strconv.FormatFloat(max, 'f', -1, 64))
	}
	if scaled := v * 1000; math.Abs(scaled-math.Round(scaled)) > 1e-6 {
		return invalid(param, "must have at most 3 decimal places")
	}
	if v < min-1e-9 {
		return invalid(param, "must be at least %s, the smallest amount the runtime can enforce", strconv.FormatFloat(min, 'f', -1, 64))
	}
	return nil
}

// checkIP accepts an IP address as it may be written into /etc/hosts or
// resolv.conf: no IPv6 zone (a zone is free text, newlines included).
func checkIP(param, s string) error {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return invalid(param, "%q is not an IP address", clip(s))
	case a.Zone() != "":
		return invalid(param, "%q has an IPv6 zone; give the address without %%zone", clip(s))
	}
	return nil
}

// checkImage parses an image reference as containerd and Docker do
// (distribution/reference): no scheme, a lower-case repository, a valid tag
// and digest.
func checkImage(param, s string) error {
	if len(s) > maxImageLen {
		return invalid(param, "is longer than %d characters", maxImageLen)
	}
	if _, err := reference.ParseNormalizedNamed(s); err != nil {
		return invalid(param, "%q is not a valid image reference (%v)", clip(s), err)
	}
	return nil
}

// checkNoNUL refuses NUL bytes, which the kernel's exec and environment
// cannot carry.
func checkNoNUL(param string, values ...string) error {
	for _, v := range values {
		if strings.IndexByte(v, 0) >= 0 {
			return invalid(param, "must not contain NUL bytes")
		}
	}
	return nil
}

// maxClientTokenLen bounds ClientToken, as AWS does.
const maxClientTokenLen = 64

// checkClientToken accepts an idempotency token of 1 to 64 printable ASCII
// characters (or none).
func checkClientToken(t string) error {
	if len(t) > maxClientTokenLen || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return invalid("ClientToken", "must be at most %d printable ASCII characters without blanks", maxClientTokenLen)
	}
	return nil
}

// requestHash is the digest of what a create asks for, as validated: two
// creates with one ClientToken must ask for the same group in the same
// region, subnet and security groups.
func requestHash(g core.Group, region string, r *createContainerGroupRequest) (string, error) {
	g.ClientToken, g.RequestHash = "", ""
	b, err := json.Marshal(struct {
		Group            core.Group
		Region, SubnetID string
		MultiSubnetIDs   []string `json:",omitempty"`
		SecurityGroupIDs []string
		ImageCacheID     string `json:",omitempty"`
		AutoMatch        bool   `json:",omitempty"`
	}{g, region, r.SubnetID, r.MultiSubnetID, r.SecurityGroupID, r.ImageCacheID, r.AutoMatchImageCache})
	if err != nil {
		return "", fmt.Errorf("hash the create request: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// buildCredentials checks ImageRegistryCredential.N: every field given,
// one credential per registry.
func buildCredentials(creds []wireRegistryCredential) ([]core.RegistryCredential, error) {
	var out []core.RegistryCredential
	servers := map[string]bool{}
	for _, c := range creds {
		p := string(c.Prefix)
		switch {
		case c.Server == "":
			return nil, missing(p + "Server")
		case c.Username == "":
			return nil, missing(p + "Username")
		case c.Password == "":
			return nil, missing(p + "Password")
		case servers[c.Server]:
			return nil, invalid(p+"Server", "registry %q has a credential already", c.Server)
		}
		servers[c.Server] = true
		out = append(out, core.RegistryCredential{Server: c.Server, Username: c.Username, Password: c.Password})
	}
	return out, nil
}

// hasControl reports whether s holds an ASCII control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// parseMode reads a permission. Clients differ: the docs write it octal
// ("0644"), typed SDKs send the integer value of an octal literal (420), and
// people type "644". So: a leading 0 means octal; a value above 0777 that is
// made of octal digits is octal ("644"); anything else is decimal (420).
func parseMode(param, s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	bad := invalid(param, "must be a file permission between 0001 and 0777, such as 0644 (or its decimal value 420)")
	var v uint64
	var err error
	if len(s) > 1 && s[0] == '0' {
		v, err = strconv.ParseUint(s, 8, 32)
	} else if v, err = strconv.ParseUint(s, 10, 32); err == nil && v > 0o777 {
		v, err = strconv.ParseUint(s, 8, 32)
	}
	if err != nil || v == 0 || v > 0o777 {
		return 0, bad
	}
	return uint32(v), nil
}

// buildGroup checks every rule of CreateContainerGroup that needs no state
// and returns the group's spec. Rules that need state (subnet, security
// groups, disks, capacity) are the service's.
func buildGroup(r *createContainerGroupRequest, disks config.OnDemandDisks) (core.Group, error) {
	var g core.Group
	switch {
	case r.ContainerGroupName == "":
		return g, missing("ContainerGroupName")
	case !groupNameRe.MatchString(r.ContainerGroupName):
		return g, invalid("ContainerGroupName", "must be at most 128 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit")
	case r.SubnetID == "" && len(r.MultiSubnetID) == 0:
		return g, missing("SubnetId")
	case len(r.MultiSubnetID) > maxMultiSubnets:
		return g, invalid("MultiSubnetId.N", "at most %d subnets may be given; %d were", maxMultiSubnets, len(r.MultiSubnetID))
	case slices.Contains(r.MultiSubnetID, ""):
		return g, invalid("MultiSubnetId.N", "must not be empty")
	case len(r.SecurityGroupID) == 0:
		return g, missing("SecurityGroupId.N")
	case len(r.SecurityGroupID) > maxSecurityGroups:
		return g, invalid("SecurityGroupId.N", "at most %d security groups may be given", maxSecurityGroups)
	case r.ChargeType == "":
		return g, missing("ChargeType")
	case r.ChargeType != "HourlyInstantSettlement":
		return g, invalid("ChargeType", "the only valid value is HourlyInstantSettlement")
	case r.CPU == nil:
		return g, missing("Cpu")
	case r.Memory == nil:
		return g, missing("Memory")
	}
	seenSG := map[string]bool{}
	for _, id := range r.SecurityGroupID {
		if id == "" {
			return g, invalid("SecurityGroupId.N", "must not be empty")
		}
		if seenSG[id] {
			return g, invalid("SecurityGroupId.N", "security group %q is given twice", id)
		}
		seenSG[id] = true
	}
	if err := checkDecimal("Cpu", *r.CPU, minCPU, maxGroupCPU); err != nil {
		return g, err
	}
	if err := checkDecimal("Memory", *r.Memory, minMemory, maxGroupMemory); err != nil {
		return g, err
	}
	if err := checkClientToken(r.ClientToken); err != nil {
		return g, err
	}
	g.Name = r.ContainerGroupName
	g.ChargeType = r.ChargeType
	g.CPU, g.Memory = *r.CPU, *r.Memory
	g.HostPID = r.HostPID // allowed or not per account: the service's policy
	switch p := core.RestartPolicy(r.RestartPolicy); p {
	case "":
		g.RestartPolicy = core.RestartAlways
	case core.RestartAlways, core.RestartOnFailure, core.RestartNever:
		g.RestartPolicy = p
	default:
		return g, invalid("RestartPolicy", "valid values are Always, OnFailure and Never")
	}
	for _, b := range []struct {
		name string
		v    *int64
		dst  *int64
	}{{"IngressBandwidth", r.IngressBandwidth, &g.IngressBandwidth}, {"EgressBandwidth", r.EgressBandwidth, &g.EgressBandwidth}} {
		if b.v == nil {
			continue
		}
		if *b.v < 0 || *b.v > maxBandwidth {
			return g, invalid(b.name, "must be between 0 and %d (Mbit/s; 0 means no limit)", maxBandwidth)
		}
		*b.dst = *b.v
	}

	creds, err := buildCredentials(r.ImageRegistryCredential)
	if err != nil {
		return g, err
	}
	g.Credentials = creds

	volumes, err := buildVolumes(r.Volume, disks)
	if err != nil {
		return g, err
	}
	if volumes, err = addDataDisks(volumes, r.DataDisk, disks); err != nil {
		return g, err
	}
	g.Volumes = volumes
	names := map[string]bool{}
	if g.Containers, err = buildContainers(r.Container, volumes, g.CPU, g.Memory, names, false); err != nil {
		return g, err
	}
	inits := make([]wireContainer, 0, len(r.InitContainer))
	for _, c := range r.InitContainer {
		inits = append(inits, wireContainer{wireInitContainer: c})
	}
	if g.InitContainers, err = buildContainers(inits, volumes, g.CPU, g.Memory, names, true); err != nil {
		return g, err
	}
	if err := applyContainerSpecs(r.ContainerSpec, g.Containers, g.CPU, g.Memory); err != nil {
		return g, err
	}
	if r.DNSConfig != nil {
		if g.DNS, err = buildDNS(r.DNSConfig); err != nil {
			return g, err
		}
	}
	if g.Labels, err = buildLabels(r.Label); err != nil {
		return g, err
	}
	for _, h := range r.HostAlias {
		p := string(h.Prefix)
		if h.IP == "" {
			return g, missing(p + "Ip")
		}
		if err := checkIP(p+"Ip", h.IP); err != nil {
			return g, err
		}
		if len(h.Hostname) == 0 {
			return g, missing(p + "Hostname.N")
		}
		for _, n := range h.Hostname {
			if len(n) > 253 || !hostnameRe.MatchString(n) {
				return g, invalid(p+"Hostname.N", "%q is not a valid host name", n)
			}
		}
		g.HostAliases = append(g.HostAliases, core.HostAlias{IP: h.IP, Hostnames: h.Hostname})
	}
	return g, nil
}

// buildLabels checks labels as Kubernetes does: a key is an optional DNS
// subdomain prefix and '/' and a name of at most 63 letters, digits, '-',
// '_' or '.', starting and ending with a letter or digit; a value is empty
// or such a name. Keys are unique.
func buildLabels(in []wireLabel) ([]core.Label, error) {
	if len(in) > maxLabels {
		return nil, invalid("Label.N", "a group has at most %d labels; %d were given", maxLabels, len(in))
	}
	var out []core.Label
	seen := map[string]bool{}
	for _, l := range in {
		p := string(l.Prefix)
		if l.Key == "" {
			return nil, missing(p + "Key")
		}
		if err := checkLabelKey(p+"Key", l.Key); err != nil {
			return nil, err
		}
		if seen[l.Key] {
			return nil, invalid(p+"Key", "label %q is given twice", l.Key)
		}
		seen[l.Key] = true
		if err := checkLabelValue(p+"Value", l.Value); err != nil {
			return nil, err
		}
		out = append(out, core.Label{Key: l.Key, Value: l.Value})
	}
	return out, nil
}

func checkLabelKey(param, k string) error {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		prefix, name = "", k
	}
	switch {
	case hasPrefix && (prefix == "" || len(prefix) > 253 || !labelPrefixRe.MatchString(prefix)):
		return invalid(param, "the prefix of %q must be a DNS subdomain of at most 253 lower-case letters, digits, '-' and '.'", clip(k))
	case len(name) > 63 || !labelNameRe.MatchString(name):
		return invalid(param, "%q: a label key is an optional DNS subdomain prefix and '/', and a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", clip(k))
	}
	return nil
}

func checkLabelValue(param, v string) error {
	if v != "" && (len(v) > 63 || !labelNameRe.MatchString(v)) {
		return invalid(param, "%q: a label value is empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", clip(v))
	}
	return nil
}

func buildVolumes(in []wireVolume, limits config.OnDemandDisks) ([]core.Volume, error) {
	var out []core.Volume
	names := map[string]bool{}
	disks := map[string]bool{}
	ebsCount := 0
	for _, v := range in {
		p := string(v.Prefix)
		switch {
		case v.Name == "":
			return nil, missing(p + "Name")
		case !dnsLabelRe.MatchString(v.Name):
			return nil, invalid(p+"Name", "must be at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit")
		case names[v.Name]:
			return nil, invalid(p+"Name", "volume name %q is used twice", v.Name)
		case v.Type == "":
			return nil, missing(p + "Type")
		}
		names[v.Name] = true
		vol := core.Volume{Name: v.Name, Type: v.Type}
		switch v.Type {
		case core.VolumeEmptyDir:
		case core.VolumeConfigFile:
			cf := v.ConfigFileVolume
			if cf == nil || len(cf.Files) == 0 {
				return nil, missing(p + "ConfigFileVolume.ConfigFileToPath.N.Path")
			}
			mode, err := parseMode(string(cf.Prefix)+"DefaultMode", cf.DefaultMode)
			if err != nil {
				return nil, err
			}
			vol.DefaultMode = mode
			paths := map[string]bool{} // files
			dirs := map[string]bool{}  // their parent directories
			for _, f := range cf.Files {
				fp := string(f.Prefix)
				file, err := buildConfigFile(fp, f)
				if err != nil {
					return nil, err
				}
				if paths[file.Path] {
					return nil, invalid(fp+"Path", "path %q is given twice", file.Path)
				}
				// A path is a file or a directory, not both: "a" and "a/b"
				// cannot both be written.
				if dirs[file.Path] {
					return nil, invalid(fp+"Path", "%q is a file here but a directory of another path of this volume", file.Path)
				}
				for d := path.Dir(file.Path); d != "."; d = path.Dir(d) {
					if paths[d] {
						return nil, invalid(fp+"Path", "%q lies under %q, which is a file of this volume", file.Path, d)
					}
					dirs[d] = true
				}
				paths[file.Path] = true
				vol.ConfigFiles = append(vol.ConfigFiles, file)
			}
		case core.VolumeEBS:
			e, err := buildEBS(p, v.EBSVolume, limits)
			if err != nil {
				return nil, err
			}
			if e.VolumeID != "" && disks[e.VolumeID] {
				return nil, invalid(p+"EBSVolume.VolumeId", "disk %q is already a volume of this group", e.VolumeID)
			}
			disks[e.VolumeID] = true
			if ebsCount++; ebsCount > limits.MaxPerGroup {
				return nil, tooManyDisks(p+"EBSVolume", limits.MaxPerGroup)
			}
			vol.EBS = e
		case core.VolumeHostPath:
			h := v.HostPathVolume
			if h == nil || h.Path == "" {
				return nil, missing(p + "HostPathVolume.Path")
			}
			if err := checkHostPath(p+"HostPathVolume.Path", h.Path); err != nil {
				return nil, err
			}
			vol.HostPath = h.Path
		case core.VolumeNFS:
			nfs, err := buildNFS(p, v.NFSVolume)
			if err != nil {
				return nil, err
			}
			vol.NFS = nfs
		default:
			return nil, invalid(p+"Type", "valid values are EmptyDirVolume, ConfigFileVolume, EBSVolume, HostPathVolume and NFSVolume")
		}
		out = append(out, vol)
	}
	return out, nil
}

// buildNFS checks an NFSVolume: Server a host name or an IP address
// (without an IPv6 zone), Path an absolute, clean path; nothing that
// could reach mount(8) as an option or a second source.
func buildNFS(p string, n *wireNFSVolume) (*core.NFSVolume, error) {
	switch {
	case n == nil || n.Server == "":
		return nil, missing(p + "NFSVolume.Server")
	case n.Path == "":
		return nil, missing(p + "NFSVolume.Path")
	}
	if a, err := netip.ParseAddr(n.Server); err == nil {
		if a.Zone() != "" {
			return nil, invalid(p+"NFSVolume.Server", "an IPv6 address with a zone is not accepted")
		}
	} else if len(n.Server) > 253 || !hostnameRe.MatchString(n.Server) {
		return nil, invalid(p+"NFSVolume.Server", "must be a host name or an IP address")
	}
	if !strings.HasPrefix(n.Path, "/") || path.Clean(n.Path) != n.Path || len(n.Path) > 1024 ||
		strings.ContainsFunc(n.Path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ',' }) {
		return nil, invalid(p+"NFSVolume.Path", "must be an absolute, clean path (no '..', '//' or trailing '/'), without commas or control characters")
	}
	return &core.NFSVolume{Server: n.Server, Path: n.Path, ReadOnly: n.ReadOnly}, nil
}

// buildEBS checks an EBSVolume: an existing disk (VolumeId and FsType),
// or a new one made for the group (Size and Type; FsType ext4 unless
// given). p is the volume's prefix ("Volume.1.").
func buildEBS(p string, e *wireEBSVolume, limits config.OnDemandDisks) (*core.EBSVolume, error) {
	if e == nil || e.VolumeID == "" && e.Size == nil && e.Type == "" {
		return nil, missing(p + "EBSVolume.VolumeId")
	}
	ep := string(e.Prefix)
	switch {
	case e.FsType != "" && e.FsType != "ext3" && e.FsType != "ext4" && e.FsType != "xfs":
		return nil, invalid(ep+"FsType", "valid values are ext3, ext4 and xfs")
	case e.VolumeID != "" && e.Size != nil:
		return nil, invalid(ep+"Size", "Size and Type make a new disk and VolumeId mounts an existing one: give one or the other")
	case e.VolumeID != "" && e.Type != "":
		return nil, invalid(ep+"Type", "Size and Type make a new disk and VolumeId mounts an existing one: give one or the other")
	case e.VolumeID != "" && e.FsType == "":
		return nil, missing(ep + "FsType")
	case e.VolumeID != "":
		return &core.EBSVolume{VolumeID: e.VolumeID, FsType: e.FsType, DeleteWithInstance: e.DeleteWithInstance}, nil
	}
	size, err := checkNewDisk(ep, e.Type, e.Size, limits)
	if err != nil {
		return nil, err
	}
	fs := e.FsType
	if fs == "" {
		fs = "ext4"
	}
	return &core.EBSVolume{FsType: fs, SizeGB: size, Type: e.Type, DeleteWithInstance: e.DeleteWithInstance}, nil
}

// checkNewDisk checks the Type and Size (GB) of a disk made on demand;
// p ends with '.' ("DataDisk.1.", "Volume.1.EBSVolume.").
func checkNewDisk(p, typ string, size *int, limits config.OnDemandDisks) (int, error) {
	if typ == "" {
		return 0, missing(p + "Type")
	}
	least, ok := core.DiskTypes[typ]
	if !ok {
		return 0, invalid(p+"Type", "valid values are SSD3.0, EHDD, ESSD_PL0, ESSD_PL1 and ESSD_PL2")
	}
	if size == nil {
		return 0, missing(p + "Size")
	}
	most := min(limits.MaxSizeGB, core.MaxDiskSizeGB)
	if least > most {
		return 0, invalid(p+"Size", "a %s disk is at least %d GB, more than the largest disk this kcid makes (%d GB, its config's onDemandDisks.maxSizeGb); choose another Type", typ, least, most)
	}
	if *size < least || *size > most {
		return 0, invalid(p+"Size", "a %s disk is %d to %d GB here; %d was given", typ, least, most, *size)
	}
	return *size, nil
}

// addDataDisks adds a volume for each DataDisk.N, a disk made for the
// group, named VolumeName so that VolumeMount.N.Name can mount it, and
// bounds the group's disks by limits.MaxPerGroup.
func addDataDisks(volumes []core.Volume, in []wireDataDisk, limits config.OnDemandDisks) ([]core.Volume, error) {
	names := map[string]string{}
	count := 0
	for i, v := range volumes {
		names[v.Name] = fmt.Sprintf("Volume.%d.Name", i+1)
		if v.EBS != nil {
			count++
		}
	}
	for _, d := range in {
		p := string(d.Prefix)
		switch {
		case d.VolumeName == "":
			return nil, missing(p + "VolumeName")
		case !dnsLabelRe.MatchString(d.VolumeName):
			return nil, invalid(p+"VolumeName", "must be at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit: it is the name VolumeMount.N.Name mounts the disk by, a volume name")
		case names[d.VolumeName] != "":
			return nil, invalid(p+"VolumeName", "volume name %q is taken by %s", d.VolumeName, names[d.VolumeName])
		}
		names[d.VolumeName] = p + "VolumeName"
		size, err := checkNewDisk(p, d.Type, d.Size, limits)
		if err != nil {
			return nil, err
		}
		if count++; count > limits.MaxPerGroup {
			return nil, tooManyDisks(strings.TrimSuffix(p, "."), limits.MaxPerGroup)
		}
		volumes = append(volumes, core.Volume{Name: d.VolumeName, Type: core.VolumeEBS,
			EBS: &core.EBSVolume{FsType: "ext4", SizeGB: size, Type: d.Type, DeleteWithInstance: d.DeleteWithInstance}})
	}
	return volumes, nil
}

func tooManyDisks(param string, most int) error {
	return invalid(param, "a group has at most %d disks (EBSVolume volumes and DataDisk.N together; the config's onDemandDisks.maxPerGroup)", most)
}

// checkHostPath refuses a host path that is not absolute and clean: no
// "..", ".", empty or repeated elements, no trailing slash, no NUL. Whether
// it lies under a prefix the account may use (symlinks resolved) is the
// service's check.
func checkHostPath(key, p string) error {
	switch {
	case !path.IsAbs(p):
		return invalid(key, "%q is not an absolute path", p)
	case strings.ContainsRune(p, 0):
		return invalid(key, "the path contains a NUL byte")
	case path.Clean(p) != p:
		return invalid(key, "%q is not a clean path (no '..', '.', '//' or trailing '/'); give %q if that is what you mean", p, path.Clean(p))
	case p == "/":
		return invalid(key, "the host's root directory cannot be mounted")
	}
	return nil
}

// buildConfigFile checks that a config file's path stays inside its volume
// and decodes its Base64 content.
func buildConfigFile(p string, f wireConfigFile) (core.ConfigFile, error) {
	var file core.ConfigFile
	if f.Path == "" {
		return file, missing(p + "Path")
	}
	clean := path.Clean(f.Path)
	if path.IsAbs(f.Path) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") ||
		strings.Contains(f.Path, "\\") {
		return file, invalid(p+"Path", "must be a relative path inside the volume, without '..'")
	}
	if len(f.Path) > maxConfigPathLen {
		return file, invalid(p+"Path", "is longer than %d bytes", maxConfigPathLen)
	}
	if hasControl(f.Path) {
		return file, invalid(p+"Path", "must not contain control characters")
	}
	for name := range strings.SplitSeq(clean, "/") {
		if len(name) > maxConfigNameLen {
			return file, invalid(p+"Path", "a file or directory name is %d bytes; at most %d are allowed", len(name), maxConfigNameLen)
		}
	}
	if f.Content == "" {
		return file, missing(p + "Content")
	}
	content, err := base64.StdEncoding.DecodeString(f.Content)
	if err != nil {
		return file, invalid(p+"Content", "must be Base64-encoded")
	}
	if len(content) > maxConfigFileBytes {
		return file, invalid(p+"Content", "is %d bytes; at most %d bytes (24 KB) are allowed per file", len(content), maxConfigFileBytes)
	}
	mode, err := parseMode(p+"mode", f.Mode)
	if err != nil {
		return file, err
	}
	return core.ConfigFile{Path: clean, Content: content, Mode: mode}, nil
}

// buildContainers builds Container.N and, with init, InitContainer.N.
// names holds the names taken so far (both lists share one name space).
// Containers run together, so their Cpu and Memory add up within the
// group's; init containers run one at a time, so each alone must fit.
func buildContainers(in []wireContainer, volumes []core.Volume, groupCPU, groupMem float64, names map[string]bool, init bool) ([]core.Container, error) {
	list := "Container.N"
	if init {
		list = "InitContainer.N"
	}
	if len(in) == 0 && !init {
		return nil, missing(list)
	}
	if len(in) > maxContainers {
		return nil, invalid(list, "a group has at most %d %s; %d were given", maxContainers, map[bool]string{false: "containers", true: "init containers"}[init], len(in))
	}
	volNames := map[string]bool{}
	for _, v := range volumes {
		volNames[v.Name] = true
	}
	var out []core.Container
	ports := map[string]string{}
	var sumCPU, sumMem float64
	for _, c := range in {
		p := string(c.Prefix)
		switch {
		case c.Name == "":
			return nil, missing(p + "Name")
		case !dnsLabelRe.MatchString(c.Name):
			return nil, invalid(p+"Name", "must be at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit")
		case names[c.Name]:
			return nil, invalid(p+"Name", "container name %q is used twice (containers and init containers share one name space)", c.Name)
		case c.Image == "":
			return nil, missing(p + "Image")
		}
		if err := checkImage(p+"Image", c.Image); err != nil {
			return nil, err
		}
		if err := checkNoNUL(p+"Command.N", c.Command...); err != nil {
			return nil, err
		}
		if err := checkNoNUL(p+"Arg.N", c.Arg...); err != nil {
			return nil, err
		}
		names[c.Name] = true
		ctr := core.Container{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Arg}
		switch c.ImagePullPolicy {
		case "", "Always", "IfNotPresent", "Never":
			ctr.ImagePullPolicy = c.ImagePullPolicy
		default:
			return nil, invalid(p+"ImagePullPolicy", "valid values are Always, IfNotPresent and Never")
		}
		if c.CPU != nil {
			if err := checkDecimal(p+"Cpu", *c.CPU, minCPU, maxGroupCPU); err != nil {
				return nil, err
			}
			ctr.CPU = *c.CPU
			if init && ctr.CPU > groupCPU+1e-9 {
				return nil, invalid(p+"Cpu", "an init container's CPU (%s) exceeds the group's Cpu (%s)", core.FormatAmount(ctr.CPU), core.FormatAmount(groupCPU))
			}
			sumCPU += ctr.CPU
		}
		if c.Memory != nil {
			if err := checkDecimal(p+"Memory", *c.Memory, minMemory, maxGroupMemory); err != nil {
				return nil, err
			}
			ctr.Memory = *c.Memory
			if init && ctr.Memory > groupMem+1e-9 {
				return nil, invalid(p+"Memory", "an init container's memory (%s GiB) exceeds the group's Memory (%s GiB)", core.FormatAmount(ctr.Memory), core.FormatAmount(groupMem))
			}
			sumMem += ctr.Memory
		}
		ctr.Privileged = c.SecurityContext != nil && c.SecurityContext.Privileged
		if c.WorkingDir != "" {
			if !path.IsAbs(c.WorkingDir) || len(c.WorkingDir) > maxPathLen || strings.ContainsRune(c.WorkingDir, 0) {
				return nil, invalid(p+"WorkingDir", "must be an absolute path")
			}
			ctr.WorkingDir = path.Clean(c.WorkingDir)
		}
		for _, e := range c.EnvironmentVar {
			ep := string(e.Prefix)
			if e.Key == "" {
				return nil, missing(ep + "Key")
			}
			if !envKeyRe.MatchString(e.Key) {
				return nil, invalid(ep+"Key", "must be at most 63 letters, digits, '-', '_' or '.', starting with a letter or separator")
			}
			val := ""
			if e.Value != nil {
				val = *e.Value
			}
			if err := checkNoNUL(ep+"Value", val); err != nil {
				return nil, err
			}
			field, err := buildFieldRef(ep, val, e.ValueFrom)
			if err != nil {
				return nil, err
			}
			ctr.Env = append(ctr.Env, core.EnvVar{Key: e.Key, Value: val, FieldPath: field})
		}
		for _, pt := range c.Port {
			pp := string(pt.Prefix)
			if pt.Port == nil {
				return nil, missing(pp + "Port")
			}
			if *pt.Port < 1 || *pt.Port > 65535 {
				return nil, invalid(pp+"Port", "must be between 1 and 65535")
			}
			proto := strings.ToUpper(pt.Protocol)
			switch proto {
			case "":
				proto = "TCP"
			case "TCP", "UDP":
			default:
				return nil, invalid(pp+"Protocol", "valid values are TCP and UDP")
			}
			key := fmt.Sprintf("%d/%s", *pt.Port, proto)
			if other, dup := ports[key]; dup {
				return nil, invalid(pp+"Port", "port %s is already used by container %q of this group", key, other)
			}
			ports[key] = c.Name
			ctr.Ports = append(ctr.Ports, core.Port{Port: *pt.Port, Protocol: proto})
		}
		mounts := map[string]bool{}
		for _, m := range c.VolumeMount {
			mp := string(m.Prefix)
			switch {
			case m.Name == "":
				return nil, missing(mp + "Name")
			case !volNames[m.Name]:
				return nil, invalid(mp+"Name", "no volume named %q is declared in Volume.N", m.Name)
			case m.MountPath == "":
				return nil, missing(mp + "MountPath")
			case !path.IsAbs(m.MountPath) || path.Clean(m.MountPath) == "/" || len(m.MountPath) > maxPathLen || strings.ContainsRune(m.MountPath, 0):
				return nil, invalid(mp+"MountPath", "must be an absolute path other than /")
			case mounts[path.Clean(m.MountPath)]:
				return nil, invalid(mp+"MountPath", "%q is mounted twice in this container", m.MountPath)
			}
			mounts[path.Clean(m.MountPath)] = true
			ctr.VolumeMounts = append(ctr.VolumeMounts, core.VolumeMount{Name: m.Name, MountPath: path.Clean(m.MountPath), ReadOnly: m.ReadOnly})
		}
		for _, pr := range []struct {
			in   *wireProbe
			out  **core.Probe
			kind string
		}{{c.LivenessProbe, &ctr.LivenessProbe, core.ProbeLiveness}, {c.ReadinessProbe, &ctr.ReadinessProbe, core.ProbeReadiness}, {c.StartupProbe, &ctr.StartupProbe, core.ProbeStartup}} {
			if pr.in == nil {
				continue
			}
			probe, err := buildProbe(pr.in, pr.kind)
			if err != nil {
				return nil, err
			}
			*pr.out = probe
		}
		out = append(out, ctr)
	}
	if init {
		return out, nil // each was checked alone against the group's
	}
	const eps = 1e-9
	if sumCPU > groupCPU+eps {
		return nil, invalid("Container.N.Cpu", "the containers' CPU (%s) exceeds the group's Cpu (%s)", core.FormatAmount(sumCPU), core.FormatAmount(groupCPU))
	}
	if sumMem > groupMem+eps {
		return nil, invalid("Container.N.Memory", "the containers' memory (%s GiB) exceeds the group's Memory (%s GiB)", core.FormatAmount(sumMem), core.FormatAmount(groupMem))
	}
	return out, nil
}

func buildDNS(d *wireDNSConfig) (*core.DNSConfig, error) {
	p := string(d.Prefix)
	out := &core.DNSConfig{}
	if len(d.NameServer) > maxNameServers {
		return nil, invalid(p+"NameServer.N", "at most %d name servers may be given", maxNameServers)
	}
	for _, ns := range d.NameServer {
		if err := checkIP(p+"NameServer.N", ns); err != nil {
			return nil, err
		}
		out.NameServers = append(out.NameServers, ns)
	}
	if len(d.Search) > maxSearches {
		return nil, invalid(p+"Search.N", "at most %d search domains may be given", maxSearches)
	}
	for _, s := range d.Search {
		if len(s) > 253 || !hostnameRe.MatchString(s) {
			return nil, invalid(p+"Search.N", "%q is not a valid domain", s)
		}
		out.Searches = append(out.Searches, s)
	}
	for _, o := range d.Option {
		op := string(o.Prefix)
		if o.Name == "" {
			return nil, missing(op + "Name")
		}
		if strings.ContainsAny(o.Name+o.Value, " :") || hasControl(o.Name+o.Value) {
			return nil, invalid(op+"Name", "option names and values must not contain blanks or ':'")
		}
		out.Options = append(out.Options, core.DNSOption{Name: o.Name, Value: o.Value})
	}
	return out, nil
}

// Filter names DescribeContainerGroup accepts, and the status values the
// spec allows for the status filter.
var (
	groupFilters  = map[string]bool{"subnet-id": true, "vpc-id": true, "availability-zone.name": true, "status": true}
	statusFilters = map[string]bool{"Running": true, "Succeeded": true, "Failed": true}
)

// buildFilters enforces the spec's Filter.N rules: every filter has a Name
// and at least one Value, no Name is used twice, and names are known
// (known, or accepted by check with an empty value).
// (Repeated keys and N out of 1..100 are caught by the decoder.)
func buildFilters(in []wireFilter, known map[string]bool, check func(name, param, value string) error) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range in {
		p := string(f.Prefix)
		if f.Name == nil || *f.Name == "" {
			return nil, missing(p + "Name")
		}
		name := *f.Name
		if !known[name] {
			if check == nil {
				return nil, invalid(p+"Name", "unknown filter %q", name)
			}
			if err := check(name, p+"Name", ""); err != nil {
				return nil, err
			}
		}
		if _, dup := out[name]; dup {
			return nil, invalid(p+"Name", "filter %q is given twice", name)
		}
		if len(f.Value) == 0 {
			return nil, missing(p + "Value.N")
		}
		for _, v := range f.Value {
			if check != nil {
				if err := check(name, p+"Value.N", v); err != nil {
					return nil, err
				}
			}
		}
		out[name] = f.Value
	}
	return out, nil
}

// checkGroupFilter checks a value of a DescribeContainerGroup filter, or,
// with value "", the name of one that is not in groupFilters: only
// label:KEY filters are.
func checkGroupFilter(name, param, value string) error {
	if key, ok := strings.CutPrefix(name, labelFilterPrefix); ok {
		if value == "" && strings.HasSuffix(param, "Name") {
			return checkLabelKey(param, key)
		}
		return checkLabelValue(param, value)
	}
	if !groupFilters[name] {
		return invalid(param, "unknown filter %q; known are subnet-id, vpc-id, availability-zone.name, status and label:KEY", clip(name))
	}
	if name == "status" && !statusFilters[value] {
		return invalid(param, "the status filter accepts Running, Succeeded and Failed, not %q", value)
	}
	return nil
}

// buildFieldRef checks an environment variable's ValueFrom and returns its
// field path ("" without ValueFrom). As in Kubernetes, a variable takes
// either a Value or a ValueFrom; the paths are core.FieldPaths.
// Probe limits: Kubernetes bounds none but the thresholds' minimum; these
// keep a probe's numbers sane (a day) and its command small.
const (
	maxProbeSeconds     = 86400
	maxProbeCommandArgs = 64
)

// buildProbe checks one probe as Kubernetes validates it and fills in its
// defaults: exactly one handler; InitialDelaySeconds ≥ 0; PeriodSeconds,
// TimeoutSeconds and the thresholds ≥ 1; SuccessThreshold 1 for liveness
// and startup probes; ports 1–65535; Scheme HTTP or HTTPS; Path absolute.
func buildProbe(w *wireProbe, kind string) (*core.Probe, error) {
	p := string(w.Prefix)
	out := &core.Probe{PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	for _, f := range []struct {
		name string
		in   *int
		min  int
		out  *int
	}{
		{"InitialDelaySeconds", w.InitialDelaySeconds, 0, &out.InitialDelaySeconds},
		{"PeriodSeconds", w.PeriodSeconds, 1, &out.PeriodSeconds},
		{"TimeoutSeconds", w.TimeoutSeconds, 1, &out.TimeoutSeconds},
		{"SuccessThreshold", w.SuccessThreshold, 1, &out.SuccessThreshold},
		{"FailureThreshold", w.FailureThreshold, 1, &out.FailureThreshold},
	} {
		if f.in == nil {
			continue
		}
		if *f.in < f.min || *f.in > maxProbeSeconds {
			return nil, invalid(p+f.name, "must be between %d and %d", f.min, maxProbeSeconds)
		}
		*f.out = *f.in
	}
	if kind != core.ProbeReadiness && out.SuccessThreshold != 1 {
		return nil, invalid(p+"SuccessThreshold", "must be 1 for a %s probe (as in Kubernetes)", strings.ToLower(kind))
	}
	handlers := 0
	if w.Exec != nil {
		handlers++
		ep := string(w.Exec.Prefix) + "Command.N"
		if len(w.Exec.Command) == 0 {
			return nil, missing(ep)
		}
		if len(w.Exec.Command) > maxProbeCommandArgs {
			return nil, invalid(ep, "at most %d arguments may be given", maxProbeCommandArgs)
		}
		if err := checkNoNUL(ep, w.Exec.Command...); err != nil {
			return nil, err
		}
		out.Exec = w.Exec.Command
	}
	port := func(prefix string, v *int) (int, error) {
		if v == nil {
			return 0, missing(prefix + "Port")
		}
		if *v < 1 || *v > 65535 {
			return 0, invalid(prefix+"Port", "must be between 1 and 65535")
		}
		return *v, nil
	}
	if h := w.HTTPGet; h != nil {
		handlers++
		hp := string(h.Prefix)
		n, err := port(hp, h.Port)
		if err != nil {
			return nil, err
		}
		get := &core.HTTPGetAction{Port: n, Path: "/", Scheme: "HTTP"}
		if h.Path != "" {
			if !strings.HasPrefix(h.Path, "/") || len(h.Path) > maxPathLen || strings.ContainsAny(h.Path, "\x00\r\n ") {
				return nil, invalid(hp+"Path", "must be an absolute URL path without spaces")
			}
			get.Path = h.Path
		}
		switch strings.ToUpper(h.Scheme) {
		case "", "HTTP":
		case "HTTPS":
			get.Scheme = "HTTPS"
		default:
			return nil, invalid(hp+"Scheme", "valid values are HTTP and HTTPS")
		}
		out.HTTPGet = get
	}
	if t := w.TCPSocket; t != nil {
		handlers++
		n, err := port(string(t.Prefix), t.Port)
		if err != nil {
			return nil, err
		}
		out.TCPSocket = &core.TCPSocketAction{Port: n}
	}
	switch {
	case handlers == 0:
		return nil, invalid(strings.TrimSuffix(p, "."), "a probe needs one of Exec.Command.N, HttpGet.Port and TcpSocket.Port")
	case handlers > 1:
		return nil, invalid(p+"Exec.Command.N", "a probe has exactly one of Exec, HttpGet and TcpSocket")
	}
	return out, nil
}

func buildFieldRef(ep, val string, vf *wireValueFrom) (string, error) {
	if vf == nil {
		return "", nil
	}
	if vf.FieldRef == nil {
		return "", missing(ep + "ValueFrom.FieldRef.FieldPath")
	}
	fp := ep + "ValueFrom.FieldRef.FieldPath"
	if vf.FieldRef.FieldPath == nil || *vf.FieldRef.FieldPath == "" {
		return "", missing(fp)
	}
	path := *vf.FieldRef.FieldPath
	if val != "" {
		return "", invalid(fp, "may not be given with %sValue: give the value or where it comes from", ep)
	}
	if key, ok := core.LabelOfField(path); ok {
		if err := checkLabelKey(fp, key); err != nil {
			return "", err
		}
		return path, nil
	}
	if !slices.Contains(core.FieldPaths, path) {
		why := ""
		if strings.HasPrefix(path, "metadata.annotations") || path == "metadata.namespace" {
			why = " (a group has no annotations or namespace)"
		}
		return "", invalid(fp, "%q is not supported%s; supported: %s and metadata.labels['KEY']", clip(path), why, strings.Join(core.FieldPaths, ", "))
	}
	return path, nil
}

// labelFilterPrefix starts the name of a label filter: label:KEY.
const labelFilterPrefix = "label:"

// splitLabelFilters moves the label:KEY filters out of filters into a map
// of label key to values.
func splitLabelFilters(filters map[string][]string) map[string][]string {
	var labels map[string][]string
	for name, vs := range filters {
		if key, ok := strings.CutPrefix(name, labelFilterPrefix); ok {
			if labels == nil {
				labels = map[string][]string{}
			}
			labels[key] = vs
			delete(filters, name)
		}
	}
	return labels
}

// applyContainerSpecs sizes the containers from ContainerSpec.N, which
// applies to Container.N of the same index: LimitCpu/LimitMem are the
// container's Cpu/Memory (given both ways they must agree), RequestCpu/
// RequestMem what it is guaranteed, at most its limit. The sums of limits
// and of requests may not exceed the group's.
func applyContainerSpecs(specs []wireContainerSpec, ctrs []core.Container, groupCPU, groupMem float64) error {
	if len(specs) > len(ctrs) {
		return invalid("ContainerSpec.N", "the k-th ContainerSpec sizes the k-th Container (indices order the lists); %d were given for %d containers", len(specs), len(ctrs))
	}
	for i, sp := range specs {
		p := string(sp.Prefix)
		c := &ctrs[i]
		for _, f := range []struct {
			name      string
			v         *float64
			max       float64
			dst       *float64
			isLimit   bool
			otherName string
		}{
			{"LimitCpu", sp.LimitCPU, maxGroupCPU, &c.CPU, true, "Cpu"},
			{"LimitMem", sp.LimitMem, maxGroupMemory, &c.Memory, true, "Memory"},
			{"RequestCpu", sp.RequestCPU, maxGroupCPU, &c.RequestCPU, false, ""},
			{"RequestMem", sp.RequestMem, maxGroupMemory, &c.RequestMemory, false, ""},
		} {
			if f.v == nil {
				continue
			}
			if err := checkDecimal(p+f.name, *f.v, minCPU, f.max); err != nil {
				return err
			}
			if f.isLimit && *f.dst != 0 && *f.dst != *f.v {
				return invalid(p+f.name, "container %s has %s %s; give one limit, or the same in both", c.Name, f.otherName, core.FormatAmount(*f.dst))
			}
			*f.dst = *f.v
		}
		if c.CPU > 0 && c.RequestCPU > c.CPU {
			return invalid(p+"RequestCpu", "container %s: the request (%s) exceeds its CPU limit (%s)", c.Name, core.FormatAmount(c.RequestCPU), core.FormatAmount(c.CPU))
		}
		if c.Memory > 0 && c.RequestMemory > c.Memory {
			return invalid(p+"RequestMem", "container %s: the request (%s GiB) exceeds its memory limit (%s GiB)", c.Name, core.FormatAmount(c.RequestMemory), core.FormatAmount(c.Memory))
		}
	}
	var limCPU, limMem, reqCPU, reqMem float64
	for _, c := range ctrs {
		limCPU, limMem = limCPU+c.CPU, limMem+c.Memory
		reqCPU, reqMem = reqCPU+c.RequestCPU, reqMem+c.RequestMemory
	}
	const eps = 1e-9
	switch {
	case limCPU > groupCPU+eps:
		return invalid("ContainerSpec.N.LimitCpu", "the containers' CPU (%s) exceeds the group's Cpu (%s)", core.FormatAmount(limCPU), core.FormatAmount(groupCPU))
	case limMem > groupMem+eps:
		return invalid("ContainerSpec.N.LimitMem", "the containers' memory (%s GiB) exceeds the group's Memory (%s GiB)", core.FormatAmount(limMem), core.FormatAmount(groupMem))
	case reqCPU > groupCPU+eps:
		return invalid("ContainerSpec.N.RequestCpu", "the containers' CPU requests (%s) exceed the group's Cpu (%s)", core.FormatAmount(reqCPU), core.FormatAmount(groupCPU))
	case reqMem > groupMem+eps:
		return invalid("ContainerSpec.N.RequestMem", "the containers' memory requests (%s GiB) exceed the group's Memory (%s GiB)", core.FormatAmount(reqMem), core.FormatAmount(groupMem))
	}
	return nil
}
