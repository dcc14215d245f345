package api_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

// describeSubnet returns one subnet as DescribeSubnets shows it to c.
func describeSubnet(t *testing.T, c *client, id string) kci.Subnet {
	t.Helper()
	set := decodeAs[kci.DescribeSubnetsResponse](t, c.vpc("DescribeSubnets", "SubnetId.1", id)).SubnetSet
	if len(set) != 1 {
		t.Fatalf("DescribeSubnets %s: %d subnets", id, len(set))
	}
	return set[0]
}

// describeVpc returns one VPC as DescribeVpcs shows it to c.
func describeVpc(t *testing.T, c *client, id string) kci.Vpc {
	t.Helper()
	set := decodeAs[kci.DescribeVpcsResponse](t, c.vpc("DescribeVpcs", "VpcId.1", id)).VpcSet
	if len(set) != 1 {
		t.Fatalf("DescribeVpcs %s: %d vpcs", id, len(set))
	}
	return set[0]
}

// groupNameServers creates a group in the subnet (extra parameters kv)
// and returns the name servers DescribeContainerGroup shows.
func groupNameServers(t *testing.T, c *client, name, subnet, sg string, kv ...string) []string {
	t.Helper()
	p := createParams(name)
	p.Set("SubnetId", subnet)
	p.Set("SecurityGroupId.1", sg)
	for i := 0; i+1 < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	id := decodeAs[kci.CreateContainerGroupResponse](t, c.do("CreateContainerGroup", p)).ContainerGroupID
	g := decodeAs[kci.DescribeContainerGroupResponse](t, c.do("DescribeContainerGroup", vals("ContainerGroupId.1", id))).ContainerGroups[0]
	if g.DNSConfig == nil {
		return nil
	}
	return g.DNSConfig.NameServers
}

