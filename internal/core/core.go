// Package core holds OpenKCI's domain types: a container group as the API
// accepted it (spec), its network identity, and what a runtime observed of
// it (status, container states, events). It does no I/O; every other layer
// speaks these types.
package core

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// RestartPolicy says when a container of a group is restarted after it exits.
type RestartPolicy string

const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// Phase is a group's KCI Status.
type Phase string

const (
	PhasePending      Phase = "Pending"
	PhaseImagePulling Phase = "ImagePulling"
	PhaseRunning      Phase = "Running"
	PhaseSucceeded    Phase = "Succeeded"
	PhaseFailed       Phase = "Failed"
	PhaseCreateError  Phase = "CreateError"
)

// Volume types of the 2020-07-02 API.
const (
	VolumeEmptyDir   = "EmptyDirVolume"
	VolumeConfigFile = "ConfigFileVolume"
	VolumeEBS        = "EBSVolume"
	// VolumeHostPath is a directory or file of the node, bind-mounted as
	// it is; the type string is the SDK's sub-object name (kci-2026.md
	// does not state one).
	VolumeHostPath = "HostPathVolume"
	// VolumeNFS is an NFS export, mounted with the kernel's NFS client;
	// the type string is the SDK's sub-object name, as for host paths.
	VolumeNFS = "NFSVolume"
)

// Group is a container group as created: everything a runtime needs to run
// it and everything Describe echoes back. It is immutable once stored.
type Group struct {
	ID        string
	Name      string
	AccountID string
	Region    string
	Zone      string
	// ChargeType is always HourlyInstantSettlement in this API version.
	ChargeType    string
	CPU           float64 // cores
	Memory        float64 // GiB
	RestartPolicy RestartPolicy
	Network       Network
	// IngressBandwidth and EgressBandwidth are limits in Mbit/s; 0 means none.
	IngressBandwidth int64
	EgressBandwidth  int64
	DNS              *DNSConfig
	HostAliases      []HostAlias
	Credentials      []RegistryCredential
	Volumes          []Volume
	Containers       []Container
	// InitContainers run one after another, each to completion, before
	// Containers start, in the group's network and with its volumes
	// (Kubernetes' initContainers). Names are unique across both lists.
	InitContainers []Container `json:",omitempty"`
	// HostPID shares the host's PID namespace with every container of the
	// group (the operator must allow it for the account: config policy).
	HostPID bool `json:",omitempty"`
	// GPU is the number of the node's GPUs the group holds (Gpu, or the
	// sum of its containers' when Gpu is unset); they are handed out to
	// its containers (Container.GPUDevices) when the group is created.
	GPU int `json:",omitempty"`
	// ImageCacheID is the image cache of the account the group's images
	// are served from (ImageCacheId, or the one AutoMatchImageCache
	// picked); an image the cache does not hold is pulled as usual.
	ImageCacheID string `json:",omitempty"`
	// Labels are the caller's key/value labels (Label.N), in the order
	// given; keys are unique.
	Labels    []Label `json:",omitempty"`
	CreatedAt time.Time
	// ClientToken is the caller's idempotency token (the ClientToken
	// extension of CreateContainerGroup) and RequestHash the digest of the
	// request it came with; both are empty when no token was given.
	ClientToken string `json:",omitempty"`
	RequestHash string `json:",omitempty"`
	// DeletedAt is set once deletion was accepted; the group is then gone
	// from the API while its resources are released.
	DeletedAt *time.Time `json:",omitempty"`
}

// Label is one key/value label of a group, validated as Kubernetes
// validates labels.
type Label struct {
	Key, Value string
}

// Network is a group's network identity, allocated when the group is created.
type Network struct {
	VpcID            string
	VpcCIDR          string
	SubnetID         string
	SubnetCIDR       string
	Gateway          string
	PrivateIP        string
	MAC              string
	InterfaceID      string
	SecurityGroupIDs []string
}

// DNSConfig becomes the containers' resolv.conf.
type DNSConfig struct {
	NameServers []string
	Searches    []string
	Options     []DNSOption
}

// DNSOption is one resolv.conf option; Value may be empty.
type DNSOption struct {
	Name  string
	Value string
}

// HostAlias is one /etc/hosts entry.
type HostAlias struct {
	IP        string
	Hostnames []string
}

// RegistryCredential authenticates image pulls from Server.
type RegistryCredential struct {
	Server   string
	Username string
	Password string
}

