package kcictl_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/pkg/kci"
)

// twoAccounts is kcid's config of the network command tests: account 1001
// (the harness's key) and account 1002 (bob's key), each with a configured
// network; 1001's subnet has name servers from the config. The fake
// runtime enforces no rules, so kcid is told to store them anyway.
const twoAccounts = `
accounts:
  - id: "1001"
  - id: "1002"
    keys: [{accessKeyId: AKLTkcictlbob0001, secretAccessKey: kcictl-bob-secret-1}]
vpcs:
  - {id: vpc-test, name: test, account: "1001", cidr: 10.0.0.0/16}
  - {id: vpc-bob, name: bob, account: "1002", cidr: 10.1.0.0/16}
subnets:
  - {id: subnet-test, name: test, vpc: vpc-test, cidr: 10.0.1.0/24, zone: cn-beijing-6a, dns1: 10.0.1.53, dns2: 8.8.8.8}
  - {id: subnet-bob, name: bob, vpc: vpc-bob, cidr: 10.1.1.0/24, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-test, name: test, vpc: vpc-test}
  - {id: sg-bob, name: bob, vpc: vpc-bob}
node: {cpu: 64, memory: 256, cpuOvercommit: 1, memoryOvercommit: 1}
acceptUnenforcedSecurityGroupRules: true
`

// asBob runs a command line with account 1002's key.
func (h *harness) asBob(args ...string) result {
	h.t.Helper()
	ak, sk := h.env["KCI_ACCESS_KEY_ID"], h.env["KCI_SECRET_ACCESS_KEY"]
	h.env["KCI_ACCESS_KEY_ID"], h.env["KCI_SECRET_ACCESS_KEY"] = "AKLTkcictlbob0001", "kcictl-bob-secret-1"
	defer func() { h.env["KCI_ACCESS_KEY_ID"], h.env["KCI_SECRET_ACCESS_KEY"] = ak, sk }()
	return h.run(args...)
}

// sortedLines are the lines of s, sorted.
func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(l)
	return l
}

// ok runs a command line that must succeed and returns its stdout.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("kcictl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails checks that a command line exits 1 with an error that contains
// every one of want.
func fails(t *testing.T, r result, args string, want ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("kcictl %s: exit %d, want 1\n%s%s", args, r.code, r.stdout, r.stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("kcictl %s: stderr lacks %q:\n%s", args, w, r.stderr)
		}
	}
}

