// Package config owns kcid's configuration file: its YAML schema, defaults
// and validation. Nothing here touches the network or the data dir.
package config

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openkci/openkci/internal/core"
)

// Config is the whole kcid configuration file.
type Config struct {
	// Regions served; default: the spec's table.
	Regions []Region `yaml:"regions"`
	// Accounts and their access keys. Empty: one default account whose key
	// comes from the environment or is generated on first start.
	Accounts []Account `yaml:"accounts"`
	// Networks that groups can be placed in. Empty: a default VPC, subnet
	// and security group are created per account on first start.
	VPCs           []VPC           `yaml:"vpcs"`
	Subnets        []Subnet        `yaml:"subnets"`
	SecurityGroups []SecurityGroup `yaml:"securityGroups"`
	// RateLimit bounds requests per access key.
	RateLimit RateLimit `yaml:"rateLimit"`
	// Limits bound what clients, before and after authentication, can make
	// kcid hold: connections, requests in flight, request bodies, time.
	Limits Limits `yaml:"limits"`
	// Node is the capacity of this machine for groups.
	Node Node `yaml:"node"`
	// StopGracePeriod is how long a deleted group's containers get between
	// SIGTERM and SIGKILL.
	StopGracePeriod Duration `yaml:"stopGracePeriod"`
	// ContainerLogMaxBytes caps each container's current log file
	// (containerd runtime); one rotated file of at most the same size is
	// kept, so a container's log takes at most twice this on disk.
	ContainerLogMaxBytes int64 `yaml:"containerLogMaxBytes"`
	// ResyncInterval is how often each runtime compares what runs with
	// what it recorded, besides reacting to events: a task, container or
	// pod removed out of band is found within this time.
	ResyncInterval Duration `yaml:"resyncInterval"`
	// InsecureRegistries may be reached over plain HTTP (localhost and
	// 127.0.0.1 always may).
	InsecureRegistries []string `yaml:"insecureRegistries"`
	// Disks are the EBS volumes groups may mount.
	Disks []Disk `yaml:"disks"`
	// OnDemandDisks bounds the disks groups create (DataDisk.N, and
	// EBSVolume with Size) and says where they come from on Kubernetes.
	OnDemandDisks OnDemandDisks `yaml:"onDemandDisks"`
	// Policy says which accounts may create groups that reach into the
	// host (privileged containers, the host's PID namespace).
	Policy Policy `yaml:"policy"`
	// Packages are the standard sizes DescribeKciPackages lists (default
	// DefaultPackages); those larger than the node are not listed.
	// CreateContainerGroup accepts any size within its limits, not only
	// these (docs/api.md, DescribeKciPackages).
	Packages []Package `yaml:"packages"`
	// Exec configures ExecContainerCommand's tokens and sockets.
	Exec Exec `yaml:"exec"`
	// Metrics configures GET /metrics (docs/metrics.md).
	Metrics Metrics `yaml:"metrics"`
	// AcceptUnenforcedSecurityGroupRules lets AuthorizeSecurityGroupEntry
	// store rules where the runtime cannot filter traffic with them (both
	// of kcid's runtimes do: it matters only for a runtime that does not,
	// docs/networking.md). Off by default: a rule that is answered 200 and
	// then filters nothing is a silent drop.
	AcceptUnenforcedSecurityGroupRules bool `yaml:"acceptUnenforcedSecurityGroupRules"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen, if set, serves /metrics on this address of its own instead
	// of the API's (e.g. 127.0.0.1:9464, to keep it off an exposed API
	// port).
	Listen string `yaml:"listen"`
	// Token, if set, is required as "Authorization: Bearer TOKEN".
	Token string `yaml:"token"`
	// UsageResolution is how often each group's usage is sampled for
	// DescribeContainerGroupMetric and the per-group series (default 15s,
	// at least 1s); an hour of samples is kept.
	UsageResolution Duration `yaml:"usageResolution"`
}

// Package is a standard size: CPU cores with each of Memory (GiB).
type Package struct {
	CPU    float64   `yaml:"cpu"`
	Memory []float64 `yaml:"memory"`
}

// DefaultPackages are the sizes listed when the config gives none: the
// usual 1:2, 1:4 and 1:8 ratios of CPU to memory from a quarter core to 64
// cores, as cloud container services offer them.
var DefaultPackages = func() []Package {
	var out []Package
	for _, cpu := range []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64} {
		out = append(out, Package{CPU: cpu, Memory: []float64{cpu * 2, cpu * 4, cpu * 8}})
	}
	return out
}()

// Region is one region with its availability zones.
type Region struct {
	Name  string   `yaml:"name"`
	Zones []string `yaml:"zones"`
}

// Account is a tenant.
type Account struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	Keys []Key  `yaml:"keys"`
}

// Key is an access key of an account.
type Key struct {
	AccessKeyID     string `yaml:"accessKeyId"`
	SecretAccessKey string `yaml:"secretAccessKey"`
	// Actions this key may call; empty means all. A trailing * matches a
	// prefix ("Describe*").
	Actions []string `yaml:"actions"`
}

// VPC is a virtual network of one account in one region.
type VPC struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	Account string `yaml:"account"`
	Region  string `yaml:"region"`
	CIDR    string `yaml:"cidr"`
}

// Subnet is a range of a VPC in one zone; group IPs come from it.
type Subnet struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	VPC     string `yaml:"vpc"`
	CIDR    string `yaml:"cidr"`
	Zone    string `yaml:"zone"`
	Gateway string `yaml:"gateway"`
	// DNS1 and DNS2 are the subnet's name servers (IPv4), as CreateSubnet's
	// Dns1 and Dns2: those of groups created in it whose DnsConfig names
	// none. Empty: the node's.
	DNS1 string `yaml:"dns1"`
	DNS2 string `yaml:"dns2"`
}

// SecurityGroup is a named security group of a VPC.
type SecurityGroup struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	VPC  string `yaml:"vpc"`
}

// RateLimit is a token bucket per access key.
type RateLimit struct {
	// Mutating calls (Create*, Delete*).
	MutatingPerSecond float64 `yaml:"mutatingPerSecond"`
	MutatingBurst     int     `yaml:"mutatingBurst"`
	// Read calls (Describe*).
	ReadPerSecond float64 `yaml:"readPerSecond"`
	ReadBurst     int     `yaml:"readBurst"`
}

// Limits bound the HTTP edge. Clients are told apart by their IP address
// (kcid trusts no forwarding header). Zero fields take the defaults below.
type Limits struct {
	// MaxBodyBytes bounds one request body (default 4 MiB).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// BodyBufferBytes bounds the bodies of all requests held in memory at
	// once (default 64 MiB); past it, requests are refused, not queued.
	BodyBufferBytes int64 `yaml:"bodyBufferBytes"`
	// UnsignedBodyBufferBytes is the share of it for bodies read before any
	// key was checked, i.e. requests whose head carries no signature (only a
	// form body's simplified signature can follow) (default 16 MiB).
	UnsignedBodyBufferBytes int64 `yaml:"unsignedBodyBufferBytes"`
	// MaxConns bounds open connections (default 1024); MaxConnsPerClient
	// those of one IP address (default 256). Connections over either are
	// closed as soon as they are accepted.
	MaxConns          int `yaml:"maxConns"`
	MaxConnsPerClient int `yaml:"maxConnsPerClient"`
	// MaxInFlightPerClient bounds the requests of one IP address being
	// served at once (default 128).
	MaxInFlightPerClient int `yaml:"maxInFlightPerClient"`
	// HeaderTimeout bounds reading a request's head (default 10s),
	// BodyTimeout its body (default 30s), IdleTimeout a keep-alive
	// connection's wait for the next request (default 120s), WriteTimeout
	// writing a response (default 60s).
	HeaderTimeout Duration `yaml:"headerTimeout"`
	BodyTimeout   Duration `yaml:"bodyTimeout"`
	IdleTimeout   Duration `yaml:"idleTimeout"`
	WriteTimeout  Duration `yaml:"writeTimeout"`
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *Duration, d time.Duration) {
		if *v == 0 {
			*v = Duration(d)
		}
	}
	def(&l.MaxBodyBytes, 4<<20)
	def(&l.BodyBufferBytes, 64<<20)
	def(&l.UnsignedBodyBufferBytes, 16<<20)
	defInt(&l.MaxConns, 1024)
	defInt(&l.MaxConnsPerClient, 256)
	defInt(&l.MaxInFlightPerClient, 128)
	defDur(&l.HeaderTimeout, 10*time.Second)
	defDur(&l.BodyTimeout, 30*time.Second)
	defDur(&l.IdleTimeout, 120*time.Second)
	defDur(&l.WriteTimeout, 60*time.Second)
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MaxBodyBytes < 0 || l.BodyBufferBytes < 0 || l.UnsignedBodyBufferBytes < 0 || l.MaxConns < 0 ||
		l.MaxConnsPerClient < 0 || l.MaxInFlightPerClient < 0 || l.HeaderTimeout < 0 || l.BodyTimeout < 0 ||
		l.IdleTimeout < 0 || l.WriteTimeout < 0:
		return fmt.Errorf("limits: values must not be negative")
	case l.BodyBufferBytes < l.MaxBodyBytes:
		return fmt.Errorf("limits: bodyBufferBytes (%d) must hold at least one body of maxBodyBytes (%d)", l.BodyBufferBytes, l.MaxBodyBytes)
	case l.UnsignedBodyBufferBytes > l.BodyBufferBytes:
		return fmt.Errorf("limits: unsignedBodyBufferBytes (%d) is a share of bodyBufferBytes (%d) and cannot exceed it", l.UnsignedBodyBufferBytes, l.BodyBufferBytes)
	case l.MaxConnsPerClient > l.MaxConns:
		return fmt.Errorf("limits: maxConnsPerClient (%d) cannot exceed maxConns (%d)", l.MaxConnsPerClient, l.MaxConns)
	}
	return nil
}

// Policy lists, per host-reaching setting, the accounts allowed to use
// it; "*" allows every account. Default: nobody.
type Policy struct {
	// PrivilegedAccounts may run containers with
	// SecurityContext.Privileged: every capability and device of the host.
	PrivilegedAccounts []string `yaml:"privilegedAccounts"`
	// HostPIDAccounts may create groups with HostPID: their containers
	// see and can signal every process of the host.
	HostPIDAccounts []string `yaml:"hostPIDAccounts"`
	// HostPathPrefixes are, by account id ("*": every account), the
	// absolute, clean host directories under which that account's groups
	// may mount HostPathVolumes (symlinks resolved on containerd).
	HostPathPrefixes map[string][]string `yaml:"hostPathPrefixes"`
}

// Node is the capacity offered to groups: the machine's CPUs and memory
// (or the configured ones) times an overcommit ratio each. The sum of the
// live groups' Cpu and Memory may reach that product; each container's
// own limits are still enforced by its cgroup.
type Node struct {
	CPU    float64 `yaml:"cpu"`    // cores; 0 means the machine's
	Memory float64 `yaml:"memory"` // GiB; 0 means the machine's
	// CPUOvercommit multiplies CPU; 0 means DefaultCPUOvercommit.
	CPUOvercommit float64 `yaml:"cpuOvercommit"`
	// MemoryOvercommit multiplies Memory; 0 means DefaultMemoryOvercommit.
	MemoryOvercommit float64 `yaml:"memoryOvercommit"`
	// GPUs are the node's GPUs groups may ask for (Gpu,
	// Container.N.Gpu); none declared: those fields are refused.
	GPUs GPUs `yaml:"gpus"`
}

// GPUs declares the node's GPUs. For the containerd runtime each of
// Devices is one GPU, handed to at most one live group at a time, and
// ExtraDevices (the driver's control devices) are added to every
// container that got a GPU; all must be character devices when kcid
// starts. For the Kubernetes runtime KubernetesResource is the extended
// resource containers ask the cluster for (the scheduler and the device
// plugin then place and hand out the GPUs).
type GPUs struct {
	// Type names the GPUs for operators (e.g. "NVIDIA A10"); kcid only
	// logs it (no KCI SDK field selects a GPU type).
	Type         string   `yaml:"type"`
	Devices      []string `yaml:"devices"`      // e.g. /dev/nvidia0
	ExtraDevices []string `yaml:"extraDevices"` // e.g. /dev/nvidiactl, /dev/nvidia-uvm
	// KubernetesResource is e.g. nvidia.com/gpu.
	KubernetesResource string `yaml:"kubernetesResource"`
}

// Declared reports whether the node offers GPUs to groups.
func (g GPUs) Declared() bool { return len(g.Devices) > 0 || g.KubernetesResource != "" }

// extendedResourceRe is a Kubernetes extended resource name: a domain,
// a slash and a name.
var extendedResourceRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// validate refuses a device that is not an absolute, clean path to a
// character device, or one listed twice.
func (g GPUs) validate() error {
	switch {
	case g.KubernetesResource != "" && len(g.Devices)+len(g.ExtraDevices) > 0:
		return fmt.Errorf("node.gpus: devices and extraDevices are for the containerd runtime, kubernetesResource for the Kubernetes runtime; give one of them")
	case g.KubernetesResource != "" && (!extendedResourceRe.MatchString(g.KubernetesResource) || strings.HasPrefix(g.KubernetesResource, "kubernetes.io/")):
		return fmt.Errorf("node.gpus.kubernetesResource: %q is not an extended resource name (domain/name, e.g. nvidia.com/gpu)", g.KubernetesResource)
	}
	if len(g.Devices) == 0 && len(g.ExtraDevices) > 0 {
		return fmt.Errorf("node.gpus: extraDevices without devices: list each GPU's device under node.gpus.devices")
	}
	seen := map[string]bool{}
	for _, l := range []struct {
		key   string
		paths []string
	}{{"node.gpus.devices", g.Devices}, {"node.gpus.extraDevices", g.ExtraDevices}} {
		for _, p := range l.paths {
			if !path.IsAbs(p) || path.Clean(p) != p {
				return fmt.Errorf("%s: %q is not an absolute, clean path", l.key, p)
			}
			if seen[p] {
				return fmt.Errorf("%s: %q is listed twice", l.key, p)
			}
			seen[p] = true
			fi, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("%s: %w (is the GPU driver loaded?)", l.key, err)
			}
			if fi.Mode()&os.ModeCharDevice == 0 {
				return fmt.Errorf("%s: %s is not a character device (mode %s); list the GPU's device node, e.g. /dev/nvidia0", l.key, p, fi.Mode())
			}
		}
	}
	return nil
}

// The default overcommit ratios let a developer machine of 2 cores and
// 24 GiB accept 50 groups of Cpu=1, Memory=2, the size the SDKs' examples
// send: 2 × 25 = 50 cores, 24 × 5 = 120 GiB. Idle groups use little of
// what they ask; a busy one is held to its own limits by its cgroup.
const (
	DefaultCPUOvercommit    = 25
	DefaultMemoryOvercommit = 5
)

// OnDemandDisks configures disks made for groups on demand.
type OnDemandDisks struct {
	// MaxSizeGB bounds one disk (default 500; the SDK's types allow
	// 10–32000 depending on the type).
	MaxSizeGB int `yaml:"maxSizeGb"`
	// MaxPerGroup bounds the disks of one group, those of the config
	// included (default 8, the SDK's DataDisk limit).
	MaxPerGroup int `yaml:"maxPerGroup"`
	// MaxPerAccount bounds the disks made on demand that an account holds
	// at once, mounted or kept (default 20).
	MaxPerAccount int `yaml:"maxPerAccount"`
	// StorageClasses name, by disk type ("*": every other type), the
	// Kubernetes StorageClass of a disk's PersistentVolumeClaim; a type
	// with no class (the default) uses the cluster's default class.
	StorageClasses map[string]string `yaml:"storageClasses"`
}

// Defaults of OnDemandDisks.
const (
	DefaultDiskMaxSizeGB     = 500
	DefaultDiskMaxPerGroup   = 8
	DefaultDiskMaxPerAccount = 20
)

// Disk is an EBS volume backed by a sparse file on this machine.
type Disk struct {
	ID      string `yaml:"id"`
	Account string `yaml:"account"`
	Zone    string `yaml:"zone"`
	SizeGB  int    `yaml:"sizeGb"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// DefaultRegions is the region table of the 2020-07-02 spec.
var DefaultRegions = []Region{
	{Name: "cn-beijing-6", Zones: []string{"cn-beijing-6a", "cn-beijing-6b"}},
	{Name: "cn-shanghai-2", Zones: []string{"cn-shanghai-2b"}},
}

// DefaultAccountID is the ID of the account made when none is configured.
const DefaultAccountID = "2000000001"

// Load reads and validates a config file; an empty path gives the defaults.
func Load(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && err.Error() != "EOF" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, err
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	if len(c.Regions) == 0 {
		c.Regions = DefaultRegions
	}
	if len(c.Packages) == 0 {
		c.Packages = DefaultPackages
	}
	if c.RateLimit.MutatingPerSecond == 0 {
		c.RateLimit.MutatingPerSecond = 20
	}
	if c.RateLimit.MutatingBurst == 0 {
		c.RateLimit.MutatingBurst = 100
	}
	if c.RateLimit.ReadPerSecond == 0 {
		c.RateLimit.ReadPerSecond = 100
	}
	if c.RateLimit.ReadBurst == 0 {
		c.RateLimit.ReadBurst = 200
	}
	c.Exec.applyDefaults()
	if c.StopGracePeriod == 0 {
		c.StopGracePeriod = Duration(30 * time.Second)
	}
	c.Limits = c.Limits.WithDefaults()
	if c.ContainerLogMaxBytes == 0 {
		c.ContainerLogMaxBytes = DefaultContainerLogMaxBytes
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = Duration(DefaultResyncInterval)
	}
	if c.Node.CPUOvercommit == 0 {
		c.Node.CPUOvercommit = DefaultCPUOvercommit
	}
	if c.Node.MemoryOvercommit == 0 {
		c.Node.MemoryOvercommit = DefaultMemoryOvercommit
	}
	for i := range c.VPCs {
		if c.VPCs[i].Account == "" && len(c.Accounts) <= 1 {
			c.VPCs[i].Account = c.defaultAccount()
		}
		if c.VPCs[i].Region == "" {
			c.VPCs[i].Region = c.Regions[0].Name
		}
	}
	c.OnDemandDisks = c.OnDemandDisks.WithDefaults()
	for i := range c.Disks {
		if c.Disks[i].Account == "" && len(c.Accounts) <= 1 {
			c.Disks[i].Account = c.defaultAccount()
		}
	}
}

func (c *Config) defaultAccount() string {
	if len(c.Accounts) == 1 {
		return c.Accounts[0].ID
	}
	return DefaultAccountID
}

var (
	accountIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	resourceRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// Disk IDs name files and loop devices: no dots, containerd's
	// identifier rules otherwise.
	diskIDRe = regexp.MustCompile(`^[A-Za-z0-9]+([_-][A-Za-z0-9]+)*$`)
)

// Defaults of the runtime settings.
const (
	DefaultContainerLogMaxBytes = 10 << 20
	DefaultResyncInterval       = 30 * time.Second
	// MinContainerLogMaxBytes: a smaller cap would rotate at every line.
	MinContainerLogMaxBytes = 4 << 10
	// MinResyncInterval: resyncs list every task or pod; faster ones would
	// load containerd or the apiserver for little.
	MinResyncInterval = time.Second
)

// Validate checks references, CIDRs and uniqueness.
func (c *Config) Validate() error {
	if c.ContainerLogMaxBytes < MinContainerLogMaxBytes {
		return fmt.Errorf("containerLogMaxBytes: %d is below the minimum of %d bytes", c.ContainerLogMaxBytes, MinContainerLogMaxBytes)
	}
	if time.Duration(c.ResyncInterval) < MinResyncInterval {
		return fmt.Errorf("resyncInterval: %s is below the minimum of %s", time.Duration(c.ResyncInterval), MinResyncInterval)
	}
	if r := time.Duration(c.Metrics.UsageResolution); r != 0 && r < time.Second {
		return fmt.Errorf("metrics.usageResolution: %s is below the minimum of 1s", r)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %q is not host:port: %w", c.Metrics.Listen, err)
		}
	}
	zones := map[string]string{} // zone → region
	for _, r := range c.Regions {
		if r.Name == "" || len(r.Zones) == 0 {
			return fmt.Errorf("regions: each region needs a name and at least one zone")
		}
		for _, z := range r.Zones {
			if _, dup := zones[z]; dup {
				return fmt.Errorf("regions: zone %q listed twice", z)
			}
			zones[z] = r.Name
		}
	}
	accounts := map[string]bool{}
	keys := map[string]bool{}
	for _, a := range c.Accounts {
		if !accountIDRe.MatchString(a.ID) {
			return fmt.Errorf("accounts: invalid account id %q (letters, digits, - and _)", a.ID)
		}
		if accounts[a.ID] {
			return fmt.Errorf("accounts: account %q listed twice", a.ID)
		}
		accounts[a.ID] = true
		for _, k := range a.Keys {
			if k.AccessKeyID == "" || len(k.SecretAccessKey) < 8 {
				return fmt.Errorf("accounts: account %q: each key needs accessKeyId and a secretAccessKey of at least 8 characters", a.ID)
			}
			if keys[k.AccessKeyID] {
				return fmt.Errorf("accounts: access key %q listed twice", k.AccessKeyID)
			}
			keys[k.AccessKeyID] = true
		}
	}
	if len(c.Accounts) == 0 {
		accounts[DefaultAccountID] = true
	}
	for _, l := range []struct {
		name string
		ids  []string
	}{{"policy.privilegedAccounts", c.Policy.PrivilegedAccounts}, {"policy.hostPIDAccounts", c.Policy.HostPIDAccounts}} {
		for _, id := range l.ids {
			if id != "*" && !accounts[id] {
				return fmt.Errorf("%s: %q is not an account of this config (give account ids, or \"*\" for every account)", l.name, id)
			}
		}
	}
	for id, prefixes := range c.Policy.HostPathPrefixes {
		if id != "*" && !accounts[id] {
			return fmt.Errorf("policy.hostPathPrefixes: %q is not an account of this config (give account ids, or \"*\" for every account)", id)
		}
		for _, p := range prefixes {
			if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
				return fmt.Errorf("policy.hostPathPrefixes[%s]: %q must be an absolute, clean directory other than / (e.g. /srv/kci)", id, p)
			}
		}
	}
	ids := map[string]string{}
	claim := func(kind, id string) error {
		if !resourceRe.MatchString(id) {
			return fmt.Errorf("%s: invalid id %q", kind, id)
		}
		if prev, dup := ids[id]; dup {
			return fmt.Errorf("%s: id %q already used by a %s", kind, id, prev)
		}
		ids[id] = kind
		return nil
	}
	vpcs := map[string]VPC{}
	for _, v := range c.VPCs {
		if err := claim("vpcs", v.ID); err != nil {
			return err
		}
		if !accounts[v.Account] {
			return fmt.Errorf("vpcs: vpc %q names unknown account %q", v.ID, v.Account)
		}
		if _, err := netip.ParsePrefix(v.CIDR); err != nil {
			return fmt.Errorf("vpcs: vpc %q: cidr: %w", v.ID, err)
		}
		if !c.servesRegion(v.Region) {
			return fmt.Errorf("vpcs: vpc %q names unknown region %q", v.ID, v.Region)
		}
		vpcs[v.ID] = v
	}
	var subnetPrefixes []netip.Prefix
	for _, s := range c.Subnets {
		if err := claim("subnets", s.ID); err != nil {
			return err
		}
		v, ok := vpcs[s.VPC]
		if !ok {
			return fmt.Errorf("subnets: subnet %q names unknown vpc %q", s.ID, s.VPC)
		}
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			return fmt.Errorf("subnets: subnet %q: cidr: %w", s.ID, err)
		}
		if !p.Addr().Is4() || p.Bits() > 29 || p.Masked() != p {
			return fmt.Errorf("subnets: subnet %q: cidr %s must be an IPv4 network of /29 or larger", s.ID, s.CIDR)
		}
		vp := netip.MustParsePrefix(v.CIDR)
		if !vp.Contains(p.Addr()) || vp.Bits() > p.Bits() {
			return fmt.Errorf("subnets: subnet %q: cidr %s is not inside vpc %q (%s)", s.ID, s.CIDR, v.ID, v.CIDR)
		}
		for _, other := range subnetPrefixes {
			if other.Overlaps(p) {
				return fmt.Errorf("subnets: subnet %q: cidr %s overlaps %s", s.ID, s.CIDR, other)
			}
		}
		subnetPrefixes = append(subnetPrefixes, p)
		if zones[s.Zone] != v.Region {
			return fmt.Errorf("subnets: subnet %q: zone %q is not a zone of region %q", s.ID, s.Zone, v.Region)
		}
		if s.Gateway != "" {
			gw, err := netip.ParseAddr(s.Gateway)
			if err != nil || !p.Contains(gw) || gw == p.Addr() || gw == core.BroadcastAddr(p) {
				return fmt.Errorf("subnets: subnet %q: gateway %q is not a host address inside %s", s.ID, s.Gateway, s.CIDR)
			}
		}
		for _, ns := range []struct{ key, addr string }{{"dns1", s.DNS1}, {"dns2", s.DNS2}} {
			if ns.addr == "" {
				continue
			}
			if _, ok := core.NameServerAddr(ns.addr); !ok {
				return fmt.Errorf("subnets: subnet %q: %s %q is not an IPv4 address of a name server such as 10.0.0.2", s.ID, ns.key, ns.addr)
			}
		}
	}
	for _, g := range c.SecurityGroups {
		if err := claim("securityGroups", g.ID); err != nil {
			return err
		}
		if _, ok := vpcs[g.VPC]; !ok {
			return fmt.Errorf("securityGroups: security group %q names unknown vpc %q", g.ID, g.VPC)
		}
	}
	for _, d := range c.Disks {
		if !diskIDRe.MatchString(d.ID) || len(d.ID) > 76 {
			return fmt.Errorf("disks: invalid id %q (at most 76 letters and digits, '-' or '_' between them)", d.ID)
		}
		if err := claim("disks", d.ID); err != nil {
			return err
		}
		if !accounts[d.Account] {
			return fmt.Errorf("disks: disk %q names unknown account %q", d.ID, d.Account)
		}
		if _, ok := zones[d.Zone]; !ok {
			return fmt.Errorf("disks: disk %q names unknown zone %q", d.ID, d.Zone)
		}
		if d.SizeGB < 1 || d.SizeGB > 32000 {
			return fmt.Errorf("disks: disk %q: sizeGb must be 1..32000", d.ID)
		}
	}
	if err := c.OnDemandDisks.validate(); err != nil {
		return err
	}
	if c.RateLimit.MutatingPerSecond < 0 || c.RateLimit.ReadPerSecond < 0 || c.RateLimit.MutatingBurst < 0 || c.RateLimit.ReadBurst < 0 {
		return fmt.Errorf("rateLimit: values must not be negative")
	}
	if err := validatePackages(c.Packages); err != nil {
		return err
	}
	if c.Node.CPU < 0 || c.Node.Memory < 0 {
		return fmt.Errorf("node: cpu and memory must not be negative")
	}
	if c.Node.CPUOvercommit < 0 || c.Node.MemoryOvercommit < 0 {
		return fmt.Errorf("node: cpuOvercommit and memoryOvercommit must not be negative (1 offers exactly the machine; 0 or absent means the defaults %d and %d)", DefaultCPUOvercommit, DefaultMemoryOvercommit)
	}
	if err := c.Node.GPUs.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	return c.Exec.validate()
}