// Volume is a named volume that containers of the group may mount.
type Volume struct {
	Name string
	Type string // one of the Volume* constants
	// ConfigFiles are the files of a ConfigFileVolume.
	ConfigFiles []ConfigFile
	// DefaultMode applies to ConfigFiles without a Mode (0 means 0644).
	DefaultMode uint32
	// EBS is set for an EBSVolume.
	EBS *EBSVolume
	// HostPath is the node's path of a HostPathVolume: absolute and clean,
	// under a prefix the operator allows the group's account.
	HostPath string
	// NFS is set for an NFSVolume.
	NFS *NFSVolume
}

// NFSVolume is an NFS export: Server (a host name or IP address) and the
// exported Path, mounted read-only when ReadOnly.
type NFSVolume struct {
	Server   string
	Path     string
	ReadOnly bool
}

// ConfigFile is one file of a ConfigFileVolume.
type ConfigFile struct {
	Path    string // relative to the mount point, cleaned, never escaping it
	Content []byte // decoded content
	Mode    uint32 // permission bits; 0 means the volume's DefaultMode
}

// EBSVolume is a disk mounted into the group, formatted with FsType when it
// has no file system yet: a disk the operator declared in the config
// (SizeGB 0), or a disk made on demand (DataDisk.N, or EBSVolume with Size)
// whose SizeGB and Type the runtime creates and keeps.
type EBSVolume struct {
	VolumeID string
	FsType   string
	// SizeGB > 0 marks a disk made on demand: the runtime creates it (a
	// disk of SizeGB GiB) when it does not exist yet and keeps it after
	// the group unless DeleteWithInstance.
	SizeGB int
	// Type is the disk type asked for (DataDisk.N.Type: SSD3.0, EHDD,
	// ESSD_PL0, ESSD_PL1, ESSD_PL2); only for disks made on demand.
	Type string
	// DeleteWithInstance removes a disk made on demand when this group is
	// deleted; false keeps it for a later group of the same account.
	DeleteWithInstance bool
}

// DiskTypes are the disk types DataDisk.N.Type and EBSVolume.Type accept
// (the SDK's documented values), each with the smallest size (GB) the SDK
// documents for it; the largest is MaxDiskSizeGB for all. On this
// service every type is the same kind of disk (a sparse file on
// containerd, the configured storage class on Kubernetes): the type is
// recorded and chooses the storage class, it buys no speed.
var DiskTypes = map[string]int{"SSD3.0": 10, "EHDD": 10, "ESSD_PL0": 40, "ESSD_PL1": 40, "ESSD_PL2": 461}

// MaxDiskSizeGB is the largest disk the SDK documents for any type.
const MaxDiskSizeGB = 32000

// OnDemand reports whether the disk is one the runtime makes and keeps
// (not one of the config).
func (e *EBSVolume) OnDemand() bool { return e != nil && e.SizeGB > 0 }

// Container is one container of a group.
type Container struct {
	Name            string
	Image           string
	ImagePullPolicy string
	Command         []string
	Args            []string
	Env             []EnvVar
	CPU             float64 // cores, the limit; 0 means unset
	Memory          float64 // GiB, the limit; 0 means unset
	// RequestCPU (cores) and RequestMemory (GiB) are what the container
	// is guaranteed (ContainerSpec.N); 0 means unset.
	RequestCPU    float64 `json:",omitempty"`
	RequestMemory float64 `json:",omitempty"`
	WorkingDir    string
	Ports         []Port
	VolumeMounts  []VolumeMount
	// Privileged runs the container with every capability and device of
	// the host, as Kubernetes' securityContext.privileged (the operator
	// must allow it for the account: config policy).
	Privileged bool `json:",omitempty"`
	// GPU is the number of GPUs the container asked for (Container.N.Gpu,
	// or the group's Gpu for the first container when none asked), and
	// GPUDevices the node's device paths the service allocated to it:
	// exactly GPU of them once the group is stored.
	GPU        int      `json:",omitempty"`
	GPUDevices []string `json:",omitempty"`
	// LivenessProbe, ReadinessProbe and StartupProbe check the running
	// container as Kubernetes' probes do (init containers have none):
	// a failing liveness or startup probe restarts it, readiness makes it
	// Ready, and until a startup probe succeeds the other two wait.
	LivenessProbe  *Probe `json:",omitempty"`
	ReadinessProbe *Probe `json:",omitempty"`
	StartupProbe   *Probe `json:",omitempty"`
}