// TestNetworkCommands drives vpc, subnet and security-group against kcid
// over HTTP: create, list (table and -o json), modify, rules, kcid's
// refusals shown as other commands show them, a second account that sees
// and changes none of it, and deletion in order.
func TestNetworkCommands(t *testing.T) {
	h := newHarness(t, func(o *kcidtest.Options) { o.Config = twoAccounts })
	ctx := context.Background()
	c := h.client()

	vpc := strings.TrimSpace(h.ok("vpc", "create", "dev", "--cidr", "10.60.0.0/16"))
	h.name(vpc, "<vpc-dev>")
	subnet := strings.TrimSpace(h.ok("subnet", "create", "dev-a", "--vpc", "dev", "--cidr", "10.60.1.0/24", "--dns1", "10.60.1.53"))
	h.name(subnet, "<subnet-dev-a>")
	sg := strings.TrimSpace(h.ok("security-group", "create", "web", "--vpc", vpc, "--description", "public web"))
	h.name(sg, "<sg-web>")
	http := strings.TrimSpace(h.ok("sg", "allow", "web", "--protocol", "tcp", "--port", "80"))
	h.name(http, "<rule-http>")
	ping := strings.TrimSpace(h.ok("sg", "allow", sg, "--protocol", "icmp", "--icmp-type", "8", "--cidr", "10.60.0.0/16", "--description", "ping"))
	h.name(ping, "<rule-ping>")
	h.clock.Advance(90e9)

	// kcid's refusals: code, message, request ID, as every command shows them.
	fails(t, h.run("sg", "allow", "web", "--protocol", "tcp", "--port", "80"), "sg allow web (again)",
		"Error: ResourceInUse:", http, "RequestId:", "AuthorizeSecurityGroupEntry")
	fails(t, h.run("subnet", "modify", "test", "--dns1", "1.1.1.1"), "subnet modify test",
		"Error: IncorrectState:", "declared in kcid's config", "RequestId:", "ModifySubnet")
	fails(t, h.run("subnet", "create", "clash", "--vpc", "dev", "--cidr", "10.60.1.0/25"), "subnet create clash",
		"InvalidParameterValue", "CidrBlock", "overlaps")
	fails(t, h.run("vpc", "create", "dev2", "--cidr", "10.60.0.0/20"), "vpc create dev2", "InvalidParameterValue", "CidrBlock")
	fails(t, h.run("vpc", "delete", "dev"), "vpc delete dev (not empty)", "Error: deleting dev ("+vpc+")")

	h.golden("network/vpc-list.txt", transcript(h.run("vpc", "list")))
	h.golden("network/subnet-list.txt", transcript(h.run("subnet", "list")))
	h.golden("network/sg-list.txt", transcript(h.run("sg", "list", "--vpc", "dev")))
	h.golden("network/sg-describe.txt", transcript(h.run("security-group", "describe", "web")))

	// -o json is the API's objects.
	var vpcs struct{ VpcSet []kci.Vpc }
	if err := json.Unmarshal([]byte(h.ok("vpc", "list", "dev", "-o", "json")), &vpcs); err != nil || len(vpcs.VpcSet) != 1 ||
		vpcs.VpcSet[0].VpcID != vpc || vpcs.VpcSet[0].CidrBlock != "10.60.0.0/16" || vpcs.VpcSet[0].VpcName != "dev" {
		t.Errorf("vpc list dev -o json: %v %+v", err, vpcs)
	}
	var subnets struct{ SubnetSet []kci.Subnet }
	if err := json.Unmarshal([]byte(h.ok("subnet", "list", "-o", "json", "--vpc", "test")), &subnets); err != nil || len(subnets.SubnetSet) != 1 ||
		subnets.SubnetSet[0].Dns1 != "10.0.1.53" || subnets.SubnetSet[0].Dns2 != "8.8.8.8" {
		t.Errorf("subnet list --vpc test -o json (the config's dns1, dns2): %v %+v", err, subnets)
	}
	var g kci.SecurityGroup
	if err := json.Unmarshal([]byte(h.ok("sg", "describe", "web", "-o", "json")), &g); err != nil || g.SecurityGroupID != sg || len(g.SecurityGroupEntrySet) != 3 {
		t.Errorf("sg describe web -o json: %v %+v", err, g)
	}
	// A group created in the configured subnet gets the config's name
	// servers (dns1, dns2). (Only there: a group being deleted would hold
	// up the deletion of dev-a below.)
	// run takes their names.
	h.ok("run", "cfgdns", "--image", "busybox:1", "--subnet", "test", "--security-group", "test")
	gs, err := c.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Search: "cfgdns"})
	if err != nil || len(gs) != 1 || gs[0].PrimaryInterface() == nil || gs[0].PrimaryInterface().SubnetID != kcidtest.SubnetID || gs[0].DNSConfig == nil || !slices.Equal(gs[0].DNSConfig.NameServers, []string{"10.0.1.53", "8.8.8.8"}) {
		t.Errorf("DnsConfig of a group in the configured subnet: %v %+v, want name servers 10.0.1.53, 8.8.8.8", err, gs)
	}

	if got := sortedLines(h.ok("sg", "list", "-o", "id")); !slices.Equal(got, sortedLines("sg-test\n"+sg+"\n")) {
		t.Errorf("sg list -o id = %q", got)
	}

	// Changes.
	h.ok("subnet", "modify", "dev-a", "--name", "dev-east", "--dns2", "8.8.4.4")
	h.ok("subnet", "modify", "dev-east", "--dns1", "")
	h.ok("vpc", "rename", "dev", "staging")
	h.ok("sg", "rename", "web", "frontend", "--description", "public HTTP")
	ss, err := c.ListSubnets(ctx, &kci.DescribeSubnetsRequest{SubnetIDs: []string{subnet}})
	if err != nil || len(ss) != 1 || ss[0].SubnetName != "dev-east" || ss[0].Dns1 != "" || ss[0].Dns2 != "8.8.4.4" {
		t.Errorf("after subnet modify: %v %+v", err, ss)
	}
	vs, err := c.ListVpcs(ctx, &kci.DescribeVpcsRequest{VpcIDs: []string{vpc}})
	if err != nil || len(vs) != 1 || vs[0].VpcName != "staging" {
		t.Errorf("after vpc rename: %v %+v", err, vs)
	}

	// Bob sees and changes none of it; his own network stays his.
	if got := h.asBob("vpc", "list", "-o", "id").stdout; got != "vpc-bob\n" {
		t.Errorf("bob's vpc list -o id = %q", got)
	}
	if got := h.asBob("subnet", "list", "-o", "id").stdout; got != "subnet-bob\n" {
		t.Errorf("bob's subnet list -o id = %q", got)
	}
	fails(t, h.asBob("vpc", "rename", vpc, "mine"), "vpc rename (bob)", "no VPC has the ID or name")
	fails(t, h.asBob("vpc", "delete", "staging"), "vpc delete (bob)", "no VPC has the ID or name \"staging\"")
	fails(t, h.asBob("subnet", "modify", subnet, "--dns1", "10.1.1.53"), "subnet modify (bob)", "no subnet has the ID or name")
	fails(t, h.asBob("subnet", "create", "x", "--vpc", vpc, "--cidr", "10.60.9.0/24"), "subnet create in alice's vpc (bob)", "no VPC has")
	fails(t, h.asBob("sg", "describe", sg), "sg describe (bob)", "no security group has the ID or name")
	fails(t, h.asBob("sg", "allow", "frontend", "--protocol", "ip"), "sg allow (bob)", "no security group has")
	fails(t, h.asBob("sg", "revoke", sg, http), "sg revoke (bob)", "no security group has")
	fails(t, h.asBob("sg", "delete", "frontend"), "sg delete (bob)", "no security group has")
	if r := h.asBob("sg", "create", "bobs", "--vpc", "bob"); r.code != 0 {
		t.Errorf("bob's sg create: %+v", r)
	}
	var bobs struct{ SecurityGroupSet []kci.SecurityGroup }
	if err := json.Unmarshal([]byte(h.asBob("sg", "list", "-o", "json").stdout), &bobs); err != nil || len(bobs.SecurityGroupSet) != 2 {
		t.Errorf("bob's sg list -o json: %v %+v", err, bobs)
	}
	h.golden("network/sg-after-bob.txt", transcript(h.run("sg", "describe", "frontend")))

	// Revoke by the flags allow took, then by rule ID.
	if got := h.ok("sg", "revoke", "frontend", "--protocol", "tcp", "--port", "80"); got != "Revoked "+http+"\n" {
		t.Errorf("revoke by flags: %q", got)
	}
	fails(t, h.run("sg", "revoke", "frontend", "--protocol", "tcp", "--port", "80"), "revoke again", "has no such rule")
	h.ok("sg", "revoke", "frontend", ping)
	sgs, err := c.ListSecurityGroups(ctx, &kci.DescribeSecurityGroupsRequest{SecurityGroupIDs: []string{sg}})
	if err != nil || len(sgs) != 1 || len(sgs[0].SecurityGroupEntrySet) != 1 || sgs[0].SecurityGroupEntrySet[0].Direction != "out" ||
		sgs[0].SecurityGroupName != "frontend" || sgs[0].Description != "public HTTP" {
		t.Errorf("after revoke: %v %+v", err, sgs)
	}

	// Deletion, every argument resolved first.
	fails(t, h.run("sg", "delete", "frontend", "nope"), "sg delete frontend nope", "no security group has the ID or name \"nope\"")
	if got := h.ok("sg", "delete", "frontend"); got != "Deleted frontend ("+sg+")\n" {
		t.Errorf("sg delete: %q", got)
	}
	h.ok("subnet", "delete", "dev-east")
	h.ok("vpc", "delete", "staging")
	if got := h.ok("vpc", "list", "-o", "id"); got != "vpc-test\n" {
		t.Errorf("vpc list after deleting: %q", got)
	}
	if got := sortedLines(h.asBob("sg", "list", "-o", "id").stdout); len(got) != 2 || !slices.Contains(got, "sg-bob") || slices.Contains(got, sg) {
		t.Errorf("bob's groups after alice's deletes: %q", got)
	}
}