func (c *Config) servesRegion(name string) bool {
	for _, r := range c.Regions {
		if r.Name == name {
			return true
		}
	}
	return false
}

// WithDefaults returns d with every zero bound set to its default.
func (d OnDemandDisks) WithDefaults() OnDemandDisks {
	if d.MaxSizeGB == 0 {
		d.MaxSizeGB = DefaultDiskMaxSizeGB
	}
	if d.MaxPerGroup == 0 {
		d.MaxPerGroup = DefaultDiskMaxPerGroup
	}
	if d.MaxPerAccount == 0 {
		d.MaxPerAccount = DefaultDiskMaxPerAccount
	}
	return d
}

func (d OnDemandDisks) validate() error {
	if d.MaxSizeGB < 0 || d.MaxSizeGB > core.MaxDiskSizeGB {
		return fmt.Errorf("onDemandDisks: maxSizeGb must be 1..%d (absent: %d)", core.MaxDiskSizeGB, DefaultDiskMaxSizeGB)
	}
	if d.MaxPerGroup < 0 || d.MaxPerAccount < 0 {
		return fmt.Errorf("onDemandDisks: maxPerGroup and maxPerAccount must not be negative (absent: %d and %d)", DefaultDiskMaxPerGroup, DefaultDiskMaxPerAccount)
	}
	for t, class := range d.StorageClasses {
		if _, ok := core.DiskTypes[t]; !ok && t != "*" {
			return fmt.Errorf("onDemandDisks: storageClasses: %q is not a disk type (SSD3.0, EHDD, ESSD_PL0, ESSD_PL1, ESSD_PL2, or \"*\" for the others)", t)
		}
		if class == "" {
			return fmt.Errorf("onDemandDisks: storageClasses: %q has an empty class (leave the type out to use the cluster's default class)", t)
		}
	}
	return nil
}