// Probe is one check of a running container: exactly one of Exec,
// HTTPGet and TCPSocket, run every PeriodSeconds from InitialDelaySeconds
// after the container started, each run given TimeoutSeconds. The
// result flips to success after SuccessThreshold consecutive successes
// and to failure after FailureThreshold consecutive failures. The API
// stores probes with Kubernetes' defaults filled in (period 10, timeout 1,
// thresholds 1 and 3; HTTP path "/", scheme HTTP).
type Probe struct {
	// Exec is a command run in the container; exit status 0 is success.
	Exec []string `json:",omitempty"`
	// HTTPGet is a GET to the group's address; a status from 200 to 399
	// is success.
	HTTPGet *HTTPGetAction `json:",omitempty"`
	// TCPSocket is a connection to the group's address; one that opens
	// is success.
	TCPSocket *TCPSocketAction `json:",omitempty"`

	InitialDelaySeconds int
	PeriodSeconds       int
	TimeoutSeconds      int
	SuccessThreshold    int
	FailureThreshold    int
}

// HTTPGetAction is the request of an HTTP probe.
type HTTPGetAction struct {
	Port   int
	Path   string // absolute, "/" by default
	Scheme string // HTTP or HTTPS (certificates are not verified)
}

// TCPSocketAction is the port a TCP probe connects to.
type TCPSocketAction struct {
	Port int
}

// Probe kinds, as Kubernetes names them in events ("Liveness probe failed").
const (
	ProbeLiveness  = "Liveness"
	ProbeReadiness = "Readiness"
	ProbeStartup   = "Startup"
)

// EnvVar is one environment variable: the literal Value, or, when
// FieldPath is set, the value of that field of the group, resolved when the
// container starts (Kubernetes' valueFrom.fieldRef).
type EnvVar struct {
	Key       string
	Value     string
	FieldPath string `json:",omitempty"`
}

// Field paths an environment variable may take its value from: those of
// Kubernetes' downward API that a group has. A group has no namespace or
// annotations, so metadata.namespace and metadata.annotations['…'] are
// not among them; its labels are (FieldLabel).
const (
	FieldName     = "metadata.name" // the group's ContainerGroupName
	FieldUID      = "metadata.uid"  // the group's ContainerGroupId
	FieldPodIP    = "status.podIP"  // the group's private IP
	FieldPodIPs   = "status.podIPs" // the same (groups have one address)
	FieldNodeName = "spec.nodeName" // the node (host) the group runs on
)

// FieldPaths lists the supported field paths, in the order docs give them
// (and metadata.labels['KEY'], see FieldLabel).
var FieldPaths = []string{FieldName, FieldUID, FieldPodIP, FieldPodIPs, FieldNodeName}

// FieldLabel returns the field path of the group's label key:
// metadata.labels['KEY'], as Kubernetes writes it.
func FieldLabel(key string) string { return "metadata.labels['" + key + "']" }

