package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func TestExampleFileLoads(t *testing.T) {
	c, err := Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accounts) != 2 || len(c.Subnets) != 2 || len(c.Disks) != 1 || time.Duration(c.StopGracePeriod) != 30*time.Second {
		t.Fatalf("example config: %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Regions) != 2 || c.Regions[0].Name != "cn-beijing-6" || c.RateLimit.MutatingBurst != 100 || c.RateLimit.MutatingPerSecond != 20 {
		t.Fatalf("defaults: %+v", c)
	}
	if d := c.OnDemandDisks; d.MaxSizeGB != 500 || d.MaxPerGroup != 8 || d.MaxPerAccount != 20 || d.StorageClasses != nil {
		t.Fatalf("onDemandDisks defaults: %+v", d)
	}
	if c.Exec.TokenTTL != Duration(60*time.Second) || c.Exec.SyncTimeout != Duration(30*time.Second) || c.Exec.MaxSessionsPerAccount != 32 || c.Exec.BaseURI != "" {
		t.Fatalf("exec defaults: %+v", c.Exec)
	}
	c, err = load(t, "vpcs: [{id: v, cidr: 10.1.0.0/16}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.VPCs[0].Account != DefaultAccountID || c.VPCs[0].Region != "cn-beijing-6" {
		t.Fatalf("vpc defaults: %+v", c.VPCs[0])
	}
}

