package service

import (
	"errors"
	"reflect"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

func TestParseNameServer(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"", "", false},
		{"10.0.0.2", "10.0.0.2", false},
		{"8.8.8.8", "8.8.8.8", false},
		{"010.0.0.2", "", true}, // leading zeros: ambiguous (octal?), refused
		{"0.0.0.0", "", true},
		{"fd00::53", "", true},
		{"::ffff:10.0.0.2", "", true},
		{"10.0.0.0/24", "", true},
		{"ns1.example.com", "", true},
		{"10.0.0.2 ", "", true},
		{"10.0.0.2\nnameserver 1.1.1.1", "", true},
	}
	for _, tt := range tests {
		got, err := parseNameServer("Dns2", tt.in)
		if tt.bad {
			var pe *errdefs.ParamError
			if !errors.As(err, &pe) || pe.Code != errdefs.CodeInvalidParameterValue || pe.Param != "Dns2" {
				t.Errorf("%q: want InvalidParameterValue naming Dns2, got %v", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSubnetDNS(t *testing.T) {
	n := NewNetworks()
	n.AddSubnet(core.Subnet{ID: "both", DNS1: "10.0.0.2", DNS2: "10.0.0.3"})
	n.AddSubnet(core.Subnet{ID: "second", DNS2: "10.0.0.3"})
	n.AddSubnet(core.Subnet{ID: "same", DNS1: "10.0.0.2", DNS2: "10.0.0.2"})
	n.AddSubnet(core.Subnet{ID: "none"})
	opts := []core.DNSOption{{Name: "ndots", Value: "2"}}
	tests := []struct {
		name, subnet string
		in, want     *core.DNSConfig
	}{
		{"no DnsConfig", "both", nil, &core.DNSConfig{NameServers: []string{"10.0.0.2", "10.0.0.3"}}},
		{"Dns2 alone", "second", nil, &core.DNSConfig{NameServers: []string{"10.0.0.3"}}},
		{"the same twice", "same", nil, &core.DNSConfig{NameServers: []string{"10.0.0.2"}}},
		{"searches and options kept", "both", &core.DNSConfig{Searches: []string{"svc.local"}, Options: opts},
			&core.DNSConfig{NameServers: []string{"10.0.0.2", "10.0.0.3"}, Searches: []string{"svc.local"}, Options: opts}},
		{"own name servers win", "both", &core.DNSConfig{NameServers: []string{"9.9.9.9"}}, &core.DNSConfig{NameServers: []string{"9.9.9.9"}}},
		{"subnet without", "none", nil, nil},
		{"subnet without, DnsConfig kept", "none", &core.DNSConfig{Searches: []string{"svc.local"}}, &core.DNSConfig{Searches: []string{"svc.local"}}},
	}
	for _, tt := range tests {
		if got := n.subnetDNS(tt.subnet, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
