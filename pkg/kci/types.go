package kci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// API versions and signing services.
const (
	// KCIVersion is the version of the KCI actions.
	KCIVersion = "2020-07-02"
	// VPCVersion is the version of the VPC actions.
	VPCVersion = "2016-03-04"
	// ServiceKCI and ServiceVPC are the SigV4 service names.
	ServiceKCI = "kci"
	ServiceVPC = "vpc"
)

// ChargeHourlyInstantSettlement is the only ChargeType of this API version;
// CreateContainerGroup fills it in when a request leaves it empty.
const ChargeHourlyInstantSettlement = "HourlyInstantSettlement"

// Restart policies.
const (
	RestartAlways    = "Always"
	RestartOnFailure = "OnFailure"
	RestartNever     = "Never"
)

// Group statuses. Succeeded, Failed and CreateError are final.
const (
	StatusPending      = "Pending"
	StatusImagePulling = "ImagePulling"
	StatusRunning      = "Running"
	StatusSucceeded    = "Succeeded"
	StatusFailed       = "Failed"
	StatusCreateError  = "CreateError"
)

// IsFinalStatus reports whether a group in status s will not change again.
func IsFinalStatus(s string) bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCreateError
}

// Container state names (ContainerState.State).
const (
	StateWaiting    = "waiting"
	StateRunning    = "running"
	StateTerminated = "terminated"
)

// Volume types.
const (
	VolumeEmptyDir   = "EmptyDirVolume"
	VolumeConfigFile = "ConfigFileVolume"
	VolumeEBS        = "EBSVolume"
	// VolumeHostPath mounts a path of the node; kcid allows only paths
	// under prefixes its operator gives the account.
	VolumeHostPath = "HostPathVolume"
	// VolumeNFS mounts an NFS export (where kcid's runtime can).
	VolumeNFS = "NFSVolume"
)

// Image pull policies.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// DescribeContainerGroup filter names.
const (
	FilterSubnetID         = "subnet-id"
	FilterVpcID            = "vpc-id"
	FilterAvailabilityZone = "availability-zone.name"
	FilterStatus           = "status"
	// FilterLabelPrefix + a label key filters on that label's values
	// ("label:cluster-id"), kcid's name for a filter the SDKs do not name.
	FilterLabelPrefix = "label:"
)

// Filter is one Filter.N of a Describe action: values are ORed, filters
// ANDed.
type Filter struct {
	Name   string   `query:"Name" json:"Name"`
	Values []string `query:"Value" json:"Value"`
}

// Request types carry two tags: `query` for the wire (see Flatten) and
// `json` with the same names, so that a request written as JSON or YAML
// mirrors the API's structure (kcictl create -f reads them that way).

// CreateContainerGroupRequest creates a container group.
type CreateContainerGroupRequest struct {
	ContainerGroupName string `query:"ContainerGroupName" json:"ContainerGroupName"`
	SubnetID           string `query:"SubnetId" json:"SubnetId,omitempty"`
	// MultiSubnetIDs (at most 5) are further subnets of the same VPC: the
	// group lands in the first of SubnetID and these with a free address.
	MultiSubnetIDs   []string `query:"MultiSubnetId" json:"MultiSubnetId,omitempty"`
	SecurityGroupIDs []string `query:"SecurityGroupId" json:"SecurityGroupId,omitempty"`
	ChargeType       string   `query:"ChargeType" json:"ChargeType,omitempty"`
	CPU              float64  `query:"Cpu" json:"Cpu,omitempty"`
	Memory           float64  `query:"Memory" json:"Memory,omitempty"` // GiB
	// GPU is how many of the node's GPUs the group holds (given to
	// the first container unless containers ask for theirs).
	GPU                      int                       `query:"Gpu" json:"Gpu,omitempty"`
	RestartPolicy            string                    `query:"RestartPolicy" json:"RestartPolicy,omitempty"`
	IngressBandwidth         int64                     `query:"IngressBandwidth" json:"IngressBandwidth,omitempty"` // Mbit/s
	EgressBandwidth          int64                     `query:"EgressBandwidth" json:"EgressBandwidth,omitempty"`   // Mbit/s
	ImageRegistryCredentials []ImageRegistryCredential `query:"ImageRegistryCredential" json:"ImageRegistryCredential,omitempty"`
	Containers               []Container               `query:"Container" json:"Container"`
	// InitContainers run one after another, each to completion, before
	// Containers start (no Ports).
	InitContainers []InitContainer `query:"InitContainer" json:"InitContainer,omitempty"`
	Volumes        []Volume        `query:"Volume" json:"Volume,omitempty"`
	DNSConfig      *DNSConfig      `query:"DnsConfig" json:"DnsConfig,omitempty"`
	// HostAliases go out as HostAliase.N, the spec's spelling.
	HostAliases []HostAlias `query:"HostAliase" json:"HostAliase,omitempty"`
	// HostPID shares the host's PID namespace with the group; kcid
	// refuses it unless its operator allows it for the account.
	HostPID bool `query:"HostPID" json:"HostPID,omitempty"`
	// Labels are key/value labels (Label.N), validated as Kubernetes
	// validates labels; Describe returns them, filters on them
	// (FilterLabelPrefix) and DescribeContainerGroupCount counts them.
	Labels []Label `query:"Label" json:"Label,omitempty"`
	// ContainerSpecs size the Containers of the same index: requests
	// and limits (cores, GiB).
	ContainerSpecs []ContainerSpec `query:"ContainerSpec" json:"ContainerSpec,omitempty"`
	// ImageCacheID starts the group from one of the caller's Available
	// image caches, without contacting a registry for the images it
	// holds; AutoMatchImageCache picks one (ignored with ImageCacheID).
	ImageCacheID        string `query:"ImageCacheId" json:"ImageCacheId,omitempty"`
	AutoMatchImageCache bool   `query:"AutoMatchImageCache" json:"AutoMatchImageCache,omitempty"`
	// DataDisks are disks made for the group, each a volume named
	// VolumeName (ext4) that VolumeMounts mount; Describe lists them
	// among Volumes with the VolumeId each got.
	DataDisks []DataDisk `query:"DataDisk" json:"DataDisk,omitempty"`
	// DryRun validates everything and creates nothing: the call then
	// fails with Code DryRunOperation (see IsDryRunOperation).
	DryRun bool `query:"DryRun" json:"-"`
	// ClientToken makes the create idempotent (kcid's extension, as AWS
	// ECS's and Alibaba ECI's): the same token from the same account
	// within 24 hours returns the first group's ID and creates nothing; the
	// same token with a different request is refused. Client.
	// CreateContainerGroup fills in a random one when it is empty.
	ClientToken string `query:"ClientToken" json:"ClientToken,omitempty"`
}

