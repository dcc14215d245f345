package kcictl

import (
	"reflect"
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

func intp(n int) *int { return &n }

// TestRuleFlags: the flags of allow and revoke become the API's rule
// fields, with allow's defaults.
func TestRuleFlags(t *testing.T) {
	cases := []struct {
		name string
		r    ruleFlags
		want kci.AuthorizeSecurityGroupEntryRequest
	}{
		{"tcp port", ruleFlags{direction: "in", protocol: "tcp", port: "80", cidr: "0.0.0.0/0"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "in", Protocol: "TCP", CidrBlock: "0.0.0.0/0", PortRangeFrom: 80, PortRangeTo: 80}},
		{"udp range out", ruleFlags{direction: "OUT", protocol: "UDP", port: "8000-8100", cidr: "10.1.0.0/16", description: "d"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "out", Protocol: "UDP", CidrBlock: "10.1.0.0/16", PortRangeFrom: 8000, PortRangeTo: 8100, Description: "d"}},
		{"tcp every port", ruleFlags{direction: "in", protocol: "tcp", cidr: "10.0.0.0/8"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "in", Protocol: "TCP", CidrBlock: "10.0.0.0/8", PortRangeFrom: 1, PortRangeTo: 65535}},
		{"icmp any", ruleFlags{direction: "in", protocol: "icmp", cidr: "0.0.0.0/0"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "in", Protocol: "ICMP", CidrBlock: "0.0.0.0/0", IcmpType: intp(-1), IcmpCode: intp(-1)}},
		{"icmp echo", ruleFlags{direction: "in", protocol: "icmp", cidr: "0.0.0.0/0", icmpType: "8"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "in", Protocol: "ICMP", CidrBlock: "0.0.0.0/0", IcmpType: intp(8), IcmpCode: intp(-1)}},
		{"icmp type 0 code 0", ruleFlags{direction: "in", protocol: "icmp", cidr: "0.0.0.0/0", icmpType: "0", icmpCode: "0"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "in", Protocol: "ICMP", CidrBlock: "0.0.0.0/0", IcmpType: intp(0), IcmpCode: intp(0)}},
		{"ip host", ruleFlags{direction: "out", protocol: "ip", cidr: "10.1.2.3/32"},
			kci.AuthorizeSecurityGroupEntryRequest{Direction: "out", Protocol: "IP", CidrBlock: "10.1.2.3/32"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.r.entry()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", *got, tc.want)
			}
			// The rule kcid answers for it is the one revoke finds.
			x := kci.SecurityGroupEntry{Direction: got.Direction, Protocol: got.Protocol, CidrBlock: got.CidrBlock,
				PortRangeFrom: got.PortRangeFrom, PortRangeTo: got.PortRangeTo}
			if got.IcmpType != nil {
				x.IcmpType, x.IcmpCode = *got.IcmpType, *got.IcmpCode
			}
			if !matches(x, got) {
				t.Errorf("matches(%+v) = false", x)
			}
			x.CidrBlock = "192.168.0.0/16"
			if matches(x, got) {
				t.Errorf("a rule of another block matches")
			}
		})
	}
}

func TestRuleTarget(t *testing.T) {
	cases := []struct {
		e    kci.SecurityGroupEntry
		want string
	}{
		{kci.SecurityGroupEntry{Protocol: "TCP", PortRangeFrom: 80, PortRangeTo: 80}, "80"},
		{kci.SecurityGroupEntry{Protocol: "UDP", PortRangeFrom: 1, PortRangeTo: 65535}, "all"},
		{kci.SecurityGroupEntry{Protocol: "TCP", PortRangeFrom: 8000, PortRangeTo: 8100}, "8000-8100"},
		{kci.SecurityGroupEntry{Protocol: "ICMP", IcmpType: -1, IcmpCode: -1}, "all"},
		{kci.SecurityGroupEntry{Protocol: "ICMP", IcmpType: 3, IcmpCode: 4}, "type 3 code 4"},
		{kci.SecurityGroupEntry{Protocol: "IP"}, "all"},
	}
	for _, tc := range cases {
		if got := ruleTarget(tc.e); got != tc.want {
			t.Errorf("ruleTarget(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestPickNetObject(t *testing.T) {
	objs := []netObject{{"v-1", "dev"}, {"v-2", "ci"}, {"v-3", "ci"}, {"v-4", "v-1"}}
	cases := []struct{ ref, want, err string }{
		{"v-2", "v-2", ""},
		{"dev", "v-1", ""},
		{"v-1", "v-1", ""}, // an ID wins over a name
		{"ci", "", `2 VPCs are named "ci" (v-2, v-3): give the ID`},
		{"prod", "", `no VPC has the ID or name "prod" ('kcictl vpc list' lists them)`},
	}
	for _, tc := range cases {
		got, err := pickNetObject("VPC", "vpc list", tc.ref, objs)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("pick %q = %q, %v; want %q, %q", tc.ref, got, err, tc.want, tc.err)
		}
	}
}
