package api

import (
	"github.com/openkci/openkci/internal/api/awsquery"
	"github.com/openkci/openkci/pkg/kci"
)

// Request structures, decoded by awsquery from the wire names. Alternative
// spellings that official clients send are listed after the canonical one.
//
// These are kcid's decoding view of the requests that pkg/kci's request
// types encode (kci.Flatten): pointers tell an absent parameter from a zero
// one (MissingParameter versus InvalidParameterValue), awsquery.Prefix
// fields keep the wire name the client used (for messages), and the
// alternative spellings of other SDKs are accepted. A test flattens every
// pkg/kci request and decodes it here, so the two cannot drift; where
// kcid's view of a structure is pkg/kci's with a Prefix, it embeds
// pkg/kci's type (awsquery promotes its fields), so the two are one
// declaration. Responses are not declared here: kcid renders pkg/kci's
// response types.

type createContainerGroupRequest struct {
	ContainerGroupName      string                   `query:"ContainerGroupName"`
	SubnetID                string                   `query:"SubnetId"`
	MultiSubnetID           []string                 `query:"MultiSubnetId"`
	SecurityGroupID         []string                 `query:"SecurityGroupId,max=100"`
	ChargeType              string                   `query:"ChargeType"`
	ImageRegistryCredential []wireRegistryCredential `query:"ImageRegistryCredential"`
	RestartPolicy           string                   `query:"RestartPolicy"`
	CPU                     *float64                 `query:"Cpu"`
	Memory                  *float64                 `query:"Memory"`
	GPU                     *float64                 `query:"Gpu"`
	Volume                  []wireVolume             `query:"Volume"`
	Container               []wireContainer          `query:"Container"`
	InitContainer           []wireInitContainer      `query:"InitContainer"`
	HostAlias               []wireHostAlias          `query:"HostAliase,HostAlias"`
	Label                   []wireLabel              `query:"Label"`
	DNSConfig               *wireDNSConfig           `query:"DnsConfig"`
	IngressBandwidth        *int64                   `query:"IngressBandwidth"`
	EgressBandwidth         *int64                   `query:"EgressBandwidth"`
	HostPID                 bool                     `query:"HostPID"`
	ContainerSpec           []wireContainerSpec      `query:"ContainerSpec"`
	ImageCacheID            string                   `query:"ImageCacheId"`
	AutoMatchImageCache     bool                     `query:"AutoMatchImageCache"`
	DataDisk                []wireDataDisk           `query:"DataDisk"`
	// ClientToken is kcid's idempotency extension (as AWS ECS's and
	// Alibaba ECI's): see docs/api.md.
	ClientToken string `query:"ClientToken"`
}

type wireRegistryCredential struct {
	Prefix awsquery.Prefix
	kci.ImageRegistryCredential
}

type wireVolume struct {
	Prefix           awsquery.Prefix
	Type             string                `query:"Type"`
	Name             string                `query:"Name"`
	ConfigFileVolume *wireConfigFileVolume `query:"ConfigFileVolume"`
	EBSVolume        *wireEBSVolume        `query:"EBSVolume"`
	HostPathVolume   *wireHostPathVolume   `query:"HostPathVolume"`
	NFSVolume        *wireNFSVolume        `query:"NFSVolume"`
}

type wireNFSVolume struct {
	Prefix awsquery.Prefix
	kci.NFSVolume
}

type wireHostPathVolume struct {
	Prefix awsquery.Prefix
	kci.HostPathVolume
}

type wireConfigFileVolume struct {
	Prefix      awsquery.Prefix
	Files       []wireConfigFile `query:"ConfigFileToPath,ConfigFilePath"`
	DefaultMode string           `query:"DefaultMode"`
}

type wireConfigFile struct {
	Prefix  awsquery.Prefix
	Path    string `query:"Path"`
	Content string `query:"Content"`
	Mode    string `query:"mode,Mode"`
}

