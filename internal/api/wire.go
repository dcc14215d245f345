package api

import (
	"strconv"
	"time"

	"github.com/openkci/openkci/internal/api/awsquery"
)

// Request structures, decoded by awsquery from the wire names. Alternative
// spellings that official clients send are listed after the canonical one.

type createContainerGroupRequest struct {
	ContainerGroupName      string                   `query:"ContainerGroupName"`
	SubnetID                string                   `query:"SubnetId"`
	SecurityGroupID         []string                 `query:"SecurityGroupId,max=100"`
	ChargeType              string                   `query:"ChargeType"`
	ImageRegistryCredential []wireRegistryCredential `query:"ImageRegistryCredential"`
	RestartPolicy           string                   `query:"RestartPolicy"`
	CPU                     *float64                 `query:"Cpu"`
	Memory                  *float64                 `query:"Memory"`
	Volume                  []wireVolume             `query:"Volume"`
	Container               []wireContainer          `query:"Container"`
	HostAlias               []wireHostAlias          `query:"HostAliase,HostAlias"`
	DNSConfig               *wireDNSConfig           `query:"DnsConfig"`
	IngressBandwidth        *int64                   `query:"IngressBandwidth"`
	EgressBandwidth         *int64                   `query:"EgressBandwidth"`
	// ClientToken is kcid's idempotency extension (as AWS ECS's and
	// Alibaba ECI's): see docs/api.md.
	ClientToken string `query:"ClientToken"`
}

type wireRegistryCredential struct {
	Prefix   awsquery.Prefix
	Server   string `query:"Server"`
	Username string `query:"Username"`
	Password string `query:"Password"`
}

type wireVolume struct {
	Prefix           awsquery.Prefix
	Type             string                `query:"Type"`
	Name             string                `query:"Name"`
	ConfigFileVolume *wireConfigFileVolume `query:"ConfigFileVolume"`
	EBSVolume        *wireEBSVolume        `query:"EBSVolume"`
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
	Prefix   awsquery.Prefix
	FsType   string `query:"FsType"`
	VolumeID string `query:"VolumeId"`
}

type wireContainer struct {
	Prefix          awsquery.Prefix
	Name            string            `query:"Name"`
	Image           string            `query:"Image"`
	ImagePullPolicy string            `query:"ImagePullPolicy"`
	Command         []string          `query:"Command"`
	Arg             []string          `query:"Arg"`
	EnvironmentVar  []wireEnvVar      `query:"EnvironmentVar"`
	CPU             *float64          `query:"Cpu"`
	Memory          *float64          `query:"Memory"`
	WorkingDir      string            `query:"WorkingDir"`
	Port            []wirePort        `query:"Port"`
	VolumeMount     []wireVolumeMount `query:"VolumeMount"`
}

type wireEnvVar struct {
	Prefix awsquery.Prefix
	Key    string  `query:"Key"`
	Value  *string `query:"Value"`
}

type wirePort struct {
	Prefix   awsquery.Prefix
	Port     *int   `query:"Port"`
	Protocol string `query:"Protocol"`
}

type wireVolumeMount struct {
	Prefix    awsquery.Prefix
	Name      string `query:"Name"`
	MountPath string `query:"MountPath"`
	ReadOnly  bool   `query:"ReadOnly"`
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
	Name   string `query:"Name"`
	Value  string `query:"Value"`
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

type deleteContainerGroupRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
}

type describeVpcsRequest struct {
	VpcID      []string     `query:"VpcId,max=100"`
	Filter     []wireFilter `query:"Filter,max=100"`
	MaxResults *int         `query:"MaxResults"`
	NextToken  string       `query:"NextToken"`
}

type describeSubnetsRequest struct {
	SubnetID   []string     `query:"SubnetId,max=100"`
	Filter     []wireFilter `query:"Filter,max=100"`
	MaxResults *int         `query:"MaxResults"`
	NextToken  string       `query:"NextToken"`
}