// Label is one key/value label of a group, in requests and responses.
type Label struct {
	Key   string `query:"Key" json:"Key"`
	Value string `query:"Value" json:"Value"`
}

// ImageRegistryCredential authenticates pulls from one registry.
type ImageRegistryCredential struct {
	Server   string `query:"Server" json:"Server"`
	Username string `query:"Username" json:"Username"`
	Password string `query:"Password" json:"Password"`
}

// Container is one container of a CreateContainerGroupRequest: the
// fields it shares with an init container (name, image, command,
// environment, size, mounts; on the wire as Container.N's own, e.g.
// Container.1.Name) and GPUs, ports and probes, which init containers do
// not have. In a literal: Container{InitContainer: InitContainer{Name:
// "app", Image: "nginx"}, Ports: ...}; fields read as c.Name.
type Container struct {
	InitContainer
	GPU   int    `query:"Gpu" json:"Gpu,omitempty"`
	Ports []Port `query:"Port" json:"Port,omitempty"`
	// LivenessProbe and ReadinessProbe are the SDK's; StartupProbe is
	// kcid's extension with the same shape (Kubernetes' startupProbe).
	LivenessProbe  *Probe `query:"LivenessProbe" json:"LivenessProbe,omitempty"`
	ReadinessProbe *Probe `query:"ReadinessProbe" json:"ReadinessProbe,omitempty"`
	StartupProbe   *Probe `query:"StartupProbe" json:"StartupProbe,omitempty"`
}

// Probe checks a running container, with Kubernetes' semantics and
// defaults (PeriodSeconds 10, TimeoutSeconds 1, SuccessThreshold 1,
// FailureThreshold 3): exactly one of Exec, HTTPGet and TCPSocket.
type Probe struct {
	InitialDelaySeconds int              `query:"InitialDelaySeconds" json:"InitialDelaySeconds,omitempty"`
	PeriodSeconds       int              `query:"PeriodSeconds" json:"PeriodSeconds,omitempty"`
	TimeoutSeconds      int              `query:"TimeoutSeconds" json:"TimeoutSeconds,omitempty"`
	SuccessThreshold    int              `query:"SuccessThreshold" json:"SuccessThreshold,omitempty"`
	FailureThreshold    int              `query:"FailureThreshold" json:"FailureThreshold,omitempty"`
	HTTPGet             *HTTPGetAction   `query:"HttpGet" json:"HttpGet,omitempty"`
	TCPSocket           *TCPSocketAction `query:"TcpSocket" json:"TcpSocket,omitempty"`
	Exec                *ExecAction      `query:"Exec" json:"Exec,omitempty"`
}

// HTTPGetAction is an HTTP probe: a GET of Path (default /) on Port of
// the group's address; Scheme is HTTP (default) or HTTPS.
type HTTPGetAction struct {
	Port   int    `query:"Port" json:"Port"`
	Path   string `query:"Path" json:"Path,omitempty"`
	Scheme string `query:"Scheme" json:"Scheme,omitempty"`
}

// TCPSocketAction is a TCP probe: a connection to Port of the group's
// address.
type TCPSocketAction struct {
	Port int `query:"Port" json:"Port"`
}

// ExecAction is an exec probe: Command run in the container, exit 0 is
// success.
type ExecAction struct {
	Command []string `query:"Command" json:"Command"`
}

// InitContainer is one init container of a CreateContainerGroupRequest,
// and the part of a Container the two share. Init containers run one
// after another, each to completion, before the containers start; they
// share the group's network and volumes.
type InitContainer struct {
	Name            string `query:"Name" json:"Name"`
	Image           string `query:"Image" json:"Image"`
	ImagePullPolicy string `query:"ImagePullPolicy" json:"ImagePullPolicy,omitempty"`
	// Command overrides the image's entrypoint, Args its cmd (as in
	// Kubernetes).
	Command         []string         `query:"Command" json:"Command,omitempty"`
	Args            []string         `query:"Arg" json:"Arg,omitempty"`
	EnvironmentVars []EnvironmentVar `query:"EnvironmentVar" json:"EnvironmentVar,omitempty"`
	CPU             float64          `query:"Cpu" json:"Cpu,omitempty"`
	Memory          float64          `query:"Memory" json:"Memory,omitempty"` // GiB
	WorkingDir      string           `query:"WorkingDir" json:"WorkingDir,omitempty"`
	VolumeMounts    []VolumeMount    `query:"VolumeMount" json:"VolumeMount,omitempty"`
	// SecurityContext.Privileged is refused unless kcid's operator allows
	// it for the account.
	SecurityContext *SecurityContext `query:"SecurityContext" json:"SecurityContext,omitempty"`
}

// ContainerSpec is what one container is guaranteed (Request*) and may
// use at most (Limit*, the same as Container.Cpu and Memory); 0 is unset.
type ContainerSpec struct {
	RequestCPU float64 `query:"RequestCpu" json:"RequestCpu,omitempty"`
	RequestMem float64 `query:"RequestMem" json:"RequestMem,omitempty"`
	LimitCPU   float64 `query:"LimitCpu" json:"LimitCpu,omitempty"`
	LimitMem   float64 `query:"LimitMem" json:"LimitMem,omitempty"`
}

