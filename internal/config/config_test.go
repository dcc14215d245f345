package config

import (
	"os"
	"path/filepath"
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
	c, err = load(t, "vpcs: [{id: v, cidr: 10.1.0.0/16}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.VPCs[0].Account != DefaultAccountID || c.VPCs[0].Region != "cn-beijing-6" {
		t.Fatalf("vpc defaults: %+v", c.VPCs[0])
	}
}

func TestInvalid(t *testing.T) {
	const vpc = "vpcs: [{id: v, cidr: 10.1.0.0/16}]\n"
	cases := []struct{ name, yaml, want string }{
		{"unknown field", "colour: red\n", "colour"},
		{"bad duration", "stopGracePeriod: soon\n", "soon"},
		{"tiny log cap", "containerLogMaxBytes: 100\n", "containerLogMaxBytes: 100 is below"},
		{"negative log cap", "containerLogMaxBytes: -1\n", "containerLogMaxBytes: -1 is below"},
		{"tiny resync interval", "resyncInterval: 10ms\n", "resyncInterval: 10ms is below"},
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
		{"id used twice", vpc + "securityGroups: [{id: v, vpc: v}]\n", "already used"},
		{"bad id", "vpcs: [{id: '../x', cidr: 10.1.0.0/16}]\n", "invalid id"},
		{"sg unknown vpc", "securityGroups: [{id: g, vpc: nope}]\n", "unknown vpc"},
		{"disk unknown zone", "disks: [{id: d, zone: nope, sizeGb: 1}]\n", "unknown zone"},
		{"disk id with a dot", "disks: [{id: vol.1, zone: cn-beijing-6a, sizeGb: 1}]\n", "invalid id"},
		{"disk too big", "disks: [{id: d, zone: cn-beijing-6a, sizeGb: 40000}]\n", "sizeGb"},
		{"negative rate", "rateLimit: {readPerSecond: -1}\n", "negative"},
		{"negative cpu", "node: {cpu: -1}\n", "negative"},
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
