// Package record declares the shapes in which kcid persists container
// groups — values of the bbolt store, the containerd runtime's per-group
// state.json, the Kubernetes runtime's pod annotation — and converts them
// to and from the domain types of package core. The shapes are versioned
// and name every JSON field explicitly, so renaming a field of core.Group
// changes no file on disk; a change of shape is a new version here plus a
// migration (store) or a decoder of the old version (UnmarshalGroup).
//
// Versions of a group record:
//
//	1  kcid before versioned state: json.Marshal(core.Group) itself, Go
//	   field names as keys, no version key, registry passwords in plain
//	   text (GroupV1).
//	2  this file's Group: lowerCamel keys, wrapped as {"version":2,
//	   "group":{...}}; registry passwords sealed (sealedPassword) where
//	   a Sealer is given, left out where none is (state.json, pods).
//	3  version 2 and what a kcid of version 2 must not read as absent:
//	   the GPUs a group holds (gpu, containers[].gpu and .gpuDevices: a
//	   kcid that dropped them would give the devices to another group)
//	   and containers' probes (livenessProbe, readinessProbe,
//	   startupProbe). Every one is optional, its zero meaning none, so a
//	   version 2 record is read as version 3 as it is: one written before
//	   these fields has none of them; kcids between their addition and
//	   version 3 wrote them into version 2 records, and they are kept.
//	   A kcid of version 2 refuses a version 3 record (ErrNewerVersion)
//	   rather than running a group without its GPUs and probes.
//
// docs/state.md describes every persisted file and its versions.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// GroupVersion is the version of group records this kcid writes.
const GroupVersion = 3

// ErrNewerVersion marks a record written by a newer kcid than this one.
var ErrNewerVersion = errors.New("written by a newer kcid")

// Sealer encrypts secrets at rest. aad binds a sealed value to where it is
// kept (a group ID and a server), so a value moved elsewhere does not open.
type Sealer interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// GroupDoc is a self-describing group record.
type GroupDoc struct {
	Version int   `json:"version"`
	Group   Group `json:"group"`
}

// Group is version 3 of a persisted core.Group (version 2 is the same
// shape without gpu, gpuDevices and probes; see the package comment).
type Group struct {
	ID               string               `json:"id"`
	Name             string               `json:"name"`
	AccountID        string               `json:"accountId"`
	Region           string               `json:"region"`
	Zone             string               `json:"zone"`
	ChargeType       string               `json:"chargeType"`
	CPU              float64              `json:"cpu"`
	Memory           float64              `json:"memoryGiB"`
	RestartPolicy    string               `json:"restartPolicy"`
	Network          Network              `json:"network"`
	IngressBandwidth int64                `json:"ingressBandwidthMbps,omitempty"`
	EgressBandwidth  int64                `json:"egressBandwidthMbps,omitempty"`
	DNS              *DNSConfig           `json:"dns,omitempty"`
	HostAliases      []HostAlias          `json:"hostAliases,omitempty"`
	Credentials      []RegistryCredential `json:"registryCredentials,omitempty"`
	Volumes          []Volume             `json:"volumes,omitempty"`
	Containers       []Container          `json:"containers"`
	InitContainers   []Container          `json:"initContainers,omitempty"`
	HostPID          bool                 `json:"hostPid,omitempty"`
	GPU              int                  `json:"gpu,omitempty"`
	ImageCacheID     string               `json:"imageCacheId,omitempty"`
	Labels           []Label              `json:"labels,omitempty"`
	CreatedAt        time.Time            `json:"createdAt"`
	DeletedAt        *time.Time           `json:"deletedAt,omitempty"`
	ClientToken      string               `json:"clientToken,omitempty"`
	RequestHash      string               `json:"requestHash,omitempty"`
}