// ModifyVpc and ModifySubnet: the account's own networks change (and the
// change survives a restart); bad input, another account's networks and
// configured ones are refused with the API's errors and change nothing;
// DryRun checks without changing; a subnet's name servers (Dns1/Dns2, also
// given to CreateSubnet) are those of groups created in it afterwards
// whose DnsConfig names none, while a group keeps the ones it got.
func TestModifyVpcAndSubnet(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, bob, _ := tenants(s)

	vpc := decodeAs[kci.CreateVpcResponse](t, alice.vpc("CreateVpc", "VpcName", "before", "CidrBlock", "10.110.0.0/16")).Vpc.VpcID
	sub := decodeAs[kci.CreateSubnetResponse](t, alice.vpc("CreateSubnet", "VpcId", vpc, "SubnetName", "a", "CidrBlock", "10.110.1.0/24",
		"Dns1", "10.110.0.53")).Subnet
	if sub.Dns1 != "10.110.0.53" || sub.Dns2 != "" {
		t.Fatalf("created with Dns1: %+v", sub)
	}
	sg := decodeAs[kci.CreateSecurityGroupResponse](t, alice.vpc("CreateSecurityGroup", "VpcId", vpc)).SecurityGroup.SecurityGroupID
	long := strings.Repeat("n", 129)

	runRefused(t, []refusedCall{
		{"create subnet: Dns1 not an address", alice, "CreateSubnet", []string{"VpcId", vpc, "CidrBlock", "10.110.2.0/24", "Dns1", "dns.example.com"}, 400, "InvalidParameterValue", "parameter Dns1"},
		{"create subnet: Dns2 IPv6", alice, "CreateSubnet", []string{"VpcId", vpc, "CidrBlock", "10.110.2.0/24", "Dns2", "fd00::53"}, 400, "InvalidParameterValue", "parameter Dns2"},
		{"create subnet: dry run, bad Dns2", alice, "CreateSubnet", []string{"VpcId", vpc, "CidrBlock", "10.110.2.0/24", "Dns2", "1.2.3", "DryRun", "true"}, 400, "InvalidParameterValue", "parameter Dns2"},
		{"vpc: no id", alice, "ModifyVpc", []string{"VpcName", "x"}, 400, "MissingParameter", "VpcId"},
		{"vpc: no name", alice, "ModifyVpc", []string{"VpcId", vpc}, 400, "MissingParameter", "VpcName"},
		{"vpc: name too long", alice, "ModifyVpc", []string{"VpcId", vpc, "VpcName", long}, 400, "InvalidParameterValue", "parameter VpcName"},
		{"vpc: unknown", alice, "ModifyVpc", []string{"VpcId", "vpc-nope", "VpcName", "x"}, 404, "VpcNotFound", "vpc-nope"},
		{"vpc: another account's", bob, "ModifyVpc", []string{"VpcId", vpc, "VpcName", "x"}, 404, "VpcNotFound", vpc},
		{"vpc: another account's, dry run", bob, "ModifyVpc", []string{"VpcId", vpc, "VpcName", "x", "DryRun", "true"}, 404, "VpcNotFound", vpc},
		{"vpc: configured", alice, "ModifyVpc", []string{"VpcId", "vpc-a", "VpcName", "x"}, 409, "IncorrectState", "declared in kcid's config"},
		{"vpc: dry run", alice, "ModifyVpc", []string{"VpcId", vpc, "VpcName", "x", "DryRun", "true"}, 412, "DryRunOperation", ""},
		{"subnet: no id", alice, "ModifySubnet", []string{"SubnetName", "x"}, 400, "MissingParameter", "SubnetId"},
		{"subnet: name too long", alice, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "SubnetName", long}, 400, "InvalidParameterValue", "parameter SubnetName"},
		{"subnet: Dns1 a name", alice, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "Dns1", "ns1.example.com"}, 400, "InvalidParameterValue", "parameter Dns1"},
		{"subnet: Dns2 a block", alice, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "Dns1", "10.0.0.1", "Dns2", "10.0.0.0/24"}, 400, "InvalidParameterValue", "parameter Dns2"},
		{"subnet: Dns1 unspecified", alice, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "Dns1", "0.0.0.0"}, 400, "InvalidParameterValue", "parameter Dns1"},
		{"subnet: Dns1 bad, dry run", alice, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "Dns1", "x", "DryRun", "true"}, 400, "InvalidParameterValue", "parameter Dns1"},
		{"subnet: unknown", alice, "ModifySubnet", []string{"SubnetId", "subnet-nope", "SubnetName", "x"}, 404, "SubnetNotFound", "subnet-nope"},
		{"subnet: another account's", bob, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "Dns1", "10.0.0.1"}, 404, "SubnetNotFound", sub.SubnetID},
		{"subnet: another account's, dry run", bob, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "DryRun", "true"}, 404, "SubnetNotFound", sub.SubnetID},
		{"subnet: configured", alice, "ModifySubnet", []string{"SubnetId", "subnet-a", "Dns1", "10.0.0.1"}, 409, "IncorrectState", "declared in kcid's config"},
		{"subnet: dry run", alice, "ModifySubnet", []string{"SubnetId", sub.SubnetID, "Dns1", "10.0.0.1", "DryRun", "true"}, 412, "DryRunOperation", ""},
	})
	// Nothing refused changed anything.
	if v := describeVpc(t, alice, vpc); v.VpcName != "before" {
		t.Fatalf("vpc after the refusals: %+v", v)
	}
	if got := describeSubnet(t, alice, sub.SubnetID); got.SubnetName != "a" || got.Dns1 != "10.110.0.53" || got.Dns2 != "" {
		t.Fatalf("subnet after the refusals: %+v", got)
	}
	if n := len(decodeAs[kci.DescribeSubnetsResponse](t, alice.vpc("DescribeSubnets", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc)).SubnetSet); n != 1 {
		t.Fatalf("the refused CreateSubnet calls made subnets: %d in the vpc", n)
	}

	// Created with Dns1: a group gets it.
	if ns := groupNameServers(t, alice, "first", sub.SubnetID, sg); !slices.Equal(ns, []string{"10.110.0.53"}) {
		t.Fatalf("group in a subnet with Dns1: name servers %v", ns)
	}

	ret := decodeAs[kci.ReturnResponse](t, alice.vpc("ModifyVpc", "VpcId", vpc, "VpcName", "after"))
	if !ret.Return || ret.RequestID == "" {
		t.Fatalf("ModifyVpc: %+v", ret)
	}
	if v := describeVpc(t, alice, vpc); v.VpcName != "after" || v.CidrBlock != "10.110.0.0/16" {
		t.Fatalf("vpc after ModifyVpc: %+v", v)
	}
	mod := decodeAs[kci.ModifySubnetResponse](t, alice.vpc("ModifySubnet", "SubnetId", sub.SubnetID, "SubnetName", "b",
		"Dns1", "10.110.0.54", "Dns2", "10.110.0.55")).Subnet
	want := kci.ModifiedSubnet{CreateTime: sub.CreateTime, SubnetID: sub.SubnetID, VpcID: vpc, SubnetName: "b", CidrBlock: "10.110.1.0/24",
		SubnetType: "Normal", DhcpIPFrom: sub.DhcpIPFrom, DhcpIPTo: sub.DhcpIPTo, Dns1: "10.110.0.54", Dns2: "10.110.0.55",
		GatewayIP: sub.GatewayIP, AvailabilityZoneName: sub.AvailabilityZoneName, Ipv6CidrBlockAssociationSet: []kci.Ipv6CidrBlock{}}
	if !reflect.DeepEqual(mod, want) {
		t.Fatalf("ModifySubnet answered %+v, want %+v", mod, want)
	}
	if got := describeSubnet(t, alice, sub.SubnetID); got.SubnetName != "b" || got.Dns1 != "10.110.0.54" || got.Dns2 != "10.110.0.55" {
		t.Fatalf("subnet after ModifySubnet: %+v", got)
	}
	// The group created before keeps its name server; a new one gets the
	// new ones, unless its DnsConfig names its own (its searches are kept
	// either way).
	g := decodeAs[kci.DescribeContainerGroupResponse](t, alice.do("DescribeContainerGroup", vals("Filter.1.Name", "subnet-id", "Filter.1.Value.1", sub.SubnetID))).ContainerGroups
	if len(g) != 1 || g[0].DNSConfig == nil || !slices.Equal(g[0].DNSConfig.NameServers, []string{"10.110.0.53"}) {
		t.Fatalf("the earlier group after ModifySubnet: %+v", g)
	}
	if ns := groupNameServers(t, alice, "second", sub.SubnetID, sg, "DnsConfig.Search.1", "svc.local"); !slices.Equal(ns, []string{"10.110.0.54", "10.110.0.55"}) {
		t.Fatalf("group created after ModifySubnet: name servers %v", ns)
	}
	if ns := groupNameServers(t, alice, "own", sub.SubnetID, sg, "DnsConfig.NameServer.1", "9.9.9.9"); !slices.Equal(ns, []string{"9.9.9.9"}) {
		t.Fatalf("group with its own DnsConfig: name servers %v", ns)
	}
	// An empty Dns1 removes it; the absent name and Dns2 stay.
	mustOK(t, alice.vpc("ModifySubnet", "SubnetId", sub.SubnetID, "Dns1", ""))
	if got := describeSubnet(t, alice, sub.SubnetID); got.SubnetName != "b" || got.Dns1 != "" || got.Dns2 != "10.110.0.55" {
		t.Fatalf("subnet after clearing Dns1: %+v", got)
	}

	// Bob sees none of it.
	if n := len(decodeAs[kci.DescribeSubnetsResponse](t, bob.vpc("DescribeSubnets", "SubnetId.1", sub.SubnetID)).SubnetSet); n != 0 {
		t.Fatalf("bob sees alice's subnet")
	}

	// A restart keeps the changes.
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, _, _ = tenants(s)
	if v := describeVpc(t, alice, vpc); v.VpcName != "after" {
		t.Fatalf("vpc after a restart: %+v", v)
	}
	if got := describeSubnet(t, alice, sub.SubnetID); got.SubnetName != "b" || got.Dns1 != "" || got.Dns2 != "10.110.0.55" {
		t.Fatalf("subnet after a restart: %+v", got)
	}
	if ns := groupNameServers(t, alice, "third", sub.SubnetID, sg); !slices.Equal(ns, []string{"10.110.0.55"}) {
		t.Fatalf("group created after a restart: name servers %v", ns)
	}
}