// SecurityContext is a container's security settings.
type SecurityContext struct {
	Privileged bool `query:"Privileged" json:"Privileged,omitempty"`
}

// EnvironmentVar is one environment variable; an empty Value is sent as
// absent, which kcid accepts. ValueFrom takes the value from a field of
// the group instead (Value must then be empty); kcid resolves it when the
// container starts. Describe echoes ValueFrom as given.
type EnvironmentVar struct {
	Key       string     `query:"Key" json:"Key"`
	Value     string     `query:"Value" json:"Value"`
	ValueFrom *ValueFrom `query:"ValueFrom" json:"ValueFrom,omitempty"`
}

// ValueFrom is the source of an EnvironmentVar's value.
type ValueFrom struct {
	FieldRef *FieldRef `query:"FieldRef" json:"FieldRef,omitempty"`
}

// FieldRef names a field of the group: one of the Field* paths.
type FieldRef struct {
	FieldPath string `query:"FieldPath" json:"FieldPath"`
}

// Field paths an EnvironmentVar may take its value from (docs/api.md).
const (
	FieldName     = "metadata.name" // ContainerGroupName
	FieldUID      = "metadata.uid"  // ContainerGroupId
	FieldPodIP    = "status.podIP"  // the group's private IP
	FieldPodIPs   = "status.podIPs" // the same
	FieldNodeName = "spec.nodeName" // the host the group runs on
)

// Port is a port a container listens on; Protocol is TCP (default) or UDP.
type Port struct {
	Port     int    `query:"Port" json:"Port"`
	Protocol string `query:"Protocol" json:"Protocol,omitempty"`
}

// VolumeMount mounts a Volume of the group into a container.
type VolumeMount struct {
	Name      string `query:"Name" json:"Name"`
	MountPath string `query:"MountPath" json:"MountPath"`
	ReadOnly  bool   `query:"ReadOnly" json:"ReadOnly,omitempty"`
}

// Volume is a volume of the group; Type is one of the Volume* constants.
type Volume struct {
	Name             string            `query:"Name" json:"Name"`
	Type             string            `query:"Type" json:"Type"`
	ConfigFileVolume *ConfigFileVolume `query:"ConfigFileVolume" json:"ConfigFileVolume,omitempty"`
	EBSVolume        *EBSVolume        `query:"EBSVolume" json:"EBSVolume,omitempty"`
	HostPathVolume   *HostPathVolume   `query:"HostPathVolume" json:"HostPathVolume,omitempty"`
	NFSVolume        *NFSVolume        `query:"NFSVolume" json:"NFSVolume,omitempty"`
}

// NFSVolume mounts Path exported by Server (a host name or IP address)
// with the kernel's NFS client: kcid on containerd offers it only where
// its host's kernel has one (docs/api.md).
type NFSVolume struct {
	Server   string `query:"Server" json:"Server"`
	Path     string `query:"Path" json:"Path"`
	ReadOnly bool   `query:"ReadOnly" json:"ReadOnly"`
}

// HostPathVolume mounts Path, an absolute, clean path of the node.
type HostPathVolume struct {
	Path string `query:"Path" json:"Path"`
}

// ConfigFileVolume holds small files given in the request.
type ConfigFileVolume struct {
	Files []ConfigFile `query:"ConfigFileToPath" json:"ConfigFileToPath"`
	// DefaultMode is a permission such as "0644" (octal with a leading 0).
	DefaultMode string `query:"DefaultMode" json:"DefaultMode,omitempty"`
}

// ConfigFile is one file of a ConfigFileVolume.
type ConfigFile struct {
	// Path is relative to the mount point.
	Path string `query:"Path" json:"Path"`
	// Content is the file's content in standard Base64, at most 24 KiB
	// decoded.
	Content string `query:"Content" json:"Content"`
	// Mode is a permission such as "0600"; sent as "mode", the spec's
	// spelling.
	Mode string `query:"mode" json:"mode,omitempty"`
}

// EBSVolume mounts a disk; FsType is ext3, ext4 or xfs. In a request,
// VolumeID names an existing disk (one of kcid's config, or one kept from
// an earlier group of the account), or Size (GB) and Type (DiskTypeSSD
// ...) make a new one. DeleteWithInstance removes a disk kcid made when
// the group is deleted; false keeps it, to be mounted by VolumeID later.
// Describe returns VolumeID, FsType and, for a disk kcid made, Size, Type
// and DeleteWithInstance.
type EBSVolume struct {
	FsType             string `query:"FsType" json:"FsType"`
	VolumeID           string `query:"VolumeId" json:"VolumeId"`
	Type               string `query:"Type" json:"Type,omitempty"`
	Size               int    `query:"Size" json:"Size,omitempty"`
	DeleteWithInstance bool   `query:"DeleteWithInstance" json:"DeleteWithInstance,omitempty"`
}

// DataDisk is a disk made for a group (DataDisk.N): Size GB of Type,
// formatted ext4, mounted where a VolumeMount names VolumeName.
type DataDisk struct {
	VolumeName         string `query:"VolumeName" json:"VolumeName"`
	Type               string `query:"Type" json:"Type"`
	Size               int    `query:"Size" json:"Size"`
	DeleteWithInstance bool   `query:"DeleteWithInstance" json:"DeleteWithInstance,omitempty"`
}

// Disk types (DataDisk.Type, EBSVolume.Type), with the sizes the SDK
// documents: SSD3.0 and EHDD 10–32000 GB, ESSD_PL0 and ESSD_PL1
// 40–32000, ESSD_PL2 461–32000; kcid bounds the largest by its config.
const (
	DiskTypeSSD     = "SSD3.0"
	DiskTypeEHDD    = "EHDD"
	DiskTypeESSDPL0 = "ESSD_PL0"
	DiskTypeESSDPL1 = "ESSD_PL1"
	DiskTypeESSDPL2 = "ESSD_PL2"
)