// Network is version 2 of core.Network.
type Network struct {
	VpcID            string   `json:"vpcId"`
	VpcCIDR          string   `json:"vpcCidr"`
	SubnetID         string   `json:"subnetId"`
	SubnetCIDR       string   `json:"subnetCidr"`
	Gateway          string   `json:"gateway"`
	PrivateIP        string   `json:"privateIp,omitempty"`
	MAC              string   `json:"mac"`
	InterfaceID      string   `json:"interfaceId"`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`
}

// Label is version 2 of core.Label (added before a release wrote version 2).
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DNSConfig is version 2 of core.DNSConfig.
type DNSConfig struct {
	NameServers []string    `json:"nameServers,omitempty"`
	Searches    []string    `json:"searches,omitempty"`
	Options     []DNSOption `json:"options,omitempty"`
}

// DNSOption is version 2 of core.DNSOption.
type DNSOption struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// HostAlias is version 2 of core.HostAlias.
type HostAlias struct {
	IP        string   `json:"ip"`
	Hostnames []string `json:"hostnames"`
}

// RegistryCredential is version 2 of core.RegistryCredential: the password
// is only ever kept sealed.
type RegistryCredential struct {
	Server         string `json:"server"`
	Username       string `json:"username"`
	SealedPassword []byte `json:"sealedPassword,omitempty"`
}

// Volume is version 2 of core.Volume.
type Volume struct {
	Name        string       `json:"name"`
	Type        string       `json:"type"`
	ConfigFiles []ConfigFile `json:"configFiles,omitempty"`
	DefaultMode uint32       `json:"defaultMode,omitempty"`
	EBS         *EBSVolume   `json:"ebs,omitempty"`
	HostPath    string       `json:"hostPath,omitempty"`
	NFS         *NFSVolume   `json:"nfs,omitempty"`
}

// NFSVolume is version 2 of core.NFSVolume (added within version 2).
type NFSVolume struct {
	Server   string `json:"server"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// ConfigFile is version 2 of core.ConfigFile; Content is base64 in JSON.
type ConfigFile struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	Mode    uint32 `json:"mode,omitempty"`
}

// EBSVolume is version 2 of core.EBSVolume.
type EBSVolume struct {
	VolumeID string `json:"volumeId"`
	FsType   string `json:"fsType,omitempty"`
	// A disk made on demand (added within version 2: older records have
	// none of these, which reads as a disk of the config).
	SizeGB             int    `json:"sizeGb,omitempty"`
	Type               string `json:"type,omitempty"`
	DeleteWithInstance bool   `json:"deleteWithInstance,omitempty"`
}

// Container is version 2 of core.Container.
type Container struct {
	Name            string        `json:"name"`
	Image           string        `json:"image"`
	ImagePullPolicy string        `json:"imagePullPolicy,omitempty"`
	Command         []string      `json:"command,omitempty"`
	Args            []string      `json:"args,omitempty"`
	Env             []EnvVar      `json:"env,omitempty"`
	CPU             float64       `json:"cpu,omitempty"`
	Memory          float64       `json:"memoryGiB,omitempty"`
	WorkingDir      string        `json:"workingDir,omitempty"`
	Ports           []Port        `json:"ports,omitempty"`
	VolumeMounts    []VolumeMount `json:"volumeMounts,omitempty"`
	Privileged      bool          `json:"privileged,omitempty"`
	RequestCPU      float64       `json:"requestCpu,omitempty"`
	RequestMemory   float64       `json:"requestMemoryGiB,omitempty"`
	GPU             int           `json:"gpu,omitempty"`
	GPUDevices      []string      `json:"gpuDevices,omitempty"`
	// GPU, GPUDevices and the probes are version 3's (also in version 2
	// records of the kcids between their addition and version 3).
	LivenessProbe  *Probe `json:"livenessProbe,omitempty"`
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	StartupProbe   *Probe `json:"startupProbe,omitempty"`
}