type wireEBSVolume struct {
	wireDiskSpec
	FsType   string `query:"FsType"`
	VolumeID string `query:"VolumeId"`
}

// wireDataDisk is DataDisk.N: a disk made for the group, mounted where a
// VolumeMount names VolumeName.
type wireDataDisk struct {
	wireDiskSpec
	VolumeName string `query:"VolumeName"`
}

// wireDiskSpec is what DataDisk.N and an EBSVolume share: the disk to make.
type wireDiskSpec struct {
	Prefix             awsquery.Prefix
	Type               string `query:"Type"`
	Size               *int   `query:"Size"`
	DeleteWithInstance bool   `query:"DeleteWithInstance"`
}

// wireContainer is Container.N: wireInitContainer's fields (on the wire as
// Container.N's own) and GPUs, ports and probes.
type wireContainer struct {
	wireInitContainer
	GPU            *float64   `query:"Gpu"`
	Port           []wirePort `query:"Port"`
	LivenessProbe  *wireProbe `query:"LivenessProbe"`
	ReadinessProbe *wireProbe `query:"ReadinessProbe"`
	// StartupProbe is kcid's extension (no KCI SDK has it), in the
	// probes' shape.
	StartupProbe *wireProbe `query:"StartupProbe"`
}

// wireProbe is Container.N.LivenessProbe and its siblings.
type wireProbe struct {
	Prefix              awsquery.Prefix
	InitialDelaySeconds *int           `query:"InitialDelaySeconds"`
	PeriodSeconds       *int           `query:"PeriodSeconds"`
	TimeoutSeconds      *int           `query:"TimeoutSeconds"`
	SuccessThreshold    *int           `query:"SuccessThreshold"`
	FailureThreshold    *int           `query:"FailureThreshold"`
	HTTPGet             *wireHTTPGet   `query:"HttpGet"`
	TCPSocket           *wireTCPSocket `query:"TcpSocket"`
	Exec                *wireExec      `query:"Exec"`
}

type wireHTTPGet struct {
	Prefix awsquery.Prefix
	Port   *int   `query:"Port"`
	Path   string `query:"Path"`
	Scheme string `query:"Scheme"`
}

type wireTCPSocket struct {
	Prefix awsquery.Prefix
	Port   *int `query:"Port"`
}

type wireExec struct {
	Prefix awsquery.Prefix
	kci.ExecAction
}

// wireInitContainer is InitContainer.N, and what Container.N shares with it.
type wireInitContainer struct {
	Prefix          awsquery.Prefix
	Name            string               `query:"Name"`
	Image           string               `query:"Image"`
	ImagePullPolicy string               `query:"ImagePullPolicy"`
	Command         []string             `query:"Command"`
	Arg             []string             `query:"Arg"`
	EnvironmentVar  []wireEnvVar         `query:"EnvironmentVar"`
	CPU             *float64             `query:"Cpu"`
	Memory          *float64             `query:"Memory"`
	WorkingDir      string               `query:"WorkingDir"`
	VolumeMount     []wireVolumeMount    `query:"VolumeMount"`
	SecurityContext *wireSecurityContext `query:"SecurityContext"`
}

// wireContainerSpec sizes Container.N of the same index.
type wireContainerSpec struct {
	Prefix     awsquery.Prefix
	RequestCPU *float64 `query:"RequestCpu"`
	RequestMem *float64 `query:"RequestMem"`
	LimitCPU   *float64 `query:"LimitCpu"`
	LimitMem   *float64 `query:"LimitMem"`
}

type wireSecurityContext struct {
	Prefix awsquery.Prefix
	kci.SecurityContext
}

type wireEnvVar struct {
	Prefix    awsquery.Prefix
	Key       string         `query:"Key"`
	Value     *string        `query:"Value"`
	ValueFrom *wireValueFrom `query:"ValueFrom"`
}

type wireValueFrom struct {
	Prefix   awsquery.Prefix
	FieldRef *wireFieldRef `query:"FieldRef"`
}