// DNSConfig becomes the containers' resolv.conf.
type DNSConfig struct {
	NameServers []string    `query:"NameServer" json:"NameServer,omitempty"`
	Searches    []string    `query:"Search" json:"Search,omitempty"`
	Options     []DNSOption `query:"Option" json:"Option,omitempty"`
}

// DNSOption is a resolv.conf option such as ndots:2.
type DNSOption struct {
	Name  string `query:"Name" json:"Name"`
	Value string `query:"Value" json:"Value,omitempty"`
}

// HostAlias adds Hostnames for IP to the containers' /etc/hosts.
type HostAlias struct {
	IP        string   `query:"Ip" json:"Ip"`
	Hostnames []string `query:"Hostname" json:"Hostname"`
}

// CreateContainerGroupResponse is the answer to CreateContainerGroup.
type CreateContainerGroupResponse struct {
	RequestID        string `json:"RequestId"`
	ContainerGroupID string `json:"ContainerGroupId"`
}

// DescribeContainerGroupRequest lists groups; all fields are optional.
type DescribeContainerGroupRequest struct {
	ContainerGroupIDs []string `query:"ContainerGroupId"`
	// MaxResults is the page size, 1–100 (server default 20).
	MaxResults int `query:"MaxResults"`
	// Marker is the offset of the first record, from a previous page.
	Marker  int      `query:"Marker"`
	Filters []Filter `query:"Filter"`
	// Search is a case-insensitive substring of the name, or a substring
	// of the private IP.
	Search string `query:"Search"`
}

// DescribeContainerGroupResponse is one page of groups.
type DescribeContainerGroupResponse struct {
	RequestID  string `json:"RequestId"`
	MaxResults int    `json:"MaxResults"`
	// Marker is the offset of the next page, 0 after the last page.
	Marker          int              `json:"Marker"`
	TotalCount      int              `json:"TotalCount"`
	ContainerGroups []ContainerGroup `json:"ContainerGroups"`
}

// ContainerGroup is a group as DescribeContainerGroup shows it.
type ContainerGroup struct {
	ContainerGroupID           string             `json:"ContainerGroupId"`
	ContainerGroupName         string             `json:"ContainerGroupName"`
	AvailabilityZone           string             `json:"AvailabilityZone"`
	ChargeType                 string             `json:"ChargeType"`
	NetworkInterfaceAttributes []NetworkInterface `json:"NetworkInterfaceAttributes"`
	CPU                        float64            `json:"Cpu"`
	Memory                     float64            `json:"Memory"`
	GPU                        float64            `json:"Gpu,omitempty"`
	CreateTime                 CloudTime          `json:"CreateTime"`
	RestartPolicy              string             `json:"RestartPolicy"`
	Status                     string             `json:"Status"`
	SucceededTime              *CloudTime         `json:"SucceededTime"`
	Labels                     []Label            `json:"Labels"`
	Volumes                    []VolumeDetail     `json:"Volumes"`
	DNSConfig                  *DNSConfigDetail   `json:"DnsConfig"`
	HostAliases                []HostAliasDetail  `json:"HostAliases"`
	Containers                 []ContainerDetail  `json:"Containers"`
	// InitContainers is kcid's extension (the SDK's response has no
	// init-container shape): the init containers in Containers' shape,
	// with their states, exit codes and restart counts; omitted when the
	// group has none.
	InitContainers []ContainerDetail `json:"InitContainers,omitempty"`
	// Ready is kcid's extension (Kubernetes' pod Ready condition): the
	// group is Running and every container is Ready.
	Ready  bool    `json:"Ready"`
	Events []Event `json:"Events"`
	// StartTimeline is an OpenKCI extension: the steps of the group's
	// first start with millisecond times, absent when the runtime
	// recorded none.
	StartTimeline []StartStep `json:"StartTimeline,omitempty"`
}

// StartStep is one step of a group's first start (an OpenKCI extension,
// docs/api.md): Step is Accepted, VolumesReady, NetworkReady, ImageReady,
// ContainerCreated, ContainerStarted or Running; ContainerName is set for
// the per-container steps; Time is UTC with milliseconds; ElapsedMs is
// the time since Accepted.
type StartStep struct {
	Step          string    `json:"Step"`
	ContainerName string    `json:"ContainerName,omitempty"`
	Time          time.Time `json:"Time"`
	ElapsedMs     int64     `json:"ElapsedMs"`
}

// PrivateIP is the group's address on its primary interface ("" if none).
func (g *ContainerGroup) PrivateIP() string {
	if n := g.primary(); n != nil {
		return n.PrivateIPAddress
	}
	return ""
}

func (g *ContainerGroup) primary() *NetworkInterface {
	for i := range g.NetworkInterfaceAttributes {
		if g.NetworkInterfaceAttributes[i].NetworkInterfaceType == "primary" {
			return &g.NetworkInterfaceAttributes[i]
		}
	}
	if len(g.NetworkInterfaceAttributes) > 0 {
		return &g.NetworkInterfaceAttributes[0]
	}
	return nil
}

// PrimaryInterface is the group's primary network interface, or nil.
func (g *ContainerGroup) PrimaryInterface() *NetworkInterface { return g.primary() }

// NetworkInterface is a group's network interface.
type NetworkInterface struct {
	NetworkInterfaceID   string              `json:"NetworkInterfaceId"`
	NetworkInterfaceType string              `json:"NetworkInterfaceType"`
	VpcID                string              `json:"VpcId"`
	SubnetID             string              `json:"SubnetId"`
	PrivateIPAddress     string              `json:"PrivateIpAddress"`
	MacAddress           string              `json:"MacAddress"`
	SecurityGroups       []SecurityGroupLink `json:"SecurityGroups"`
}

// SecurityGroupLink names a security group of an interface.
type SecurityGroupLink struct {
	SecurityGroupID string `json:"SecurityGroupId"`
}

