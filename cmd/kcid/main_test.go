package main

import (
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestKubePodCIDRsFlag(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		want    []netip.Prefix
		wantErr string
	}{
		{"10.244.0.0/16", []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, ""},
		{"10.244.0.0/16, fd00:10:244::/56", []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/56")}, ""},
		{"10.244.3.1/16", []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, ""}, // host bits dropped
		{"10.244.0.0", nil, `"10.244.0.0" is not a CIDR`},
		{"10.244.0.0/16,", nil, `"" is not a CIDR`},
	} {
		f, err := parseServeFlags([]string{"--runtime", "kubernetes", "--kube-pod-cidrs", tc.arg}, io.Discard)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "kube-pod-cidrs") {
				t.Errorf("--kube-pod-cidrs %q: %v, want an error naming the flag and %s", tc.arg, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("--kube-pod-cidrs %q: %v", tc.arg, err)
			continue
		}
		if !slices.Equal(f.kubePodCIDRs, tc.want) {
			t.Errorf("--kube-pod-cidrs %q: %v, want %v", tc.arg, f.kubePodCIDRs, tc.want)
		}
	}
}