// LabelOfField returns the label key of a metadata.labels['KEY'] path.
func LabelOfField(path string) (key string, ok bool) {
	rest, ok := strings.CutPrefix(path, "metadata.labels['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// FieldValue resolves a field path of g on node (see FieldPaths and
// FieldLabel): a label the group does not have is "", as in Kubernetes.
func (g *Group) FieldValue(path, node string) (string, bool) {
	switch path {
	case FieldName:
		return g.Name, true
	case FieldUID:
		return g.ID, true
	case FieldPodIP, FieldPodIPs:
		return g.Network.PrivateIP, true
	case FieldNodeName:
		return node, true
	}
	key, ok := LabelOfField(path)
	if !ok {
		return "", false
	}
	for _, l := range g.Labels {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", true
}

// Port is a port the container listens on, on the group's IP.
type Port struct {
	Port     int
	Protocol string // TCP or UDP
}

// VolumeMount mounts a group volume into a container.
type VolumeMount struct {
	Name      string
	MountPath string
	ReadOnly  bool
}

// GroupStatus is what a runtime observed of a group.
type GroupStatus struct {
	Phase         Phase
	SucceededTime *time.Time
	Containers    []ContainerStatus
	// InitContainers are the states of the group's init containers, in
	// order; a completed one shows terminated Completed.
	InitContainers []ContainerStatus
	Events         []Event
	// Timeline is the group's first start, step by step, as far as the
	// runtime observes it.
	Timeline StartTimeline
}

// Ready reports the group's readiness, Kubernetes' pod Ready condition:
// the group is Running and every container is Ready.
func (s GroupStatus) Ready() bool {
	if s.Phase != PhaseRunning || len(s.Containers) == 0 {
		return false
	}
	for _, c := range s.Containers {
		if !c.Ready {
			return false
		}
	}
	return true
}

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name         string
	RestartCount int
	Current      *ContainerState
	Previous     *ContainerState
	// Ready is Kubernetes' container readiness: running, its startup
	// probe (if any) passed and its readiness probe (if any) passing.
	Ready bool
}

// Container state names, as in Kubernetes.
const (
	StateWaiting    = "waiting"
	StateRunning    = "running"
	StateTerminated = "terminated"
)

// ContainerState is one state of a container (waiting, running or terminated).
type ContainerState struct {
	State      string
	Reason     string
	ExitCode   *int
	StartTime  *time.Time
	FinishTime *time.Time
}

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Event is a group event, aggregated by Type, Reason and Message.
type Event struct {
	Type           string
	Reason         string
	Message        string
	Count          int
	FirstTimestamp time.Time
	LastTimestamp  time.Time
}

// VPC is a virtual network of one account in one region.
type VPC struct {
	ID        string
	Name      string
	AccountID string
	Region    string
	CIDR      string
	IsDefault bool
	// Configured: declared in kcid's config or made as the account's
	// default network; the API cannot delete it.
	Configured bool
	CreatedAt  time.Time
}

// Subnet is a range of a VPC in one availability zone.
type Subnet struct {
	ID      string
	Name    string
	VpcID   string
	CIDR    string
	Zone    string
	Gateway string
	// DNS1 and DNS2 are the subnet's name servers (IPv4 addresses, either
	// may be empty): the name servers of groups created in it afterwards
	// whose DnsConfig names none (docs/networking.md).
	DNS1, DNS2 string
	// Configured: as VPC.Configured.
	Configured bool
	CreatedAt  time.Time
}

// SecurityGroup is a security group of a VPC.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	VpcID       string
	// Configured: declared in kcid's config (or made as an account's
	// default network), not through the API; the API cannot delete it.
	Configured bool
	Rules      []SecurityGroupRule
	CreatedAt  time.Time
}

// SecurityGroupRule is one entry of a security group (KCI's
// SecurityGroupEntry). Protocol is "ip" (all), "tcp", "udp" or "icmp";
// ports apply to tcp and udp, IcmpType and IcmpCode (-1: any) to icmp.
type SecurityGroupRule struct {
	ID          string
	Direction   string // "in" or "out"
	Protocol    string
	CIDR        string
	PortFrom    int
	PortTo      int
	IcmpType    int
	IcmpCode    int
	Description string
	Priority    int
	Policy      string
	RuleTag     string
	CreatedAt   time.Time
}

// Disk is an EBS volume an account may mount into its groups: one the
// operator declared in the config, or one a runtime made on demand.
type Disk struct {
	ID        string
	AccountID string
	Zone      string
	SizeGB    int
	// Type and FsType of a disk made on demand.
	Type   string
	FsType string
	// GroupID is the group a disk made on demand is mounted by; "" while
	// it is kept for a later group.
	GroupID string
}

// Before orders groups as Describe lists them: oldest first, ID breaking
// ties, so paging with Marker is stable.
func (g *Group) Before(o *Group) bool {
	if !g.CreatedAt.Equal(o.CreatedAt) {
		return g.CreatedAt.Before(o.CreatedAt)
	}
	return g.ID < o.ID
}

// FormatAmount renders a CPU or memory amount for messages: at most 3
// decimals (the API's precision), no trailing zeros.
func FormatAmount(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

// NameServerAddr reads a subnet's name server (Dns1, Dns2): an IPv4
// address other than 0.0.0.0. The API, the config and kcictl check it
// with this one rule.
func NameServerAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Is4() && !a.IsUnspecified()
}

// BroadcastAddr is the last address of an IPv4 prefix.
func BroadcastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(a)
}

// AllContainers returns the group's init containers, then its containers
// (a new slice; the elements are copies).
func (g *Group) AllContainers() []Container {
	return append(append(make([]Container, 0, len(g.InitContainers)+len(g.Containers)), g.InitContainers...), g.Containers...)
}