// VolumeDetail is a volume as Describe shows it (file contents are never
// echoed).
type VolumeDetail struct {
	Type             string                  `json:"Type"`
	Name             string                  `json:"Name"`
	ConfigFileVolume *ConfigFileVolumeDetail `json:"ConfigFileVolume"`
	EBSVolume        *EBSVolume              `json:"EBSVolume"`
	HostPathVolume   *HostPathVolume         `json:"HostPathVolume"`
	NFSVolume        *NFSVolume              `json:"NFSVolume,omitempty"`
}

// ConfigFileVolumeDetail lists the paths of a ConfigFileVolume.
type ConfigFileVolumeDetail struct {
	ConfigFileToPaths []ConfigFilePath `json:"ConfigFileToPaths"`
}

// ConfigFilePath is the path of one config file.
type ConfigFilePath struct {
	Path string `json:"Path"`
}

// DNSConfigDetail is a group's DNS configuration.
type DNSConfigDetail struct {
	NameServers []string          `json:"NameServers"`
	Searches    []string          `json:"Searches"`
	Options     []DNSOptionDetail `json:"Options"`
}

// DNSOptionDetail is one resolv.conf option; Value is nil when it has none.
type DNSOptionDetail struct {
	Name  string  `json:"Name"`
	Value *string `json:"Value"`
}

// HostAliasDetail is one /etc/hosts entry of a group.
type HostAliasDetail struct {
	Hostnames []string `json:"Hostnames"`
	IP        string   `json:"Ip"`
}

// ContainerDetail is a container of a group with its observed state.
type ContainerDetail struct {
	Name            string           `json:"Name"`
	Commands        []string         `json:"Commands"`
	Args            []string         `json:"Args"`
	EnvironmentVars []EnvironmentVar `json:"EnvironmentVars"`
	CPU             *float64         `json:"Cpu"`
	Memory          *float64         `json:"Memory"`
	GPU             *float64         `json:"Gpu,omitempty"`
	WorkingDir      *string          `json:"WorkingDir"`
	Image           string           `json:"Image"`
	ImagePullPolicy *string          `json:"ImagePullPolicy"`
	// LivenessProbe and ReadinessProbe are the container's probes in the
	// SDK's response shape (null when it has none).
	LivenessProbe  *ProbeDetail `json:"LivenessProbe"`
	ReadinessProbe *ProbeDetail `json:"ReadinessProbe"`
	// StartupProbe is kcid's extension, in the same shape; omitted when
	// the container has none.
	StartupProbe *ProbeDetail `json:"StartupProbe,omitempty"`
	// Ready is kcid's extension (Kubernetes' container readiness): the
	// container runs, its startup probe passed and its readiness probe
	// passes (a container without probes is ready while it runs).
	Ready         bool                `json:"Ready"`
	Ports         []PortDetail        `json:"Ports"`
	VolumeMounts  []VolumeMountDetail `json:"VolumeMounts"`
	RestartCount  int                 `json:"RestartCount"`
	CurrentState  *ContainerState     `json:"CurrentState"`
	PreviousState *ContainerState     `json:"PreviousState"`
	Events        []Event             `json:"Events"`
}

// ProbeDetail is a probe as Describe shows it (the SDK's response shape:
// the exec probe's command is Exec.Commands); the handlers not used are
// null.
type ProbeDetail struct {
	InitialDelaySeconds int               `json:"InitialDelaySeconds"`
	PeriodSeconds       int               `json:"PeriodSeconds"`
	TimeoutSeconds      int               `json:"TimeoutSeconds"`
	SuccessThreshold    int               `json:"SuccessThreshold"`
	FailureThreshold    int               `json:"FailureThreshold"`
	HTTPGet             *HTTPGetAction    `json:"HttpGet"`
	Exec                *ExecActionDetail `json:"Exec"`
	TCPSocket           *TCPSocketAction  `json:"TcpSocket"`
}

// ExecActionDetail is an exec probe's command as Describe shows it.
type ExecActionDetail struct {
	Commands []string `json:"Commands"`
}

// PortDetail is a port as Describe shows it.
type PortDetail struct {
	Protocol string `json:"Protocol"`
	Port     int    `json:"Port"`
}

// VolumeMountDetail is a mount as Describe shows it.
type VolumeMountDetail struct {
	Name      string `json:"Name"`
	MountPath string `json:"MountPath"`
	ReadOnly  bool   `json:"ReadOnly"`
}

// ContainerState is one state of a container: State is waiting, running or
// terminated; Reason is kubelet's (ContainerCreating, CrashLoopBackOff,
// Completed, Error, OOMKilled, …).
type ContainerState struct {
	StartTime  *time.Time `json:"StartTime"`
	FinishTime *time.Time `json:"FinishTime"`
	State      string     `json:"State"`
	Reason     *string    `json:"Reason"`
	ExitCode   *int       `json:"ExitCode"`
}

// ReasonString is Reason or "".
func (s *ContainerState) ReasonString() string {
	if s == nil || s.Reason == nil {
		return ""
	}
	return *s.Reason
}

// Event is a group event, aggregated like a Kubernetes event: Count
// occurrences between FirstTimestamp and LastTimestamp.
type Event struct {
	FirstTimestamp time.Time `json:"FirstTimestamp"`
	LastTimestamp  time.Time `json:"LastTimestamp"`
	Count          int       `json:"Count"`
	Type           string    `json:"Type"`
	Reason         string    `json:"Reason"`
	Message        string    `json:"Message"`
	// FirstTimestampMs and LastTimestampMs are an OpenKCI extension: the
	// same times in milliseconds since the Unix epoch (the SDK's fields
	// carry whole seconds).
	FirstTimestampMs int64 `json:"FirstTimestampMs,omitempty"`
	LastTimestampMs  int64 `json:"LastTimestampMs,omitempty"`
}

// DescribeContainerGroupCountRequest counts the caller's groups by the
// values of one label. Label is one object here, not a list.
type DescribeContainerGroupCountRequest struct {
	Label CountLabel `query:"Label"`
}

