package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Requests that kcid used to accept and then fail on at run time (issue 9),
// through a real HTTP server: 400 naming the parameter, nothing created.
func TestCreateRefusesWhatTheRuntimeCannotRun(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	cf := "Volume.1.ConfigFileVolume.ConfigFileToPath."
	cases := []struct {
		name  string
		set   map[string]string
		param string
	}{
		{"image with a scheme", map[string]string{"Container.1.Image": "file:///etc/passwd"}, "Container.1.Image"},
		{"image upper case", map[string]string{"Container.1.Image": "UPPER/Case:1"}, "Container.1.Image"},
		{"image three colons", map[string]string{"Container.1.Image": "x:1:2:3"}, "Container.1.Image"},
		{"image bad digest", map[string]string{"Container.1.Image": "busybox@sha256:zzz"}, "Container.1.Image"},
		{"host alias line injection", map[string]string{"HostAliase.1.Ip": "fe80::1%x\n6.6.6.6 injected-host", "HostAliase.1.Hostname.1": "a"}, "HostAliase.1.Ip"},
		{"name server line injection", map[string]string{"DnsConfig.NameServer.1": "fe80::1%x\nnameserver 6.6.6.6"}, "DnsConfig.NameServer.N"},
		{"config file name 255 bytes", map[string]string{"Volume.1.Name": "v", "Volume.1.Type": "ConfigFileVolume", cf + "1.Path": strings.Repeat("n", 255), cf + "1.Content": "eA=="}, cf + "1.Path"},
		{"config files a and a/b", map[string]string{"Volume.1.Name": "v", "Volume.1.Type": "ConfigFileVolume", cf + "1.Path": "a", cf + "1.Content": "eA==", cf + "2.Path": "a/b", cf + "2.Content": "eA=="}, cf + "2.Path"},
		{"cpu 0.001", map[string]string{"Cpu": "0.001"}, "Cpu"},
		{"memory 0.001", map[string]string{"Memory": "0.001"}, "Memory"},
		{"NUL in env value", map[string]string{"Container.1.EnvironmentVar.1.Key": "A", "Container.1.EnvironmentVar.1.Value": "a\x00b"}, "Container.1.EnvironmentVar.1.Value"},
		{"NUL in arg", map[string]string{"Container.1.Arg.1": "a\x00b"}, "Container.1.Arg.N"},
		{"NUL in command", map[string]string{"Container.1.Command.1": "sh\x00"}, "Container.1.Command.N"},
	}
	for _, st := range []style{stylePOSTForm, stylePOSTJSON} {
		for _, tc := range cases {
			t.Run(st.String()+"/"+tc.name, func(t *testing.T) {
				c.style = st
				p := createParams("bad", tc.set)
				mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue", "parameter "+tc.param+":")
			})
		}
	}
	c.style = stylePOSTForm

	// 10,000 containers: a limit error naming Container.N, not "not valid
	// form encoding".
	for _, n := range []int{101, 10000} {
		p := createParams("many")
		for i := 2; i <= n; i++ {
			p.Set(fmt.Sprintf("Container.%d.Name", i), fmt.Sprintf("c%d", i))
			p.Set(fmt.Sprintf("Container.%d.Image", i), "busybox")
		}
		mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, "InvalidParameterValue", "parameter Container.N:")
	}
	if n := total(t, c); n != 0 {
		t.Fatalf("refused creates left %d groups", n)
	}
}
