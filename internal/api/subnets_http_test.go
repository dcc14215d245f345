package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

const multiSubnetConfig = `
node: {cpu: 1000, memory: 1000}
vpcs:
  - {id: vpc-m, cidr: 10.95.0.0/16}
  - {id: vpc-n, cidr: 10.96.0.0/16}
subnets:
  - {id: s-small-a, vpc: vpc-m, cidr: 10.95.1.0/29, zone: cn-beijing-6a}
  - {id: s-small-b, vpc: vpc-m, cidr: 10.95.2.0/29, zone: cn-beijing-6b}
  - {id: s-other-vpc, vpc: vpc-n, cidr: 10.96.1.0/24, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-m, vpc: vpc-m}
`

// MultiSubnetId: a group lands in the first listed subnet with a free
// address and takes its zone; a nearly full subnet spills over into the
// next; all full is a capacity error that changes nothing.
func TestMultiSubnet(t *testing.T) {
	s := startServer(t, serverOpts{config: multiSubnetConfig})
	c := s.client()
	create := func(name string, kv ...string) *response {
		p := createParams(name)
		p.Del("SubnetId")
		p.Set("SecurityGroupId.1", "sg-m")
		for i := 0; i < len(kv); i += 2 {
			p.Set(kv[i], kv[i+1])
		}
		return c.do("CreateContainerGroup", p)
	}
	placed := func(r *response) (subnet, zone, ip string) {
		t.Helper()
		mustOK(t, r)
		id := r.Body["ContainerGroupId"].(string)
		g := decodeAs[kci.DescribeContainerGroupResponse](t, c.do("DescribeContainerGroup", vals("ContainerGroupId.1", id))).ContainerGroups[0]
		ni := g.NetworkInterfaceAttributes[0]
		return ni.SubnetID, g.AvailabilityZone, ni.PrivateIPAddress
	}
	// Each /29 holds 5 groups (.2-.6; .1 is the gateway). Four in s-small-a
	// through SubnetId leave it nearly full.
	for i := range 4 {
		if sub, _, _ := placed(create("fill", "SubnetId", "s-small-a")); sub != "s-small-a" {
			t.Fatalf("fill %d landed in %s", i, sub)
		}
	}
	// 0-based as the SDKs send; SubnetId absent.
	if sub, zone, ip := placed(create("last-in-a", "MultiSubnetId.0", "s-small-a", "MultiSubnetId.1", "s-small-b")); sub != "s-small-a" || zone != "cn-beijing-6a" || ip != "10.95.1.6" {
		t.Fatalf("the last address of s-small-a: %s %s %s", sub, zone, ip)
	}
	for i := range 5 {
		sub, zone, ip := placed(create("spill", "MultiSubnetId.0", "s-small-a", "MultiSubnetId.1", "s-small-b"))
		if sub != "s-small-b" || zone != "cn-beijing-6b" || !strings.HasPrefix(ip, "10.95.2.") {
			t.Fatalf("spill %d: %s %s %s, want s-small-b in cn-beijing-6b", i, sub, zone, ip)
		}
	}
	// SubnetId first, then MultiSubnetId.
	mustErr(t, create("full", "SubnetId", "s-small-a", "MultiSubnetId.1", "s-small-b"), http.StatusConflict, "InsufficientResource", "s-small-a, s-small-b")
	mustErr(t, create("full", "MultiSubnetId.1", "s-small-b"), http.StatusConflict, "InsufficientResource", "no free IP address is left in any of the subnets s-small-b")
	// A full SubnetId alone is refused as before.
	mustErr(t, create("full", "SubnetId", "s-small-b"), http.StatusBadRequest, "InvalidParameterValue", "parameter SubnetId:")
	if n := total(t, c); n != 10 {
		t.Fatalf("refused creates changed the count: %d groups", n)
	}
	sn := decodeAs[kci.DescribeSubnetsResponse](t, c.doVersionService("DescribeSubnets", "2016-03-04", "vpc", vals("SubnetId.1", "s-small-a", "SubnetId.2", "s-small-b")))
	for _, sub := range sn.SubnetSet {
		if sub.AvailableIPNumber != "0" {
			t.Errorf("%s: AvailableIpNumber %s, want 0", sub.SubnetID, sub.AvailableIPNumber)
		}
	}

	// Bad lists change nothing.
	bad := []struct {
		kv              []string
		status          int
		code, inMessage string
	}{
		{nil, http.StatusBadRequest, "MissingParameter", "SubnetId"},
		{[]string{"MultiSubnetId.1", "s-small-a", "MultiSubnetId.2", "s-other-vpc"}, http.StatusBadRequest, "InvalidParameterValue", "parameter MultiSubnetId.N: subnet \"s-other-vpc\" is in vpc \"vpc-n\""},
		{[]string{"MultiSubnetId.1", "s-nope"}, http.StatusBadRequest, "InvalidParameterValue", "parameter MultiSubnetId.N: subnet \"s-nope\" does not exist"},
		{[]string{"MultiSubnetId.1", ""}, http.StatusBadRequest, "InvalidParameterValue", "parameter MultiSubnetId.N: must not be empty"},
		{[]string{"MultiSubnetId.1", "a", "MultiSubnetId.2", "b", "MultiSubnetId.3", "c", "MultiSubnetId.4", "d", "MultiSubnetId.5", "e", "MultiSubnetId.6", "f"},
			http.StatusBadRequest, "InvalidParameterValue", "at most 5 subnets"},
	}
	for _, tc := range bad {
		mustErr(t, create("bad", tc.kv...), tc.status, tc.code, tc.inMessage)
	}
	if n := total(t, c); n != 10 {
		t.Fatalf("refused creates changed the count: %d groups", n)
	}
}

// Another account's subnet is one that does not exist, in MultiSubnetId too.
func TestMultiSubnetTenancy(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig})
	_, bob, _ := tenants(s)
	p := createParams("bob")
	p.Del("SubnetId")
	p.Set("SecurityGroupId.1", "sg-b")
	p.Set("MultiSubnetId.1", "subnet-b")
	p.Set("MultiSubnetId.2", "subnet-a")
	mustErr(t, bob.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue", "parameter MultiSubnetId.N: subnet \"subnet-a\" does not exist")
	p.Del("MultiSubnetId.2")
	mustOK(t, bob.do("CreateContainerGroup", p))
}