// CoreDisks returns the declared disks as domain values.
func (c *Config) CoreDisks() []core.Disk {
	var out []core.Disk
	for _, d := range c.Disks {
		out = append(out, core.Disk{ID: d.ID, AccountID: d.Account, Zone: d.Zone, SizeGB: d.SizeGB})
	}
	return out
}

// validatePackages checks sizes as CreateContainerGroup would accept them:
// at most 256 cores and 512 GiB, at most 3 decimals, each CPU once.
func validatePackages(ps []Package) error {
	seen := map[float64]bool{}
	ok := func(v, max float64) bool {
		return v > 0 && v <= max && math.Abs(v*1000-math.Round(v*1000)) < 1e-6
	}
	for i, p := range ps {
		switch {
		case !ok(p.CPU, 256):
			return fmt.Errorf("packages[%d].cpu %v: want more than 0 and at most 256 cores, with at most 3 decimals", i, p.CPU)
		case seen[p.CPU]:
			return fmt.Errorf("packages[%d].cpu %v is listed twice", i, p.CPU)
		case len(p.Memory) == 0:
			return fmt.Errorf("packages[%d] (cpu %v) lists no memory sizes", i, p.CPU)
		}
		seen[p.CPU] = true
		for _, m := range p.Memory {
			if !ok(m, 512) {
				return fmt.Errorf("packages[%d].memory %v: want more than 0 and at most 512 GiB, with at most 3 decimals", i, m)
			}
		}
	}
	return nil
}

// OfferedPackages are the packages that fit a node of cpu cores and memGiB
// GiB (0: unbounded), sorted by CPU, memory sizes ascending.
func OfferedPackages(ps []Package, cpu, memGiB float64) []Package {
	var out []Package
	for _, p := range ps {
		if cpu > 0 && p.CPU > cpu {
			continue
		}
		var mem []float64
		for _, m := range p.Memory {
			if memGiB <= 0 || m <= memGiB {
				mem = append(mem, m)
			}
		}
		if len(mem) > 0 {
			slices.Sort(mem)
			out = append(out, Package{CPU: p.CPU, Memory: slices.Compact(mem)})
		}
	}
	slices.SortFunc(out, func(a, b Package) int { return cmp.Compare(a.CPU, b.CPU) })
	return out
}