// CountLabel is the label DescribeContainerGroupCount counts by: Key and,
// optionally, the values to count (else every value the key has).
type CountLabel struct {
	Key    string   `query:"Key"`
	Values []string `query:"Value"`
}

// DescribeContainerGroupCountResponse holds one count per label value.
type DescribeContainerGroupCountResponse struct {
	RequestID        string            `json:"RequestId"`
	ClusterPodCounts []ClusterPodCount `json:"ClusterPodCounts"`
}

// ClusterPodCount is the number of groups whose counted label has the
// value ClusterID (virtual-kubelet counts by cluster-id, hence the name).
type ClusterPodCount struct {
	ClusterID string `json:"ClusterId"`
	Count     int    `json:"Count"`
}

// DescribeContainerGroupEventsRequest asks for one group's events.
type DescribeContainerGroupEventsRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
}

// DescribeContainerGroupEventsResponse holds the group's events, oldest
// first, as DescribeContainerGroup shows them.
type DescribeContainerGroupEventsResponse struct {
	RequestID string  `json:"RequestId"`
	Events    []Event `json:"Events"`
}

// KciTypeRBKCI is the one KciType there is.
const KciTypeRBKCI = "RBKCI"

// DescribeKciPackagesRequest asks for the standard sizes offered; all
// fields are optional.
type DescribeKciPackagesRequest struct {
	// ChargeType is HourlyInstantSettlement or Spot.
	ChargeType       string `query:"ChargeType"`
	AvailabilityZone string `query:"AvailabilityZone"`
	// KciType is RBKCI, the only type.
	KciType string `query:"KciType"`
}

// DescribeKciPackagesResponse lists the standard sizes.
type DescribeKciPackagesResponse struct {
	RequestID string       `json:"RequestId"`
	Packages  []KciPackage `json:"Packages"`
}

// KciPackage is a CPU size (cores) with the memory sizes (GiB) offered
// with it; the wire says Mem, not Memory.
type KciPackage struct {
	CPU float64   `json:"Cpu"`
	Mem []float64 `json:"Mem"`
}

// DescribeContainerLogRequest reads the tail of one container's log.
type DescribeContainerLogRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
	ContainerName    string `query:"ContainerName"`
	// Tail is the number of lines, 1–2000 (server default 200).
	Tail int `query:"Tail"`
}

// DescribeContainerLogResponse holds the log lines (stdout and stderr).
type DescribeContainerLogResponse struct {
	RequestID string `json:"RequestId"`
	Content   string `json:"Content"`
}

// DeleteContainerGroupRequest deletes a group.
type DeleteContainerGroupRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
	DryRun           bool   `query:"DryRun"`
}

// DeleteContainerGroupResponse is the answer to DeleteContainerGroup.
type DeleteContainerGroupResponse struct {
	RequestID string `json:"RequestId"`
}

// DescribeRegionsRequest has no parameters.
type DescribeRegionsRequest struct{}

// DescribeRegionsResponse lists the regions served.
type DescribeRegionsResponse struct {
	RequestID string   `json:"RequestId"`
	Regions   []Region `json:"Regions"`
}

// Region is a region and its availability zones.
type Region struct {
	Region            string   `json:"Region"`
	RegionName        string   `json:"RegionName"`
	AvailabilityZones []string `json:"AvailabilityZones"`
}

// VPC filter names.
const (
	VPCFilterVpcID            = "vpc-id"
	VPCFilterSubnetID         = "subnet-id"
	VPCFilterSecurityGroupID  = "security-group-id"
	VPCFilterAvailabilityZone = "availability-zone-name"
)

// DescribeVpcsRequest lists VPCs (service vpc).
type DescribeVpcsRequest struct {
	VpcIDs     []string `query:"VpcId"`
	Filters    []Filter `query:"Filter"`
	MaxResults int      `query:"MaxResults"`
	NextToken  string   `query:"NextToken"`
}

// DescribeVpcsResponse is one page of VPCs.
type DescribeVpcsResponse struct {
	RequestID string `json:"RequestId"`
	NextToken string `json:"NextToken,omitempty"`
	VpcSet    []Vpc  `json:"VpcSet"`
}

// Vpc is a virtual network.
type Vpc struct {
	CreateTime string `json:"CreateTime"`
	VpcID      string `json:"VpcId"`
	VpcName    string `json:"VpcName"`
	CidrBlock  string `json:"CidrBlock"`
	IsDefault  bool   `json:"IsDefault"`
	// The rest of the SDKs' Vpc; kcid has no IPv6, CEN or secondary
	// CIDRs, so they are false, empty and [].
	ProvidedIpv6CidrBlock       bool            `json:"ProvidedIpv6CidrBlock"`
	CenID                       string          `json:"CenId"`
	Ipv6CidrBlockAssociationSet []Ipv6CidrBlock `json:"Ipv6CidrBlockAssociationSet"`
	SecondaryCidrSet            []SecondaryCidr `json:"SecondaryCidrSet"`
}

// Ipv6CidrBlock is an IPv6 block of a VPC or subnet.
type Ipv6CidrBlock struct {
	Ipv6CidrBlock string `json:"Ipv6CidrBlock"`
}

// SecondaryCidr is a secondary block of a VPC.
type SecondaryCidr struct {
	SecondaryCidrID string `json:"SecondaryCidrId"`
	Cidr            string `json:"Cidr"`
	Type            string `json:"Type"`
}

// DescribeSubnetsRequest lists subnets (service vpc).
type DescribeSubnetsRequest struct {
	SubnetIDs  []string `query:"SubnetId"`
	Filters    []Filter `query:"Filter"`
	MaxResults int      `query:"MaxResults"`
	NextToken  string   `query:"NextToken"`
}

// DescribeSubnetsResponse is one page of subnets.
type DescribeSubnetsResponse struct {
	RequestID string   `json:"RequestId"`
	NextToken string   `json:"NextToken,omitempty"`
	SubnetSet []Subnet `json:"SubnetSet"`
}