// TestSubnetNameServers: a config subnet's dns1 and dns2 are loaded as
// given; either may be left out.
func TestSubnetNameServers(t *testing.T) {
	const vpc = "vpcs: [{id: v, cidr: 10.1.0.0/16}]\n"
	cases := []struct{ name, subnet, dns1, dns2 string }{
		{"both", "{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, dns1: 10.1.1.53, dns2: 8.8.8.8}", "10.1.1.53", "8.8.8.8"},
		{"only dns2", "{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, dns2: 1.1.1.1}", "", "1.1.1.1"},
		{"none", "{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a}", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, vpc+"subnets: ["+tc.subnet+"]\n")
			if err != nil {
				t.Fatal(err)
			}
			if s := c.Subnets[0]; s.DNS1 != tc.dns1 || s.DNS2 != tc.dns2 {
				t.Fatalf("dns1, dns2 = %q, %q; want %q, %q", s.DNS1, s.DNS2, tc.dns1, tc.dns2)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	const vpc = "vpcs: [{id: v, cidr: 10.1.0.0/16}]\n"
	cases := []struct{ name, yaml, want string }{
		{"unknown field", "colour: red\n", "colour"},
		{"exec base not ws", "exec: {baseURI: 'https://kci.example.com'}\n", "must be a ws:// or wss:// URL"},
		{"exec base with query", "exec: {baseURI: 'wss://kci.example.com/?a=1'}\n", "no query"},
		{"exec negative ttl", "exec: {tokenTTL: -1s}\n", "must not be negative"},
		{"bad duration", "stopGracePeriod: soon\n", "soon"},
		{"tiny log cap", "containerLogMaxBytes: 100\n", "containerLogMaxBytes: 100 is below"},
		{"negative log cap", "containerLogMaxBytes: -1\n", "containerLogMaxBytes: -1 is below"},
		{"package cpu zero", "packages: [{cpu: 0, memory: [1]}]\n", "packages[0].cpu 0"},
		{"package cpu too big", "packages: [{cpu: 257, memory: [1]}]\n", "at most 256 cores"},
		{"package cpu 4 decimals", "packages: [{cpu: 0.0001, memory: [1]}]\n", "3 decimals"},
		{"package twice", "packages: [{cpu: 1, memory: [1]}, {cpu: 1, memory: [2]}]\n", "listed twice"},
		{"package without memory", "packages: [{cpu: 1}]\n", "no memory sizes"},
		{"package memory too big", "packages: [{cpu: 1, memory: [513]}]\n", "at most 512 GiB"},
		{"tiny resync interval", "resyncInterval: 10ms\n", "resyncInterval: 10ms is below"},
		{"metrics listen not host:port", "metrics: {listen: \"9464\"}\n", "metrics.listen: \"9464\" is not host:port"},
		{"usage sampled more than once a second", "metrics: {usageResolution: 500ms}\n", "metrics.usageResolution: 500ms is below the minimum of 1s"},
		{"region without zones", "regions: [{name: r}]\n", "at least one zone"},
		{"zone twice", "regions: [{name: r, zones: [a, a]}]\n", "listed twice"},
		{"bad account id", "accounts: [{id: 'a b'}]\n", "invalid account id"},
		{"short secret", "accounts: [{id: a, keys: [{accessKeyId: k, secretAccessKey: x}]}]\n", "at least 8"},
		{"key twice", "accounts: [{id: a, keys: [{accessKeyId: k, secretAccessKey: 12345678}]}, {id: b, keys: [{accessKeyId: k, secretAccessKey: 12345678}]}]\n", "listed twice"},
		{"bad vpc cidr", "vpcs: [{id: v, cidr: 10.1.0.0}]\n", "cidr"},
		{"vpc unknown region", "vpcs: [{id: v, cidr: 10.1.0.0/16, region: mars}]\n", "unknown region"},
		{"vpc unknown account", "accounts: [{id: a}, {id: b}]\nvpcs: [{id: v, account: c, cidr: 10.1.0.0/16}]\n", "unknown account"},
		{"subnet unknown vpc", "subnets: [{id: s, vpc: nope, cidr: 10.1.1.0/24, zone: cn-beijing-6a}]\n", "unknown vpc"},
		{"subnet outside vpc", vpc + "subnets: [{id: s, vpc: v, cidr: 10.2.1.0/24, zone: cn-beijing-6a}]\n", "not inside"},
		{"subnet too small", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/30, zone: cn-beijing-6a}]\n", "/29"},
		{"subnet not a network", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.5/24, zone: cn-beijing-6a}]\n", "IPv4 network"},
		{"subnets overlap", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a}, {id: t, vpc: v, cidr: 10.1.0.0/23, zone: cn-beijing-6a}]\n", "overlaps"},
		{"subnet zone of other region", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-shanghai-2b}]\n", "not a zone"},
		{"gateway outside", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, gateway: 10.1.2.1}]\n", "gateway"},
		{"gateway is the network address", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, gateway: 10.1.1.0}]\n", "gateway"},
		{"gateway is the broadcast address", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, gateway: 10.1.1.255}]\n", "gateway"},
		{"dns1 not an address", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, dns1: resolver}]\n", `subnet "s": dns1 "resolver" is not an IPv4 address`},
		{"dns2 IPv6", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, dns1: 10.0.0.2, dns2: 'fd00::53'}]\n", `subnet "s": dns2 "fd00::53" is not an IPv4 address`},
		{"dns1 unspecified", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, dns1: 0.0.0.0}]\n", `dns1 "0.0.0.0" is not an IPv4 address`},
		{"dns1 with a port", vpc + "subnets: [{id: s, vpc: v, cidr: 10.1.1.0/24, zone: cn-beijing-6a, dns1: '10.0.0.2:53'}]\n", `dns1 "10.0.0.2:53"`},
		{"id used twice", vpc + "securityGroups: [{id: v, vpc: v}]\n", "already used"},
		{"bad id", "vpcs: [{id: '../x', cidr: 10.1.0.0/16}]\n", "invalid id"},
		{"sg unknown vpc", "securityGroups: [{id: g, vpc: nope}]\n", "unknown vpc"},
		{"disk unknown zone", "disks: [{id: d, zone: nope, sizeGb: 1}]\n", "unknown zone"},
		{"disk id with a dot", "disks: [{id: vol.1, zone: cn-beijing-6a, sizeGb: 1}]\n", "invalid id"},
		{"disk too big", "disks: [{id: d, zone: cn-beijing-6a, sizeGb: 40000}]\n", "sizeGb"},
		{"negative rate", "rateLimit: {readPerSecond: -1}\n", "negative"},
		{"negative cpu", "node: {cpu: -1}\n", "negative"},
		{"privileged unknown account", "accounts: [{id: a}]\npolicy: {privilegedAccounts: [b]}\n", "policy.privilegedAccounts: \"b\" is not an account"},
		{"host pid unknown account", "policy: {hostPIDAccounts: [other]}\n", "policy.hostPIDAccounts: \"other\" is not an account"},
		{"host path unknown account", "policy: {hostPathPrefixes: {other: [/srv]}}\n", "policy.hostPathPrefixes: \"other\" is not an account"},
		{"host path relative", "policy: {hostPathPrefixes: {\"*\": [srv/kci]}}\n", "absolute, clean"},
		{"host path not clean", "policy: {hostPathPrefixes: {\"*\": [/srv/../etc]}}\n", "absolute, clean"},
		{"host path root", "policy: {hostPathPrefixes: {\"*\": [/]}}\n", "other than /"},
		{"disk size over the SDK's", "onDemandDisks: {maxSizeGb: 32001}\n", "maxSizeGb must be 1..32000"},
		{"negative disks per group", "onDemandDisks: {maxPerGroup: -1}\n", "must not be negative"},
		{"storage class of no type", "onDemandDisks: {storageClasses: {SSD4: fast}}\n", "\"SSD4\" is not a disk type"},
		{"empty storage class", "onDemandDisks: {storageClasses: {\"*\": \"\"}}\n", "empty class"},
		{"gpu device missing", "node: {gpus: {devices: [/dev/no-such-gpu0]}}\n", "node.gpus.devices: stat /dev/no-such-gpu0"},
		{"gpu device not a char device", "node: {gpus: {devices: [/etc/hostname]}}\n", "/etc/hostname is not a character device"},
		{"gpu device relative", "node: {gpus: {devices: [dev/nvidia0]}}\n", "absolute, clean"},
		{"gpu device twice", "node: {gpus: {devices: [/dev/null, /dev/null]}}\n", "listed twice"},
		{"gpu extra device twice", "node: {gpus: {devices: [/dev/null], extraDevices: [/dev/null]}}\n", "node.gpus.extraDevices: \"/dev/null\" is listed twice"},
		{"gpu devices and kubernetes resource", "node: {gpus: {devices: [/dev/null], kubernetesResource: nvidia.com/gpu}}\n", "give one of them"},
		{"gpu kubernetes resource without domain", "node: {gpus: {kubernetesResource: gpu}}\n", "not an extended resource name"},
		{"gpu kubernetes resource of kubernetes.io", "node: {gpus: {kubernetesResource: kubernetes.io/gpu}}\n", "not an extended resource name"},
		{"gpu extra devices alone", "node: {gpus: {extraDevices: [/dev/zero]}}\n", "extraDevices without devices"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestGPUsDeclared(t *testing.T) {
	c, err := load(t, "node: {gpus: {type: test, devices: [/dev/null, /dev/zero], extraDevices: [/dev/full]}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Node.GPUs; got.Type != "test" || len(got.Devices) != 2 || len(got.ExtraDevices) != 1 || !got.Declared() {
		t.Fatalf("node.gpus = %+v", got)
	}
	c, err = load(t, "node: {gpus: {kubernetesResource: nvidia.com/gpu}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Node.GPUs.Declared() {
		t.Fatalf("node.gpus = %+v: not declared", c.Node.GPUs)
	}
	if c, err = load(t, ""); err != nil || c.Node.GPUs.Declared() {
		t.Fatalf("no node.gpus: declared %v, err %v", c.Node.GPUs.Declared(), err)
	}
}

func TestOfferedPackages(t *testing.T) {
	ps := []Package{{CPU: 4, Memory: []float64{16, 8}}, {CPU: 1, Memory: []float64{2, 4, 2}}, {CPU: 2, Memory: []float64{64}}}
	cases := []struct {
		name     string
		cpu, mem float64
		want     string
	}{
		{"unbounded", 0, 0, "[{1 [2 4]} {2 [64]} {4 [8 16]}]"},
		{"small node", 2, 6, "[{1 [2 4]}]"},
		{"node of 4 cores and 8 GiB", 4, 8, "[{1 [2 4]} {4 [8]}]"},
		{"nothing fits", 0.5, 1, "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(OfferedPackages(ps, tc.cpu, tc.mem)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Packages) != len(DefaultPackages) || c.Packages[0].CPU != 0.25 || fmt.Sprint(c.Packages[2].Memory) != "[2 4 8]" {
		t.Fatalf("default packages: %v", c.Packages)
	}
}

func TestNodeOvercommit(t *testing.T) {
	cases := []struct {
		name          string
		yaml          string
		cpuR, memR    float64
		wantErrSubstr string
	}{
		{"defaults", "", DefaultCPUOvercommit, DefaultMemoryOvercommit, ""},
		{"configured", "node: {cpuOvercommit: 1, memoryOvercommit: 1.5}\n", 1, 1.5, ""},
		{"only cpu", "node: {cpuOvercommit: 4}\n", 4, DefaultMemoryOvercommit, ""},
		{"negative", "node: {memoryOvercommit: -1}\n", 0, 0, "memoryOvercommit must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.yaml)
			if tc.wantErrSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Node.CPUOvercommit != tc.cpuR || c.Node.MemoryOvercommit != tc.memR {
				t.Fatalf("ratios %v/%v, want %v/%v", c.Node.CPUOvercommit, c.Node.MemoryOvercommit, tc.cpuR, tc.memR)
			}
		})
	}
}

// TestHostPathPrefixes: the policy's host path prefixes are read per
// account, "*" among them.
func TestHostPathPrefixes(t *testing.T) {
	c, err := load(t, "accounts: [{id: a}]\npolicy: {hostPathPrefixes: {a: [/srv/a, /data], \"*\": [/srv/shared]}}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"a": {"/srv/a", "/data"}, "*": {"/srv/shared"}}
	if !reflect.DeepEqual(c.Policy.HostPathPrefixes, want) {
		t.Fatalf("hostPathPrefixes = %v, want %v", c.Policy.HostPathPrefixes, want)
	}
}
