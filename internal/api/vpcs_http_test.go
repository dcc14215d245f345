package api_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/openkci/openkci/internal/app"
	"github.com/openkci/openkci/pkg/kci"
)

// CreateVpc/CreateSubnet and their deletes: blocks are checked (inside the
// VPC, no overlap host-wide, not on a host route kcid does not own),
// refused requests change nothing, another account's networks do not
// exist, in-use or non-empty ones cannot be deleted, configured ones never,
// and a group runs in a subnet made through the API; all survives a
// restart.
func TestVpcAndSubnetActions(t *testing.T) {
	dir := t.TempDir()
	routes := func() ([]app.HostRoute, error) {
		return []app.HostRoute{{Prefix: netip.MustParsePrefix("172.30.0.0/16"), Device: "eth9"}}, nil
	}
	s := startServer(t, serverOpts{config: tenantsConfig, dataDir: dir, hostRoutes: routes})
	alice, bob, _ := tenants(s)

	vpc := decodeAs[kci.CreateVpcResponse](t, alice.vpc("CreateVpc", "VpcName", "mine", "CidrBlock", "10.100.0.0/16")).Vpc
	if vpc.VpcID == "" || vpc.CidrBlock != "10.100.0.0/16" || vpc.VpcName != "mine" || vpc.IsDefault {
		t.Fatalf("created: %+v", vpc)
	}
	sub := decodeAs[kci.CreateSubnetResponse](t, alice.vpc("CreateSubnet", "VpcId", vpc.VpcID, "SubnetName", "a", "CidrBlock", "10.100.1.0/24")).Subnet
	if sub.SubnetID == "" || sub.VpcID != vpc.VpcID || sub.GatewayIP != "10.100.1.1" || sub.AvailabilityZoneName != "cn-beijing-6a" || sub.AvailableIPNumber != "253" {
		t.Fatalf("created: %+v", sub)
	}

	runRefused(t, []refusedCall{
		{"vpc: no block", alice, "CreateVpc", nil, 400, "MissingParameter", "CidrBlock"},
		{"vpc: not a block", alice, "CreateVpc", []string{"CidrBlock", "10.1.0.0"}, 400, "InvalidParameterValue", "parameter CidrBlock"},
		{"vpc: host bits", alice, "CreateVpc", []string{"CidrBlock", "10.101.0.1/16"}, 400, "InvalidParameterValue", "did you mean 10.101.0.0/16"},
		{"vpc: too big", alice, "CreateVpc", []string{"CidrBlock", "10.0.0.0/7"}, 400, "InvalidParameterValue", "/8 to /28"},
		{"vpc: overlaps own", alice, "CreateVpc", []string{"CidrBlock", "10.100.128.0/17"}, 400, "InvalidParameterValue", "overlaps your vpc " + vpc.VpcID},
		{"vpc: overlaps another account's", bob, "CreateVpc", []string{"CidrBlock", "10.100.0.0/20"}, 400, "InvalidParameterValue", "a vpc of another account"},
		{"vpc: host route", alice, "CreateVpc", []string{"CidrBlock", "172.30.4.0/24"}, 400, "InvalidParameterValue", "route 172.30.0.0/16"},
		{"vpc: ipv6", alice, "CreateVpc", []string{"CidrBlock", "10.102.0.0/16", "ProvidedIpv6CidrBlock", "true"}, 400, "InvalidParameterValue", "parameter ProvidedIpv6CidrBlock"},
		{"subnet: no vpc", alice, "CreateSubnet", []string{"CidrBlock", "10.100.2.0/24"}, 400, "MissingParameter", "VpcId"},
		{"subnet: another account's vpc", bob, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.2.0/24"}, 400, "InvalidParameterValue", "parameter VpcId"},
		{"subnet: outside", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.99.2.0/24"}, 400, "InvalidParameterValue", "not inside vpc"},
		{"subnet: larger than vpc", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.0.0/15"}, 400, "InvalidParameterValue", "parameter CidrBlock"},
		{"subnet: overlap", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.1.128/25"}, 400, "InvalidParameterValue", "overlaps subnet " + sub.SubnetID},
		{"subnet: too small", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.2.0/30"}, 400, "InvalidParameterValue", "/8 to /29"},
		{"subnet: gateway outside", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.2.0/24", "GatewayIp", "10.100.3.1"}, 400, "InvalidParameterValue", "parameter GatewayIp"},
		{"subnet: zone", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.2.0/24", "AvailabilityZone", "cn-shanghai-2b"}, 400, "InvalidParameterValue", "parameter AvailabilityZone"},
		{"subnet: type", alice, "CreateSubnet", []string{"VpcId", vpc.VpcID, "CidrBlock", "10.100.2.0/24", "SubnetType", "Physical"}, 400, "InvalidParameterValue", "parameter SubnetType"},
		{"delete vpc: another account's", bob, "DeleteVpc", []string{"VpcId", vpc.VpcID}, 404, "VpcNotFound", vpc.VpcID},
		{"delete vpc: has a subnet", alice, "DeleteVpc", []string{"VpcId", vpc.VpcID}, 409, "ResourceInUse", "still has subnet " + sub.SubnetID},
		{"delete vpc: configured", alice, "DeleteVpc", []string{"VpcId", "vpc-a"}, 409, "IncorrectState", "declared in kcid's config"},
		{"delete subnet: another account's", bob, "DeleteSubnet", []string{"SubnetId", sub.SubnetID}, 404, "SubnetNotFound", sub.SubnetID},
		{"delete subnet: configured", alice, "DeleteSubnet", []string{"SubnetId", "subnet-a"}, 409, "IncorrectState", "declared in kcid's config"},
		{"delete subnet: dry run", alice, "DeleteSubnet", []string{"SubnetId", sub.SubnetID, "DryRun", "true"}, 412, "DryRunOperation", ""},
	})
	if n := len(decodeAs[kci.DescribeVpcsResponse](t, alice.vpc("DescribeVpcs")).VpcSet); n != 2 {
		t.Fatalf("alice has %d vpcs, want 2", n)
	}
	if n := len(decodeAs[kci.DescribeSubnetsResponse](t, alice.vpc("DescribeSubnets")).SubnetSet); n != 2 {
		t.Fatalf("alice has %d subnets, want 2", n)
	}
	if n := len(decodeAs[kci.DescribeVpcsResponse](t, bob.vpc("DescribeVpcs")).VpcSet); n != 1 {
		t.Fatalf("bob has %d vpcs, want 1", n)
	}

	// A group runs in the new subnet with a security group of the new VPC;
	// the subnet is then in use.
	sg := decodeAs[kci.CreateSecurityGroupResponse](t, alice.vpc("CreateSecurityGroup", "VpcId", vpc.VpcID)).SecurityGroup.SecurityGroupID
	p := createParams("in-new-subnet")
	p.Set("SubnetId", sub.SubnetID)
	p.Set("SecurityGroupId.1", sg)
	cg := decodeAs[kci.CreateContainerGroupResponse](t, alice.do("CreateContainerGroup", p)).ContainerGroupID
	g := decodeAs[kci.DescribeContainerGroupResponse](t, alice.do("DescribeContainerGroup", vals("ContainerGroupId.1", cg))).ContainerGroups[0]
	if ni := g.NetworkInterfaceAttributes[0]; ni.SubnetID != sub.SubnetID || ni.PrivateIPAddress != "10.100.1.2" {
		t.Fatalf("placed: %+v", ni)
	}
	mustErr(t, alice.vpc("DeleteSubnet", "SubnetId", sub.SubnetID), http.StatusConflict, "ResourceInUse", "used by container group "+cg)

	// A restart keeps them.
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir, hostRoutes: routes})
	alice, bob, _ = tenants(s)
	got := decodeAs[kci.DescribeSubnetsResponse](t, alice.vpc("DescribeSubnets", "SubnetId.1", sub.SubnetID)).SubnetSet
	if len(got) != 1 || got[0].CidrBlock != "10.100.1.0/24" || got[0].VpcID != vpc.VpcID || got[0].AvailableIPNumber != "252" {
		t.Fatalf("after a restart: %+v", got)
	}

	mustOK(t, alice.do("DeleteContainerGroup", vals("ContainerGroupId", cg)))
	retryWhileInUse(t, func() *response { return alice.vpc("DeleteSubnet", "SubnetId", sub.SubnetID) })
	mustErr(t, alice.vpc("DeleteVpc", "VpcId", vpc.VpcID), http.StatusConflict, "ResourceInUse", "still has security group "+sg)
	mustOK(t, alice.vpc("DeleteSecurityGroup", "SecurityGroupId", sg))
	mustOK(t, alice.vpc("DeleteVpc", "VpcId", vpc.VpcID))
	if n := len(decodeAs[kci.DescribeVpcsResponse](t, alice.vpc("DescribeVpcs")).VpcSet); n != 1 {
		t.Fatalf("after the deletes alice has %d vpcs, want 1", n)
	}
	// The block is free again, for any account.
	mustOK(t, bob.vpc("CreateVpc", "CidrBlock", "10.100.0.0/16"))
}