// Subnet is a range of a VPC in one zone.
type Subnet struct {
	CreateTime           string `json:"CreateTime"`
	VpcID                string `json:"VpcId"`
	SubnetID             string `json:"SubnetId"`
	SubnetName           string `json:"SubnetName"`
	CidrBlock            string `json:"CidrBlock"`
	SubnetType           string `json:"SubnetType"`
	DhcpIPFrom           string `json:"DhcpIpFrom"`
	DhcpIPTo             string `json:"DhcpIpTo"`
	GatewayIP            string `json:"GatewayIp"`
	Dns1                 string `json:"Dns1"`
	Dns2                 string `json:"Dns2"`
	AvailabilityZoneName string `json:"AvailabilityZoneName"`
	// AvailableIPNumber is a string on the wire, as the SDKs type it.
	AvailableIPNumber string `json:"AvailableIpNumber"`
	NetworkACLID      string `json:"NetworkAclId"`
	NatID             string `json:"NatId"`
	RouteTableID      string `json:"RouteTableId"`
	VisitInternet     bool   `json:"VisitInternet"`
	// RandomAvailableIPNum and AvailbleIPNumber (sic, as the SDKs spell
	// it) repeat AvailableIpNumber, also as strings.
	RandomAvailableIPNum        string          `json:"RandomAvailableIpNum"`
	AvailbleIPNumber            string          `json:"AvailbleIPNumber"`
	ProvidedIpv6CidrBlock       bool            `json:"ProvidedIpv6CidrBlock"`
	SecondaryCidrID             string          `json:"SecondaryCidrId"`
	Ipv6CidrBlockAssociationSet []Ipv6CidrBlock `json:"Ipv6CidrBlockAssociationSet"`
}

// DescribeSecurityGroupsRequest lists security groups (service vpc).
type DescribeSecurityGroupsRequest struct {
	SecurityGroupIDs []string `query:"SecurityGroupId"`
	Filters          []Filter `query:"Filter"`
	MaxResults       int      `query:"MaxResults"`
	NextToken        string   `query:"NextToken"`
}

// DescribeSecurityGroupsResponse is one page of security groups.
type DescribeSecurityGroupsResponse struct {
	RequestID        string          `json:"RequestId"`
	NextToken        string          `json:"NextToken,omitempty"`
	SecurityGroupSet []SecurityGroup `json:"SecurityGroupSet"`
}

// SecurityGroup is a security group of a VPC.
type SecurityGroup struct {
	CreateTime            string               `json:"CreateTime"`
	VpcID                 string               `json:"VpcId"`
	SecurityGroupName     string               `json:"SecurityGroupName"`
	SecurityGroupID       string               `json:"SecurityGroupId"`
	Description           string               `json:"Description"`
	SecurityGroupType     string               `json:"SecurityGroupType"`
	SecurityGroupEntrySet []SecurityGroupEntry `json:"SecurityGroupEntrySet"`
}

// SecurityGroupEntry is one rule of a security group. Protocol is IP (all
// protocols), TCP, UDP or ICMP; ports apply to TCP and UDP, IcmpType and
// IcmpCode (-1: any) to ICMP.
type SecurityGroupEntry struct {
	CreateTime           string `json:"CreateTime"`
	Description          string `json:"Description"`
	SecurityGroupEntryID string `json:"SecurityGroupEntryId"`
	CidrBlock            string `json:"CidrBlock"`
	Direction            string `json:"Direction"`
	Protocol             string `json:"Protocol"`
	IcmpType             int    `json:"IcmpType"`
	IcmpCode             int    `json:"IcmpCode"`
	PortRangeFrom        int    `json:"PortRangeFrom"`
	PortRangeTo          int    `json:"PortRangeTo"`
	RuleTag              string `json:"RuleTag"`
	Priority             int    `json:"Priority"`
	Policy               string `json:"Policy"`
}

// CreateSecurityGroupRequest makes an empty security group in a VPC
// (service vpc).
type CreateSecurityGroupRequest struct {
	VpcID             string `query:"VpcId"`
	SecurityGroupName string `query:"SecurityGroupName"`
	Description       string `query:"Description"`
}

// CreateSecurityGroupResponse carries the new group.
type CreateSecurityGroupResponse struct {
	RequestID     string        `json:"RequestId"`
	SecurityGroup SecurityGroup `json:"SecurityGroup"`
}

// DeleteSecurityGroupRequest deletes a security group no container group
// uses (service vpc).
type DeleteSecurityGroupRequest struct {
	SecurityGroupID string `query:"SecurityGroupId"`
}

// ReturnResponse is the answer of the VPC actions that return only
// whether they succeeded (Delete*, Revoke*).
type ReturnResponse struct {
	RequestID string `json:"RequestId"`
	Return    bool   `json:"Return"`
}

// ModifySecurityGroupRequest renames a security group or changes its
// description (service vpc); an empty field is left unchanged.
type ModifySecurityGroupRequest struct {
	SecurityGroupID   string `query:"SecurityGroupId"`
	SecurityGroupName string `query:"SecurityGroupName"`
	Description       string `query:"Description"`
}

// ModifySecurityGroupResponse is the group after the change, flat (no
// SecurityGroup wrapper), as the SDKs declare it.
type ModifySecurityGroupResponse struct {
	RequestID string `json:"RequestId"`
	SecurityGroup
}

// AuthorizeSecurityGroupEntryRequest adds one rule to a security group
// (service vpc). IcmpType and IcmpCode are pointers: 0 is a valid type.
type AuthorizeSecurityGroupEntryRequest struct {
	SecurityGroupID string `query:"SecurityGroupId"`
	Description     string `query:"Description"`
	CidrBlock       string `query:"CidrBlock"`
	Direction       string `query:"Direction"`
	Protocol        string `query:"Protocol"`
	IcmpType        *int   `query:"IcmpType"`
	IcmpCode        *int   `query:"IcmpCode"`
	PortRangeFrom   int    `query:"PortRangeFrom"`
	PortRangeTo     int    `query:"PortRangeTo"`
	RuleTag         string `query:"RuleTag"`
	Priority        int    `query:"Priority"`
	Policy          string `query:"Policy"`
}

