package service

import (
	"errors"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

func TestNormalizeRule(t *testing.T) {
	tests := []struct {
		name      string
		in        core.SecurityGroupRule
		want      core.SecurityGroupRule
		wantParam string // the wire parameter an error names
	}{
		{"tcp masked", core.SecurityGroupRule{Direction: "in", Protocol: "TCP", CIDR: "10.1.2.3/16", PortFrom: 22, PortTo: 22, IcmpType: 3},
			core.SecurityGroupRule{Direction: "in", Protocol: "tcp", CIDR: "10.1.0.0/16", PortFrom: 22, PortTo: 22, Policy: "Accept"}, ""},
		{"all drops ports", core.SecurityGroupRule{Direction: "out", Protocol: "ip", CIDR: "0.0.0.0/0", PortFrom: 5, PortTo: 9, Policy: "accept"},
			core.SecurityGroupRule{Direction: "out", Protocol: "ip", CIDR: "0.0.0.0/0", Policy: "Accept"}, ""},
		{"icmp any", core.SecurityGroupRule{Direction: "in", Protocol: "Icmp", CIDR: "10.0.0.1/32", IcmpType: -1, IcmpCode: -1, PortFrom: 1},
			core.SecurityGroupRule{Direction: "in", Protocol: "icmp", CIDR: "10.0.0.1/32", IcmpType: -1, IcmpCode: -1, Policy: "Accept"}, ""},
		{"icmp echo", core.SecurityGroupRule{Direction: "in", Protocol: "icmp", CIDR: "10.0.0.0/8", IcmpType: 8, IcmpCode: 0},
			core.SecurityGroupRule{Direction: "in", Protocol: "icmp", CIDR: "10.0.0.0/8", IcmpType: 8, Policy: "Accept"}, ""},
		{"no direction", core.SecurityGroupRule{Protocol: "ip", CIDR: "0.0.0.0/0"}, core.SecurityGroupRule{}, "Direction"},
		{"bad direction", core.SecurityGroupRule{Direction: "ingress", Protocol: "ip", CIDR: "0.0.0.0/0"}, core.SecurityGroupRule{}, "Direction"},
		{"no protocol", core.SecurityGroupRule{Direction: "in", CIDR: "0.0.0.0/0"}, core.SecurityGroupRule{}, "Protocol"},
		{"ipv6 cidr", core.SecurityGroupRule{Direction: "in", Protocol: "ip", CIDR: "::/0"}, core.SecurityGroupRule{}, "CidrBlock"},
		{"port above", core.SecurityGroupRule{Direction: "in", Protocol: "udp", CIDR: "0.0.0.0/0", PortFrom: 1, PortTo: 65536}, core.SecurityGroupRule{}, "PortRangeTo"},
		{"icmp code without type", core.SecurityGroupRule{Direction: "in", Protocol: "icmp", CIDR: "0.0.0.0/0", IcmpType: -1, IcmpCode: 0}, core.SecurityGroupRule{}, "IcmpCode"},
		{"deny", core.SecurityGroupRule{Direction: "in", Protocol: "ip", CIDR: "0.0.0.0/0", Policy: "Deny"}, core.SecurityGroupRule{}, "Policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeRule(tc.in)
			if tc.wantParam != "" {
				var pe *errdefs.ParamError
				if !errors.As(err, &pe) || pe.Param != tc.wantParam {
					t.Fatalf("error %v, want one naming %s", err, tc.wantParam)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