// Probe is version 2 of core.Probe.
type Probe struct {
	Exec                []string `json:"exec,omitempty"`
	HTTPGet             *HTTPGet `json:"httpGet,omitempty"`
	TCPPort             int      `json:"tcpSocketPort,omitempty"`
	InitialDelaySeconds int      `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int      `json:"periodSeconds"`
	TimeoutSeconds      int      `json:"timeoutSeconds"`
	SuccessThreshold    int      `json:"successThreshold"`
	FailureThreshold    int      `json:"failureThreshold"`
}

// HTTPGet is version 2 of core.HTTPGetAction.
type HTTPGet struct {
	Port   int    `json:"port"`
	Path   string `json:"path"`
	Scheme string `json:"scheme"`
}

func fromProbe(p *core.Probe) *Probe {
	if p == nil {
		return nil
	}
	rp := &Probe{Exec: clone(p.Exec), InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds,
		TimeoutSeconds: p.TimeoutSeconds, SuccessThreshold: p.SuccessThreshold, FailureThreshold: p.FailureThreshold}
	if p.HTTPGet != nil {
		rp.HTTPGet = &HTTPGet{Port: p.HTTPGet.Port, Path: p.HTTPGet.Path, Scheme: p.HTTPGet.Scheme}
	}
	if p.TCPSocket != nil {
		rp.TCPPort = p.TCPSocket.Port
	}
	return rp
}

func (p *Probe) toProbe() *core.Probe {
	if p == nil {
		return nil
	}
	cp := &core.Probe{Exec: clone(p.Exec), InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds,
		TimeoutSeconds: p.TimeoutSeconds, SuccessThreshold: p.SuccessThreshold, FailureThreshold: p.FailureThreshold}
	if p.HTTPGet != nil {
		cp.HTTPGet = &core.HTTPGetAction{Port: p.HTTPGet.Port, Path: p.HTTPGet.Path, Scheme: p.HTTPGet.Scheme}
	}
	if p.TCPPort != 0 {
		cp.TCPSocket = &core.TCPSocketAction{Port: p.TCPPort}
	}
	return cp
}

// EnvVar is version 2 of core.EnvVar. FieldPath came after the first
// version 2 records and before any release wrote one; a record without it
// is a literal Value, as before.
type EnvVar struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	FieldPath string `json:"fieldPath,omitempty"`
}

// Port is version 2 of core.Port.
type Port struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

// VolumeMount is version 2 of core.VolumeMount.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// credentialAAD binds a sealed password to its group and server.
func credentialAAD(groupID, server string) []byte {
	return []byte("registry-password\x00" + groupID + "\x00" + server)
}

// sealCredentials converts credentials to records, sealing passwords
// bound to aad(server); without a Sealer passwords are left out.
func sealCredentials(creds []core.RegistryCredential, s Sealer, aad func(server string) []byte) ([]RegistryCredential, error) {
	var out []RegistryCredential
	for _, c := range creds {
		rc := RegistryCredential{Server: c.Server, Username: c.Username}
		if s != nil && c.Password != "" {
			sealed, err := s.Seal([]byte(c.Password), aad(c.Server))
			if err != nil {
				return nil, fmt.Errorf("seal password of registry %s: %w", c.Server, err)
			}
			rc.SealedPassword = sealed
		}
		out = append(out, rc)
	}
	return out, nil
}

// openCredentials converts credential records back, opening sealed
// passwords with s (an error without one).
func openCredentials(recs []RegistryCredential, s Sealer, aad func(server string) []byte) ([]core.RegistryCredential, error) {
	var out []core.RegistryCredential
	for _, c := range recs {
		gc := core.RegistryCredential{Server: c.Server, Username: c.Username}
		if len(c.SealedPassword) > 0 {
			if s == nil {
				return nil, fmt.Errorf("the password of registry %s is sealed and no key was given to open it", c.Server)
			}
			plain, err := s.Open(c.SealedPassword, aad(c.Server))
			if err != nil {
				return nil, fmt.Errorf("open the password of registry %s: %w", c.Server, err)
			}
			gc.Password = string(plain)
		}
		out = append(out, gc)
	}
	return out, nil
}

// FromGroup converts a group to its record. With a Sealer, registry
// passwords are sealed; without one they are left out.
func FromGroup(g *core.Group, s Sealer) (Group, error) {
	r := Group{
		ID: g.ID, Name: g.Name, AccountID: g.AccountID, Region: g.Region, Zone: g.Zone,
		ChargeType: g.ChargeType, CPU: g.CPU, Memory: g.Memory, RestartPolicy: string(g.RestartPolicy),
		Network: Network{
			VpcID: g.Network.VpcID, VpcCIDR: g.Network.VpcCIDR,
			SubnetID: g.Network.SubnetID, SubnetCIDR: g.Network.SubnetCIDR, Gateway: g.Network.Gateway,
			PrivateIP: g.Network.PrivateIP, MAC: g.Network.MAC, InterfaceID: g.Network.InterfaceID,
			SecurityGroupIDs: clone(g.Network.SecurityGroupIDs),
		},
		IngressBandwidth: g.IngressBandwidth, EgressBandwidth: g.EgressBandwidth, HostPID: g.HostPID, GPU: g.GPU, ImageCacheID: g.ImageCacheID,
		CreatedAt: g.CreatedAt, ClientToken: g.ClientToken, RequestHash: g.RequestHash,
	}
	if g.DeletedAt != nil {
		t := *g.DeletedAt
		r.DeletedAt = &t
	}
	for _, l := range g.Labels {
		r.Labels = append(r.Labels, Label{Key: l.Key, Value: l.Value})
	}
	if d := g.DNS; d != nil {
		r.DNS = &DNSConfig{NameServers: clone(d.NameServers), Searches: clone(d.Searches)}
		for _, o := range d.Options {
			r.DNS.Options = append(r.DNS.Options, DNSOption{Name: o.Name, Value: o.Value})
		}
	}
	for _, h := range g.HostAliases {
		r.HostAliases = append(r.HostAliases, HostAlias{IP: h.IP, Hostnames: clone(h.Hostnames)})
	}
	creds, err := sealCredentials(g.Credentials, s, func(server string) []byte { return credentialAAD(g.ID, server) })
	if err != nil {
		return Group{}, err
	}
	r.Credentials = creds
	for _, v := range g.Volumes {
		rv := Volume{Name: v.Name, Type: v.Type, DefaultMode: v.DefaultMode, HostPath: v.HostPath}
		if v.NFS != nil {
			rv.NFS = &NFSVolume{Server: v.NFS.Server, Path: v.NFS.Path, ReadOnly: v.NFS.ReadOnly}
		}
		for _, f := range v.ConfigFiles {
			rv.ConfigFiles = append(rv.ConfigFiles, ConfigFile{Path: f.Path, Content: clone(f.Content), Mode: f.Mode})
		}
		if v.EBS != nil {
			rv.EBS = &EBSVolume{VolumeID: v.EBS.VolumeID, FsType: v.EBS.FsType, SizeGB: v.EBS.SizeGB, Type: v.EBS.Type, DeleteWithInstance: v.EBS.DeleteWithInstance}
		}
		r.Volumes = append(r.Volumes, rv)
	}
	for _, c := range g.Containers {
		r.Containers = append(r.Containers, fromContainer(c))
	}
	for _, c := range g.InitContainers {
		r.InitContainers = append(r.InitContainers, fromContainer(c))
	}
	return r, nil
}

// ToGroup converts a record back to a group. Sealed passwords need the
// Sealer that sealed them; without a Sealer they are an error.
func (r *Group) ToGroup(s Sealer) (*core.Group, error) {
	g := &core.Group{
		ID: r.ID, Name: r.Name, AccountID: r.AccountID, Region: r.Region, Zone: r.Zone,
		ChargeType: r.ChargeType, CPU: r.CPU, Memory: r.Memory, RestartPolicy: core.RestartPolicy(r.RestartPolicy),
		Network: core.Network{
			VpcID: r.Network.VpcID, VpcCIDR: r.Network.VpcCIDR,
			SubnetID: r.Network.SubnetID, SubnetCIDR: r.Network.SubnetCIDR, Gateway: r.Network.Gateway,
			PrivateIP: r.Network.PrivateIP, MAC: r.Network.MAC, InterfaceID: r.Network.InterfaceID,
			SecurityGroupIDs: clone(r.Network.SecurityGroupIDs),
		},
		IngressBandwidth: r.IngressBandwidth, EgressBandwidth: r.EgressBandwidth, HostPID: r.HostPID, GPU: r.GPU, ImageCacheID: r.ImageCacheID,
		CreatedAt: r.CreatedAt, ClientToken: r.ClientToken, RequestHash: r.RequestHash,
	}
	if r.DeletedAt != nil {
		t := *r.DeletedAt
		g.DeletedAt = &t
	}
	for _, l := range r.Labels {
		g.Labels = append(g.Labels, core.Label{Key: l.Key, Value: l.Value})
	}
	if d := r.DNS; d != nil {
		g.DNS = &core.DNSConfig{NameServers: clone(d.NameServers), Searches: clone(d.Searches)}
		for _, o := range d.Options {
			g.DNS.Options = append(g.DNS.Options, core.DNSOption{Name: o.Name, Value: o.Value})
		}
	}
	for _, h := range r.HostAliases {
		g.HostAliases = append(g.HostAliases, core.HostAlias{IP: h.IP, Hostnames: clone(h.Hostnames)})
	}
	creds, err := openCredentials(r.Credentials, s, func(server string) []byte { return credentialAAD(r.ID, server) })
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", r.ID, err)
	}
	g.Credentials = creds
	for _, v := range r.Volumes {
		gv := core.Volume{Name: v.Name, Type: v.Type, DefaultMode: v.DefaultMode, HostPath: v.HostPath}
		if v.NFS != nil {
			gv.NFS = &core.NFSVolume{Server: v.NFS.Server, Path: v.NFS.Path, ReadOnly: v.NFS.ReadOnly}
		}
		for _, f := range v.ConfigFiles {
			gv.ConfigFiles = append(gv.ConfigFiles, core.ConfigFile{Path: f.Path, Content: clone(f.Content), Mode: f.Mode})
		}
		if v.EBS != nil {
			gv.EBS = &core.EBSVolume{VolumeID: v.EBS.VolumeID, FsType: v.EBS.FsType, SizeGB: v.EBS.SizeGB, Type: v.EBS.Type, DeleteWithInstance: v.EBS.DeleteWithInstance}
		}
		g.Volumes = append(g.Volumes, gv)
	}
	for _, c := range r.Containers {
		g.Containers = append(g.Containers, c.toContainer())
	}
	for _, c := range r.InitContainers {
		g.InitContainers = append(g.InitContainers, c.toContainer())
	}
	return g, nil
}

func fromContainer(c core.Container) Container {
	rc := Container{
		Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy,
		Command: clone(c.Command), Args: clone(c.Args),
		CPU: c.CPU, Memory: c.Memory, WorkingDir: c.WorkingDir, Privileged: c.Privileged,
		RequestCPU: c.RequestCPU, RequestMemory: c.RequestMemory, GPU: c.GPU, GPUDevices: clone(c.GPUDevices),
		LivenessProbe: fromProbe(c.LivenessProbe), ReadinessProbe: fromProbe(c.ReadinessProbe), StartupProbe: fromProbe(c.StartupProbe),
	}
	for _, e := range c.Env {
		rc.Env = append(rc.Env, EnvVar{Key: e.Key, Value: e.Value, FieldPath: e.FieldPath})
	}
	for _, p := range c.Ports {
		rc.Ports = append(rc.Ports, Port{Port: p.Port, Protocol: p.Protocol})
	}
	for _, m := range c.VolumeMounts {
		rc.VolumeMounts = append(rc.VolumeMounts, VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return rc
}

func (c *Container) toContainer() core.Container {
	gc := core.Container{
		Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy,
		Command: clone(c.Command), Args: clone(c.Args),
		CPU: c.CPU, Memory: c.Memory, WorkingDir: c.WorkingDir, Privileged: c.Privileged,
		RequestCPU: c.RequestCPU, RequestMemory: c.RequestMemory, GPU: c.GPU, GPUDevices: clone(c.GPUDevices),
		LivenessProbe: c.LivenessProbe.toProbe(), ReadinessProbe: c.ReadinessProbe.toProbe(), StartupProbe: c.StartupProbe.toProbe(),
	}
	for _, e := range c.Env {
		gc.Env = append(gc.Env, core.EnvVar{Key: e.Key, Value: e.Value, FieldPath: e.FieldPath})
	}
	for _, p := range c.Ports {
		gc.Ports = append(gc.Ports, core.Port{Port: p.Port, Protocol: p.Protocol})
	}
	for _, m := range c.VolumeMounts {
		gc.VolumeMounts = append(gc.VolumeMounts, core.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return gc
}

// MarshalGroup encodes a group as a current GroupDoc.
func MarshalGroup(g *core.Group, s Sealer) ([]byte, error) {
	r, err := FromGroup(g, s)
	if err != nil {
		return nil, err
	}
	return json.Marshal(GroupDoc{Version: GroupVersion, Group: r})
}

// UnmarshalGroup decodes a group record of any version this kcid knows: a
// GroupDoc, or a version 1 record (which has no version key).
func UnmarshalGroup(b []byte, s Sealer) (*core.Group, error) {
	var head struct {
		Version int             `json:"version"`
		Group   json.RawMessage `json:"group"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, err
	}
	if head.Version == 0 {
		return DecodeGroup(1, b, s)
	}
	return DecodeGroup(head.Version, head.Group, s)
}

// DecodeGroup decodes the group part of a record of the given version.
func DecodeGroup(version int, b []byte, s Sealer) (*core.Group, error) {
	switch {
	case version == 1:
		var v1 GroupV1
		if err := json.Unmarshal(b, &v1); err != nil {
			return nil, fmt.Errorf("group record version 1: %w", err)
		}
		return v1.ToGroup(), nil
	case version == 2 || version == GroupVersion:
		// Version 2 is version 3 without fields whose zero means none:
		// it decodes as it is (the package comment).
		var r Group
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("group record version %d: %w", version, err)
		}
		return r.ToGroup(s)
	case version > GroupVersion:
		return nil, fmt.Errorf("group record version %d (this kcid reads up to %d): %w; run that kcid or a newer one", version, GroupVersion, ErrNewerVersion)
	}
	return nil, fmt.Errorf("group record version %d is not one kcid ever wrote", version)
}

func clone[S ~[]E, E any](s S) S {
	if s == nil {
		return nil
	}
	return append(S{}, s...)
}