type wireFieldRef struct {
	Prefix    awsquery.Prefix
	FieldPath *string `query:"FieldPath"`
}

type wirePort struct {
	Prefix   awsquery.Prefix
	Port     *int   `query:"Port"`
	Protocol string `query:"Protocol"`
}

type wireVolumeMount struct {
	Prefix awsquery.Prefix
	kci.VolumeMount
}

type wireLabel struct {
	Prefix awsquery.Prefix
	kci.Label
}

type wireHostAlias struct {
	Prefix   awsquery.Prefix
	IP       string   `query:"Ip"`
	Hostname []string `query:"Hostname"`
}

type wireDNSConfig struct {
	Prefix     awsquery.Prefix
	NameServer []string        `query:"NameServer"`
	Search     []string        `query:"Search"`
	Option     []wireDNSOption `query:"Option"`
}

type wireDNSOption struct {
	Prefix awsquery.Prefix
	kci.DNSOption
}

type wireFilter struct {
	Prefix awsquery.Prefix
	Name   *string  `query:"Name"`
	Value  []string `query:"Value,max=100"`
}

type describeContainerGroupRequest struct {
	ContainerGroupID []string     `query:"ContainerGroupId,max=100"`
	MaxResults       *int         `query:"MaxResults"`
	Marker           *int         `query:"Marker"`
	Filter           []wireFilter `query:"Filter,max=100"`
	Search           string       `query:"Search"`
	ProjectID        []string     `query:"ProjectId,max=100"`
}

type describeContainerLogRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
	ContainerName    string `query:"ContainerName"`
	Tail             *int   `query:"Tail"`
}

type describeContainerGroupCountRequest struct {
	Label *wireCountLabel `query:"Label"`
}

type wireCountLabel struct {
	Prefix awsquery.Prefix
	Key    string   `query:"Key"`
	Value  []string `query:"Value,max=100"`
}

type describeContainerGroupEventsRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
}

type describeKciPackagesRequest struct {
	ChargeType       string `query:"ChargeType"`
	AvailabilityZone string `query:"AvailabilityZone"`
	KciType          string `query:"KciType"`
}

type deleteContainerGroupRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
}

type describeVpcsRequest struct {
	VpcID []string `query:"VpcId,max=100"`
	wireVPCPage
}

type describeSubnetsRequest struct {
	SubnetID []string `query:"SubnetId,max=100"`
	wireVPCPage
}

type describeSecurityGroupsRequest struct {
	SecurityGroupID []string `query:"SecurityGroupId,max=100"`
	wireVPCPage
}

// wireVPCPage is the filters and page of the VPC service's Describe*.
type wireVPCPage struct {
	Filter     []wireFilter `query:"Filter,max=100"`
	MaxResults *int         `query:"MaxResults"`
	NextToken  string       `query:"NextToken"`
}

type createSecurityGroupRequest struct {
	VpcID             string  `query:"VpcId"`
	SecurityGroupName *string `query:"SecurityGroupName"`
	Description       *string `query:"Description"`
}

type securityGroupIDRequest struct {
	SecurityGroupID string `query:"SecurityGroupId"`
}

type modifySecurityGroupRequest struct {
	SecurityGroupID   string  `query:"SecurityGroupId"`
	SecurityGroupName *string `query:"SecurityGroupName"`
	Description       *string `query:"Description"`
}

type authorizeSecurityGroupEntryRequest struct {
	SecurityGroupID string `query:"SecurityGroupId"`
	Description     string `query:"Description"`
	CidrBlock       string `query:"CidrBlock"`
	Direction       string `query:"Direction"`
	Protocol        string `query:"Protocol"`
	IcmpType        *int   `query:"IcmpType"`
	IcmpCode        *int   `query:"IcmpCode"`
	PortRangeFrom   *int   `query:"PortRangeFrom"`
	PortRangeTo     *int   `query:"PortRangeTo"`
	RuleTag         string `query:"RuleTag"`
	Priority        *int   `query:"Priority"`
	Policy          string `query:"Policy"`
}

