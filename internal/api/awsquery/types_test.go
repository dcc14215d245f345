package awsquery

// Request types shaped like docs/kci-api.md §2.1 and §2.2. They live in the
// tests because the real ones belong to the API package; these only need to
// exercise every shape the wire uses.

type createRequest struct {
	At                      Prefix
	ContainerGroupName      string            `query:"ContainerGroupName"`
	SubnetId                string            `query:"SubnetId"`
	MultiSubnetId           []string          `query:"MultiSubnetId"`
	SecurityGroupId         []string          `query:"SecurityGroupId"`
	KciType                 string            `query:"KciType"`
	InstanceType            string            `query:"InstanceType"`
	InstanceFamily          string            `query:"InstanceFamily"`
	ChargeType              string            `query:"ChargeType"`
	SpotStrategy            string            `query:"SpotStrategy"`
	ProjectId               *int64            `query:"ProjectId"`
	Cpu                     *float64          `query:"Cpu"`
	Memory                  *float64          `query:"Memory"`
	Gpu                     *float64          `query:"Gpu"`
	KubeConfig              string            `query:"KubeConfig"`
	RetainIp                *bool             `query:"RetainIp"`
	RetainIpHours           *int              `query:"RetainIpHours"`
	EipAllocationId         string            `query:"EipAllocationId"`
	MultiEipAllocationId    []string          `query:"MultiEipAllocationId"`
	AutoMatchImageCache     *bool             `query:"AutoMatchImageCache"`
	ImageCacheId            string            `query:"ImageCacheId"`
	AdvanceSettings         *advanceSettings  `query:"AdvanceSettings"`
	MachineDnsConfig        *dnsConfig        `query:"MachineDnsConfig"`
	MachineHostAliase       []hostAlias       `query:"MachineHostAliase,MachineHostAlias"`
	RestartPolicy           string            `query:"RestartPolicy"`
	ImageRegistryCredential []registryCred    `query:"ImageRegistryCredential"`
	Volume                  []volume          `query:"Volume"`
	Container               []container       `query:"Container"`
	DnsConfig               *dnsConfig        `query:"DnsConfig"`
	HostAliase              []hostAlias       `query:"HostAliase,HostAlias"`
	ClusterDns              string            `query:"ClusterDns"`
	ClusterDomain           string            `query:"ClusterDomain"`
	Label                   []label           `query:"Label"`
	KubeProxy               *kubeProxy        `query:"KubeProxy"`
	KlogEnabled             *bool             `query:"KlogEnabled"`
	DataDisk                []dataDisk        `query:"DataDisk"`
	ContainerSpec           []containerSpec   `query:"ContainerSpec"`
	HostPID                 *bool             `query:"HostPID"`
	InitContainer           []initContainer   `query:"InitContainer"`
	IngressBandwidth        *int64            `query:"IngressBandwidth"`
	EgressBandwidth         *int64            `query:"EgressBandwidth"`
	internal                string            // untagged: never touched
	Skipped                 map[string]string `query:"-"`
}

type advanceSettings struct {
	ImageId    string      `query:"ImageId"`
	DataDiskGb *int        `query:"DataDiskGb"`
	SystemDisk *systemDisk `query:"SystemDisk"`
}

type systemDisk struct {
	Type string `query:"Type"`
	Size *int   `query:"Size"`
}

type dnsConfig struct {
	At         Prefix
	NameServer []string    `query:"NameServer"`
	Search     []string    `query:"Search"`
	Option     []dnsOption `query:"Option"`
}

type dnsOption struct {
	At    Prefix
	Name  string `query:"Name"`
	Value string `query:"Value"`
}

type hostAlias struct {
	At       Prefix
	Ip       string   `query:"Ip"`
	Hostname []string `query:"Hostname"`
}

type registryCred struct {
	At       Prefix
	Server   string `query:"Server"`
	Username string `query:"Username"`
	Password string `query:"Password"`
}

type volume struct {
	At               Prefix
	Type             string            `query:"Type"`
	Name             string            `query:"Name"`
	ConfigFileVolume *configFileVolume `query:"ConfigFileVolume"`
	EBSVolume        *ebsVolume        `query:"EBSVolume"`
	NFSVolume        *nfsVolume        `query:"NFSVolume"`
	HostPathVolume   *hostPathVolume   `query:"HostPathVolume"`
}

type configFileVolume struct {
	ConfigFileToPath []configFilePath `query:"ConfigFileToPath,ConfigFilePath"`
	DefaultMode      *int             `query:"DefaultMode"`
}