// TestNetworkUsageErrors: bad flags and arguments are refused before any
// request (the endpoint does not answer), naming the flag, with exit 2.
func TestNetworkUsageErrors(t *testing.T) {
	h := newHarness(t)
	h.env["KCI_ENDPOINT"] = "http://127.0.0.1:1"
	cases := []struct {
		args string
		want string
	}{
		{"vpc create dev", "--cidr is required"},
		{"vpc create", "missing the VPC's NAME"},
		{"vpc create dev --cidr 10.60.0.5/16", `--cidr "10.60.0.5/16" has host bits set: did you mean 10.60.0.0/16?`},
		{"vpc create dev --cidr fd00::/8", `--cidr "fd00::/8": want an IPv4 block`},
		{"vpc create dev --cidr 10.60.0.0", `--cidr "10.60.0.0": want an IPv4 block`},
		{"vpc list -o yaml", `-o "yaml": want table, json or id`},
		{"vpc rename dev", "missing the VPC's ID or NAME and its NEW-NAME"},
		{"vpc delete", "missing the VPC's ID or NAME"},
		{"subnet create a --cidr 10.60.1.0/24 --dns1 8.8.8", `--dns1 "8.8.8": want the IPv4 address of a name server`},
		{"subnet create a --cidr 10.60.1.0/24 --dns2 ::1", `--dns2 "::1"`},
		{"subnet create a --cidr 10.60.1.0/24 --gateway gw", `--gateway "gw"`},
		{"subnet create a", "--cidr is required"},
		{"subnet modify a", "nothing to change: give --name, --dns1 or --dns2"},
		{"subnet modify a --dns2 0.0.0.0", `--dns2 "0.0.0.0"`},
		{"subnet modify a --name=", "--name: want a new name"},
		{"subnet list -o wide", `-o "wide"`},
		{"sg create", "missing the security group's NAME"},
		{"sg describe web -o id", `-o "id": want table or json`},
		{"sg allow web", "--protocol is required: tcp, udp, icmp or ip"},
		{"sg allow web --protocol sctp", `--protocol "sctp"`},
		{"sg allow web --protocol tcp --port 0", `--port "0": want a port from 1 to 65535`},
		{"sg allow web --protocol tcp --port 90-80", `--port "90-80": the range ends below its start`},
		{"sg allow web --protocol udp --port 70000", `--port "70000"`},
		{"sg allow web --protocol icmp --port 80", "--port is for tcp and udp, not icmp"},
		{"sg allow web --protocol tcp --icmp-type 8", "--icmp-type and --icmp-code are for icmp, not tcp"},
		{"sg allow web --protocol icmp --icmp-code 0", "--icmp-code needs --icmp-type"},
		{"sg allow web --protocol icmp --icmp-type 256", `--icmp-type "256"`},
		{"sg allow web --protocol tcp --direction both", `--direction "both": want in or out`},
		{"sg allow web --protocol ip --cidr 10.0.0.1", `--cidr "10.0.0.1"`},
		{"sg allow --protocol ip", "missing the security group's ID or NAME"},
		{"sg revoke web", "--protocol is required"},
		{"sg revoke web rule-1 --protocol tcp", "give rule IDs or --protocol and the rule's flags, not both"},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			r := h.run(strings.Fields(tc.args)...)
			if r.code != 2 || !strings.Contains(r.stderr, "Error: "+tc.want) || !strings.Contains(r.stderr, "--help' for usage.") {
				t.Errorf("exit %d, want 2 with %q; stderr:\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
}

// TestNetworkHelp: every network command's --help shows an example.
func TestNetworkHelp(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{
		"vpc", "vpc create", "vpc list", "vpc rename", "vpc delete",
		"subnet", "subnet create", "subnet list", "subnet modify", "subnet delete",
		"security-group", "sg create", "sg list", "sg describe", "sg rename", "sg delete", "sg allow", "sg revoke",
		"network",
	} {
		r := h.run(append(strings.Fields(cmd), "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  kcictl ") || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("kcictl %s --help: exit %d, no Examples or Usage:\n%s", cmd, r.code, r.stdout)
		}
	}
}

// TestNetworkCompletion: arguments and --vpc, --subnet, --security-group
// complete to the account's names and IDs, and only its own.
func TestNetworkCompletion(t *testing.T) {
	h := newHarness(t, func(o *kcidtest.Options) { o.Config = twoAccounts })
	complete := func(r result) []string {
		t.Helper()
		var out []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				out = append(out, strings.SplitN(l, "\t", 2)[0])
			}
		}
		return out
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"sg", "describe", ""}, []string{"test"}},
		{[]string{"sg", "describe", "sg-"}, []string{"sg-test"}},
		{[]string{"sg", "describe", "test", ""}, nil}, // one argument only
		{[]string{"vpc", "delete", "test", ""}, []string{"test"}},
		{[]string{"subnet", "list", "--vpc", ""}, []string{"test"}},
		{[]string{"subnet", "modify", "t"}, []string{"test"}},
		{[]string{"run", "web", "--subnet", "subnet-"}, []string{"subnet-test"}},
		{[]string{"run", "web", "--security-group", ""}, []string{"test"}},
		{[]string{"sg", "allow", "web", "--protocol", ""}, []string{"tcp", "udp", "icmp", "ip"}},
	}
	for _, tc := range cases {
		r := h.run(append([]string{"__complete"}, tc.args...)...)
		if got := complete(r); r.code != 0 || !slices.Equal(got, tc.want) {
			t.Errorf("complete %q = %q (exit %d), want %q\n%s", tc.args, got, r.code, tc.want, r.stderr)
		}
	}
	if got := complete(h.asBob("__complete", "sg", "describe", "")); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("bob's completion = %q, want only his group", got)
	}
}