type describeSecurityGroupsRequest struct {
	SecurityGroupID []string     `query:"SecurityGroupId,max=100"`
	Filter          []wireFilter `query:"Filter,max=100"`
	MaxResults      *int         `query:"MaxResults"`
	NextToken       string       `query:"NextToken"`
}

// Response structures. Field order and null-versus-[] follow the spec's
// example response; pointers are JSON null when absent.

// number renders a float as a JSON integer when it is whole (2, not 2.0),
// because the typed Go and Java SDKs declare group Cpu/Memory as integers.
type number float64

func (n number) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(n), 'f', -1, 64), nil
}

func numPtr(f float64) *number {
	if f == 0 {
		return nil
	}
	n := number(f)
	return &n
}

var utc8 = time.FixedZone("UTC+8", 8*3600)

// cloudTime is the console time format of CreateTime: UTC+8 wall clock.
func cloudTime(t time.Time) string { return t.In(utc8).Format("2006-01-02 15:04:05") }

// rfc3339 is the format of container and event times: UTC with Z.
func rfc3339(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

type createContainerGroupResponse struct {
	RequestID        string `json:"RequestId"`
	ContainerGroupID string `json:"ContainerGroupId"`
}

type describeContainerGroupResponse struct {
	RequestID       string              `json:"RequestId"`
	MaxResults      int                 `json:"MaxResults"`
	Marker          int                 `json:"Marker"`
	TotalCount      int                 `json:"TotalCount"`
	ContainerGroups []outContainerGroup `json:"ContainerGroups"`
}

type outContainerGroup struct {
	ContainerGroupID           string            `json:"ContainerGroupId"`
	ContainerGroupName         string            `json:"ContainerGroupName"`
	AvailabilityZone           string            `json:"AvailabilityZone"`
	ChargeType                 string            `json:"ChargeType"`
	NetworkInterfaceAttributes []outNetworkIface `json:"NetworkInterfaceAttributes"`
	CPU                        number            `json:"Cpu"`
	Memory                     number            `json:"Memory"`
	CreateTime                 string            `json:"CreateTime"`
	RestartPolicy              string            `json:"RestartPolicy"`
	Status                     string            `json:"Status"`
	SucceededTime              *string           `json:"SucceededTime"`
	Volumes                    []outVolume       `json:"Volumes"`
	DNSConfig                  *outDNSConfig     `json:"DnsConfig"`
	HostAliases                []outHostAlias    `json:"HostAliases"`
	Containers                 []outContainer    `json:"Containers"`
	Events                     []outEvent        `json:"Events"`
}

type outNetworkIface struct {
	NetworkInterfaceID   string             `json:"NetworkInterfaceId"`
	NetworkInterfaceType string             `json:"NetworkInterfaceType"`
	VpcID                string             `json:"VpcId"`
	SubnetID             string             `json:"SubnetId"`
	PrivateIPAddress     string             `json:"PrivateIpAddress"`
	MacAddress           string             `json:"MacAddress"`
	SecurityGroups       []outSecurityGroup `json:"SecurityGroups"`
}

type outSecurityGroup struct {
	SecurityGroupID string `json:"SecurityGroupId"`
}

type outVolume struct {
	Type             string               `json:"Type"`
	Name             string               `json:"Name"`
	ConfigFileVolume *outConfigFileVolume `json:"ConfigFileVolume"`
	EBSVolume        *outEBSVolume        `json:"EBSVolume"`
}

type outConfigFileVolume struct {
	ConfigFileToPaths []outConfigFilePath `json:"ConfigFileToPaths"`
}

type outConfigFilePath struct {
	Path string `json:"Path"`
}

type outEBSVolume struct {
	FsType   string `json:"FsType"`
	VolumeID string `json:"VolumeId"`
}

type outDNSConfig struct {
	NameServers []string       `json:"NameServers"`
	Searches    []string       `json:"Searches"`
	Options     []outDNSOption `json:"Options"`
}

type outDNSOption struct {
	Name  string  `json:"Name"`
	Value *string `json:"Value"`
}

type outHostAlias struct {
	Hostnames []string `json:"Hostnames"`
	IP        string   `json:"Ip"`
}

type outContainer struct {
	Name            string           `json:"Name"`
	Commands        []string         `json:"Commands"`
	Args            []string         `json:"Args"`
	EnvironmentVars []outEnvVar      `json:"EnvironmentVars"`
	CPU             *number          `json:"Cpu"`
	Memory          *number          `json:"Memory"`
	WorkingDir      *string          `json:"WorkingDir"`
	Image           string           `json:"Image"`
	ImagePullPolicy *string          `json:"ImagePullPolicy"`
	LivenessProbe   *struct{}        `json:"LivenessProbe"`
	ReadinessProbe  *struct{}        `json:"ReadinessProbe"`
	Ports           []outPort        `json:"Ports"`
	VolumeMounts    []outVolumeMount `json:"VolumeMounts"`
	RestartCount    int              `json:"RestartCount"`
	CurrentState    *outState        `json:"CurrentState"`
	PreviousState   *outState        `json:"PreviousState"`
	Events          []outEvent       `json:"Events"`
}

type outEnvVar struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type outPort struct {
	Protocol string `json:"Protocol"`
	Port     int    `json:"Port"`
}

type outVolumeMount struct {
	Name      string `json:"Name"`
	MountPath string `json:"MountPath"`
	ReadOnly  bool   `json:"ReadOnly"`
}

type outState struct {
	StartTime  *string `json:"StartTime"`
	FinishTime *string `json:"FinishTime"`
	State      string  `json:"State"`
	Reason     *string `json:"Reason"`
	ExitCode   *int    `json:"ExitCode"`
}

type outEvent struct {
	FirstTimestamp string `json:"FirstTimestamp"`
	LastTimestamp  string `json:"LastTimestamp"`
	Count          int    `json:"Count"`
	Type           string `json:"Type"`
	Reason         string `json:"Reason"`
	Message        string `json:"Message"`
}

type describeContainerLogResponse struct {
	RequestID string `json:"RequestId"`
	Content   string `json:"Content"`
}

type requestIDResponse struct {
	RequestID string `json:"RequestId"`
}

type describeRegionsResponse struct {
	RequestID string      `json:"RequestId"`
	Regions   []outRegion `json:"Regions"`
}

type outRegion struct {
	Region            string   `json:"Region"`
	RegionName        string   `json:"RegionName"`
	AvailabilityZones []string `json:"AvailabilityZones"`
}

type describeVpcsResponse struct {
	RequestID string   `json:"RequestId"`
	NextToken *string  `json:"NextToken,omitempty"`
	VpcSet    []outVpc `json:"VpcSet"`
}

type outVpc struct {
	CreateTime string `json:"CreateTime"`
	VpcID      string `json:"VpcId"`
	VpcName    string `json:"VpcName"`
	CidrBlock  string `json:"CidrBlock"`
	IsDefault  bool   `json:"IsDefault"`
}

type describeSubnetsResponse struct {
	RequestID string      `json:"RequestId"`
	NextToken *string     `json:"NextToken,omitempty"`
	SubnetSet []outSubnet `json:"SubnetSet"`
}

type outSubnet struct {
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
	AvailableIPNumber    string `json:"AvailableIpNumber"`
	NetworkACLID         string `json:"NetworkAclId"`
	NatID                string `json:"NatId"`
	RouteTableID         string `json:"RouteTableId"`
	VisitInternet        bool   `json:"VisitInternet"`
}

type describeSecurityGroupsResponse struct {
	RequestID        string                 `json:"RequestId"`
	NextToken        *string                `json:"NextToken,omitempty"`
	SecurityGroupSet []outSecurityGroupFull `json:"SecurityGroupSet"`
}

type outSecurityGroupFull struct {
	CreateTime            string     `json:"CreateTime"`
	VpcID                 string     `json:"VpcId"`
	SecurityGroupName     string     `json:"SecurityGroupName"`
	SecurityGroupID       string     `json:"SecurityGroupId"`
	Description           string     `json:"Description"`
	SecurityGroupType     string     `json:"SecurityGroupType"`
	SecurityGroupEntrySet []struct{} `json:"SecurityGroupEntrySet"`
}