type configFilePath struct {
	At      Prefix
	Path    string `query:"Path"`
	Content string `query:"Content"`
	Mode    *int   `query:"mode,Mode"`
}

type ebsVolume struct {
	FsType             string `query:"FsType"`
	VolumeId           string `query:"VolumeId"`
	DeleteWithInstance *bool  `query:"DeleteWithInstance"`
	Type               string `query:"Type"`
	Size               *int   `query:"Size"`
	SnapshotId         string `query:"SnapshotId"`
}

type nfsVolume struct {
	Server   string `query:"Server"`
	Path     string `query:"Path"`
	ReadOnly *bool  `query:"ReadOnly"`
}

type hostPathVolume struct {
	Path string `query:"Path"`
}

// container is an initContainer with ports and probes: the embedded
// struct's fields are Container.N's own on the wire.
type container struct {
	initContainer
	Port           []port `query:"Port"`
	LivenessProbe  *probe `query:"LivenessProbe"`
	ReadinessProbe *probe `query:"ReadinessProbe"`
}

type initContainer struct {
	At              Prefix
	Name            string           `query:"Name"`
	Command         []string         `query:"Command"`
	Arg             []string         `query:"Arg"`
	Cpu             *float64         `query:"Cpu"`
	Memory          *float64         `query:"Memory"`
	Gpu             *float64         `query:"Gpu"`
	WorkingDir      string           `query:"WorkingDir"`
	Image           string           `query:"Image"`
	ImagePullPolicy string           `query:"ImagePullPolicy"`
	EnvironmentVar  []envVar         `query:"EnvironmentVar"`
	VolumeMount     []volumeMount    `query:"VolumeMount"`
	SecurityContext *securityContext `query:"SecurityContext"`
}

type envVar struct {
	At        Prefix
	Key       string     `query:"Key"`
	Value     string     `query:"Value"`
	ValueFrom *valueFrom `query:"ValueFrom"`
}

type valueFrom struct {
	FieldRef *fieldRef `query:"FieldRef"`
}

type fieldRef struct {
	FieldPath string `query:"FieldPath"`
}

type port struct {
	At       Prefix
	Port     *int   `query:"Port"`
	Protocol string `query:"Protocol"`
}

type volumeMount struct {
	At        Prefix
	Name      string `query:"Name"`
	MountPath string `query:"MountPath"`
	ReadOnly  *bool  `query:"ReadOnly"`
}

type probe struct {
	At                  Prefix
	InitialDelaySeconds *int             `query:"InitialDelaySeconds"`
	PeriodSeconds       *int             `query:"PeriodSeconds"`
	TimeoutSeconds      *int             `query:"TimeoutSeconds"`
	SuccessThreshold    *int             `query:"SuccessThreshold"`
	FailureThreshold    *int             `query:"FailureThreshold"`
	HttpGet             *httpGetAction   `query:"HttpGet"`
	TcpSocket           *tcpSocketAction `query:"TcpSocket"`
	Exec                *execAction      `query:"Exec"`
}

type httpGetAction struct {
	Port   *int   `query:"Port"`
	Path   string `query:"Path"`
	Scheme string `query:"Scheme"`
}

type tcpSocketAction struct {
	Port *int `query:"Port"`
}

type execAction struct {
	Command []string `query:"Command"`
}

type securityContext struct {
	Privileged *bool `query:"Privileged"`
}

type label struct {
	Key   string `query:"Key"`
	Value string `query:"Value"`
}

type kubeProxy struct {
	Enabled *bool `query:"Enabled"`
}

type dataDisk struct {
	VolumeName         string `query:"VolumeName"`
	Type               string `query:"Type"`
	Size               *int   `query:"Size"`
	DeleteWithInstance *bool  `query:"DeleteWithInstance"`
	SnapshotId         string `query:"SnapshotId"`
}

type containerSpec struct {
	RequestCpu *float64 `query:"RequestCpu"`
	RequestMem *float64 `query:"RequestMem"`
	LimitCpu   *float64 `query:"LimitCpu"`
	LimitMem   *float64 `query:"LimitMem"`
}

type describeRequest struct {
	ContainerGroupId []string `query:"ContainerGroupId"`
	MaxResults       *int     `query:"MaxResults"`
	Marker           *int     `query:"Marker"`
	ProjectId        []int64  `query:"ProjectId"`
	Search           string   `query:"Search"`
	Filter           []filter `query:"Filter,max=100"`
}

type filter struct {
	At    Prefix
	Name  string   `query:"Name"`
	Value []string `query:"Value,max=100"`
}

func ptr[T any](v T) *T { return &v }
