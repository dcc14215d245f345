package core

import (
	"net/netip"
	"testing"
)

func TestBroadcastAddr(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.0.0.0/24": "10.0.0.255", "10.90.2.0/29": "10.90.2.7", "10.0.0.0/8": "10.255.255.255",
		"192.168.1.77/30": "192.168.1.79", "10.1.1.1/32": "10.1.1.1",
	} {
		if got := BroadcastAddr(netip.MustParsePrefix(cidr)).String(); got != want {
			t.Errorf("%s: %s, want %s", cidr, got, want)
		}
	}
}
