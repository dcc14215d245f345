package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestFlagsRefused: a missing or inconsistent flag is refused before
// anything is contacted, with a message that says what to give.
func TestFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--security-group-id", "sg"}, "--subnet-id is required"},
		{[]string{"--subnet-id", "s"}, "--security-group-id is required"},
		{[]string{"--subnet-id", "s", "--security-group-id", "sg"}, "--client-ca-file is required"},
		{[]string{"--subnet-id", "s", "--security-group-id", "sg", "--insecure-no-auth", "--tls-cert-file", "c"}, "go together"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--subnet-id", "s", "--security-group-id", "sg", "--insecure-no-auth", "--gpus", "-1"}, "--gpus -1"},
		{[]string{"--subnet-id", "s", "--security-group-id", "sg", "--insecure-no-auth", "--gpus", "1", "--gpu-resource", "gpu"}, "--gpu-resource: \"gpu\" is not an extended resource name"},
		{[]string{"--subnet-id", "s", "--security-group-id", "sg", "--insecure-no-auth", "--gpus", "1", "--gpu-resource", "kubernetes.io/gpu"}, "not an extended resource name"},
		{[]string{"extra"}, "unknown command"},
	} {
		cmd := command()
		cmd.SetArgs(tc.args)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestHelpTeaches: --help shows how to select the node and where the
// settings come from.
func TestHelpTeaches(t *testing.T) {
	cmd := command()
	cmd.SetArgs([]string{"--help"})
	var out bytes.Buffer
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nodeSelector: {type: virtual-kubelet}", "virtual-kubelet.io/provider", "KCI_ACCESS_KEY_ID", "~/.kci/config", "--subnet-id", "docs/virtual-kubelet.md"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