// AuthorizeSecurityGroupEntryResponse names the rule made.
type AuthorizeSecurityGroupEntryResponse struct {
	SecurityGroupEntryIDSet []string `json:"SecurityGroupEntryIdSet"`
	RequestID               string   `json:"RequestId"`
	Return                  bool     `json:"Return"`
}

// RevokeSecurityGroupEntryRequest removes one rule (service vpc).
type RevokeSecurityGroupEntryRequest struct {
	SecurityGroupID      string `query:"SecurityGroupId"`
	SecurityGroupEntryID string `query:"SecurityGroupEntryId"`
}

// cloudZone is the zone of the console time format (UTC+8, Beijing).
var cloudZone = time.FixedZone("UTC+8", 8*3600)

// CloudTimeLayout is the console format of CreateTime and SucceededTime,
// a wall clock in UTC+8.
const CloudTimeLayout = "2006-01-02 15:04:05"

// CloudTime is a time in the console format "2006-01-02 15:04:05" (UTC+8)
// that KCI uses for CreateTime and SucceededTime. It marshals back to the
// same format; RFC 3339 is accepted too.
type CloudTime struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *CloudTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("kci: time %s: %w", b, err)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	if v, err := time.ParseInLocation(CloudTimeLayout, s, cloudZone); err == nil {
		t.Time = v
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("kci: time %q is neither %q (UTC+8) nor RFC 3339", s, CloudTimeLayout)
	}
	t.Time = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (t CloudTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.String())
}

// String is the time in the console format, "" for the zero time.
func (t CloudTime) String() string {
	if t.IsZero() {
		return ""
	}
	return t.In(cloudZone).Format(CloudTimeLayout)
}

// CreateVpcRequest makes a VPC (service vpc). kcid needs CidrBlock: a
// block overlapping no other VPC on its host.
type CreateVpcRequest struct {
	VpcName   string `query:"VpcName"`
	CidrBlock string `query:"CidrBlock"`
}

// CreateVpcResponse carries the new VPC.
type CreateVpcResponse struct {
	RequestID string `json:"RequestId"`
	Vpc       Vpc    `json:"Vpc"`
}

// DeleteVpcRequest deletes a VPC with no subnets or security groups left
// (service vpc).
type DeleteVpcRequest struct {
	VpcID string `query:"VpcId"`
}

// CreateSubnetRequest makes a subnet inside a VPC (service vpc).
type CreateSubnetRequest struct {
	VpcID            string `query:"VpcId"`
	SubnetName       string `query:"SubnetName"`
	CidrBlock        string `query:"CidrBlock"`
	SubnetType       string `query:"SubnetType"`
	GatewayIP        string `query:"GatewayIp"`
	AvailabilityZone string `query:"AvailabilityZone"`
	// Dns1 and Dns2 are the subnet's name servers (IPv4), those of groups
	// created in it whose DnsConfig names none.
	Dns1 string `query:"Dns1"`
	Dns2 string `query:"Dns2"`
}

// CreateSubnetResponse carries the new subnet.
type CreateSubnetResponse struct {
	RequestID string `json:"RequestId"`
	Subnet    Subnet `json:"Subnet"`
}

// ModifyVpcRequest renames a VPC (service vpc).
type ModifyVpcRequest struct {
	VpcID   string `query:"VpcId"`
	VpcName string `query:"VpcName"`
}

// ModifySubnetRequest renames a subnet or changes its name servers
// (service vpc). A nil field is left as it is; an empty Dns1 or Dns2
// removes that name server. The name servers are those of groups created
// in the subnet afterwards (docs/networking.md).
type ModifySubnetRequest struct {
	SubnetID   string  `query:"SubnetId"`
	SubnetName *string `query:"SubnetName"`
	Dns1       *string `query:"Dns1"`
	Dns2       *string `query:"Dns2"`
}

// ModifySubnetResponse carries the subnet after the change.
type ModifySubnetResponse struct {
	RequestID string         `json:"RequestId"`
	Subnet    ModifiedSubnet `json:"Subnet"`
}

// ModifiedSubnet is a subnet as ModifySubnet answers it: the fields of
// Subnet without the free-address counts and VisitInternet, in the SDKs'
// order.
type ModifiedSubnet struct {
	CreateTime                  string          `json:"CreateTime"`
	SubnetID                    string          `json:"SubnetId"`
	VpcID                       string          `json:"VpcId"`
	SubnetName                  string          `json:"SubnetName"`
	CidrBlock                   string          `json:"CidrBlock"`
	SubnetType                  string          `json:"SubnetType"`
	DhcpIPFrom                  string          `json:"DhcpIpFrom"`
	DhcpIPTo                    string          `json:"DhcpIpTo"`
	Dns1                        string          `json:"Dns1"`
	Dns2                        string          `json:"Dns2"`
	GatewayIP                   string          `json:"GatewayIp"`
	AvailabilityZoneName        string          `json:"AvailabilityZoneName"`
	ProvidedIpv6CidrBlock       bool            `json:"ProvidedIpv6CidrBlock"`
	SecondaryCidrID             string          `json:"SecondaryCidrId"`
	NetworkACLID                string          `json:"NetworkAclId"`
	NatID                       string          `json:"NatId"`
	RouteTableID                string          `json:"RouteTableId"`
	Ipv6CidrBlockAssociationSet []Ipv6CidrBlock `json:"Ipv6CidrBlockAssociationSet"`
}

// DeleteSubnetRequest deletes a subnet no container group is in (service
// vpc).
type DeleteSubnetRequest struct {
	SubnetID string `query:"SubnetId"`
}