type revokeSecurityGroupEntryRequest struct {
	SecurityGroupID      string `query:"SecurityGroupId"`
	SecurityGroupEntryID string `query:"SecurityGroupEntryId"`
}

type createVpcRequest struct {
	VpcName               string `query:"VpcName"`
	CidrBlock             string `query:"CidrBlock"`
	ProvidedIpv6CidrBlock bool   `query:"ProvidedIpv6CidrBlock"`
	Ipv6CidrBlock         string `query:"Ipv6CidrBlock"`
}

type vpcIDRequest struct {
	VpcID string `query:"VpcId"`
}

type createSubnetRequest struct {
	VpcID                 string `query:"VpcId"`
	SubnetName            string `query:"SubnetName"`
	CidrBlock             string `query:"CidrBlock"`
	ProvidedIpv6CidrBlock bool   `query:"ProvidedIpv6CidrBlock"`
	SubnetType            string `query:"SubnetType"`
	DhcpIPFrom            string `query:"DhcpIpFrom"`
	DhcpIPTo              string `query:"DhcpIpTo"`
	Dns1                  string `query:"Dns1"`
	Dns2                  string `query:"Dns2"`
	GatewayIP             string `query:"GatewayIp"`
	SecondaryCidrID       string `query:"SecondaryCidrId"`
	AvailabilityZone      string `query:"AvailabilityZone"`
	VisitInternet         *bool  `query:"VisitInternet"`
}

type subnetIDRequest struct {
	SubnetID string `query:"SubnetId"`
}

// modifyVpcRequest and modifySubnetRequest: an absent field is left as it
// is (pointers tell absent from empty).
type modifyVpcRequest struct {
	VpcID   string  `query:"VpcId"`
	VpcName *string `query:"VpcName"`
}

type modifySubnetRequest struct {
	SubnetID   string  `query:"SubnetId"`
	SubnetName *string `query:"SubnetName"`
	Dns1       *string `query:"Dns1"`
	Dns2       *string `query:"Dns2"`
}

type createImageCacheRequest struct {
	ImageCacheName          string                   `query:"ImageCacheName"`
	SubnetID                string                   `query:"SubnetId"`
	SecurityGroupID         string                   `query:"SecurityGroupId"`
	ImageCacheSize          *int                     `query:"ImageCacheSize"`
	RetentionDays           *int                     `query:"RetentionDays"`
	Image                   []string                 `query:"Image"`
	ImageRegistryCredential []wireRegistryCredential `query:"ImageRegistryCredential"`
	ImageCacheType          string                   `query:"ImageCacheType"`
	EnableWarm              *bool                    `query:"EnableWarm"`
}

type updateImageCacheRequest struct {
	ImageCacheID            string                   `query:"ImageCacheId"`
	ImageCacheName          *string                  `query:"ImageCacheName"`
	SubnetID                *string                  `query:"SubnetId"`
	SecurityGroupID         *string                  `query:"SecurityGroupId"`
	ImageCacheSize          *int                     `query:"ImageCacheSize"`
	RetentionDays           *int                     `query:"RetentionDays"`
	Image                   []string                 `query:"Image"`
	ImageCacheType          *string                  `query:"ImageCacheType"`
	EnableWarm              *bool                    `query:"EnableWarm"`
	ImageRegistryCredential []wireRegistryCredential `query:"ImageRegistryCredential"`
}

type imageCacheIDRequest struct {
	ImageCacheID string `query:"ImageCacheId"`
}

type describeImageCacheRequest struct {
	ImageCacheID   []string `query:"ImageCacheId"`
	ImageCacheName string   `query:"ImageCacheName"`
	Image          string   `query:"Image"`
	Marker         *int     `query:"Marker"`
	MaxResults     *int     `query:"MaxResults"`
	SortKey        string   `query:"SortKey"`
	SortDirection  string   `query:"SortDirection"`
}

type matchImageCacheRequest struct {
	Image []string `query:"Image"`
}
