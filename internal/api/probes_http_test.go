package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestProbesCreateDescribe: the SDK's LivenessProbe and ReadinessProbe and
// kcid's StartupProbe are accepted in every request style and echoed by
// Describe in the SDK's response shape with Kubernetes' defaults filled in
// (Exec.Commands, the unused handlers null); Ready is shown per container
// and per group.
func TestProbesCreateDescribe(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	for _, st := range []style{stylePOSTForm, stylePOSTJSON, styleGET} {
		t.Run(st.String(), func(t *testing.T) {
			c.style = st
			p := createParams("probes-"+strings.ToLower(st.String()), map[string]string{
				"Container.1.LivenessProbe.HttpGet.Port": "8080", "Container.1.LivenessProbe.InitialDelaySeconds": "5",
				"Container.1.ReadinessProbe.Exec.Command.1": "cat", "Container.1.ReadinessProbe.Exec.Command.2": "/tmp/ready",
				"Container.1.ReadinessProbe.SuccessThreshold": "2", "Container.1.ReadinessProbe.PeriodSeconds": "3",
				"Container.1.StartupProbe.TcpSocket.Port": "9000", "Container.1.StartupProbe.FailureThreshold": "30",
			})
			r := c.do("CreateContainerGroup", p)
			mustOK(t, r)
			d := c.do("DescribeContainerGroup", vals("ContainerGroupId.1", r.Body["ContainerGroupId"].(string)))
			mustOK(t, d)
			g := groups(d)[0]
			ctr := g["Containers"].([]any)[0].(map[string]any)
			for _, tc := range []struct{ key, want string }{
				{"LivenessProbe", `{"InitialDelaySeconds":5,"PeriodSeconds":10,"TimeoutSeconds":1,"SuccessThreshold":1,"FailureThreshold":3,"HttpGet":{"Port":8080,"Path":"/","Scheme":"HTTP"},"Exec":null,"TcpSocket":null}`},
				{"ReadinessProbe", `{"InitialDelaySeconds":0,"PeriodSeconds":3,"TimeoutSeconds":1,"SuccessThreshold":2,"FailureThreshold":3,"HttpGet":null,"Exec":{"Commands":["cat","/tmp/ready"]},"TcpSocket":null}`},
				{"StartupProbe", `{"InitialDelaySeconds":0,"PeriodSeconds":10,"TimeoutSeconds":1,"SuccessThreshold":1,"FailureThreshold":30,"HttpGet":null,"Exec":null,"TcpSocket":{"Port":9000}}`},
			} {
				var want any
				if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
					t.Fatal(err)
				}
				got, _ := json.Marshal(ctr[tc.key])
				if w, _ := json.Marshal(want); string(got) != string(w) {
					t.Errorf("%s = %s\nwant %s", tc.key, got, tc.want)
				}
			}
			if _, ok := ctr["Ready"].(bool); !ok {
				t.Errorf("container without Ready: %v", ctr)
			}
			if _, ok := g["Ready"].(bool); !ok {
				t.Errorf("group without Ready: %v", g)
			}
		})
	}
	// A container without probes shows null probes and no StartupProbe.
	c.style = stylePOSTForm
	r := c.do("CreateContainerGroup", createParams("no-probes"))
	mustOK(t, r)
	d := c.do("DescribeContainerGroup", vals("ContainerGroupId.1", r.Body["ContainerGroupId"].(string)))
	mustOK(t, d)
	ctr := groups(d)[0]["Containers"].([]any)[0].(map[string]any)
	if l, has := ctr["LivenessProbe"]; !has || l != nil || ctr["ReadinessProbe"] != nil {
		t.Errorf("probes of a container without any: %v %v", ctr["LivenessProbe"], ctr["ReadinessProbe"])
	}
	if _, has := ctr["StartupProbe"]; has {
		t.Errorf("StartupProbe shown for a container without one")
	}
}

// TestProbesRefused: probes Kubernetes would refuse are refused with 400
// naming the field, in every request style, and nothing is created.
func TestProbesRefused(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	lp := "Container.1.LivenessProbe."
	cases := []struct {
		name  string
		set   map[string]string
		param string
		code  string // InvalidParameterValue if empty
	}{
		{"no handler", map[string]string{lp + "PeriodSeconds": "5"}, "Container.1.LivenessProbe", ""},
		{"two handlers", map[string]string{lp + "HttpGet.Port": "80", lp + "TcpSocket.Port": "80"}, lp + "Exec.Command.N", ""},
		{"port 0", map[string]string{lp + "TcpSocket.Port": "0"}, lp + "TcpSocket.Port", ""},
		{"port 65536", map[string]string{lp + "HttpGet.Port": "65536"}, lp + "HttpGet.Port", ""},
		{"http without port", map[string]string{lp + "HttpGet.Path": "/x"}, lp + "HttpGet.Port", "MissingParameter"},
		{"relative path", map[string]string{lp + "HttpGet.Port": "80", lp + "HttpGet.Path": "healthz"}, lp + "HttpGet.Path", ""},
		{"scheme", map[string]string{lp + "HttpGet.Port": "80", lp + "HttpGet.Scheme": "FTP"}, lp + "HttpGet.Scheme", ""},
		{"period 0", map[string]string{lp + "TcpSocket.Port": "80", lp + "PeriodSeconds": "0"}, lp + "PeriodSeconds", ""},
		{"timeout 0", map[string]string{lp + "TcpSocket.Port": "80", lp + "TimeoutSeconds": "0"}, lp + "TimeoutSeconds", ""},
		{"negative delay", map[string]string{lp + "TcpSocket.Port": "80", lp + "InitialDelaySeconds": "-1"}, lp + "InitialDelaySeconds", ""},
		{"failure threshold 0", map[string]string{lp + "TcpSocket.Port": "80", lp + "FailureThreshold": "0"}, lp + "FailureThreshold", ""},
		{"liveness success threshold 2", map[string]string{lp + "TcpSocket.Port": "80", lp + "SuccessThreshold": "2"}, lp + "SuccessThreshold", ""},
		{"startup success threshold 2", map[string]string{"Container.1.StartupProbe.TcpSocket.Port": "80", "Container.1.StartupProbe.SuccessThreshold": "2"}, "Container.1.StartupProbe.SuccessThreshold", ""},
		{"NUL in exec command", map[string]string{"Container.1.ReadinessProbe.Exec.Command.1": "a\x00"}, "Container.1.ReadinessProbe.Exec.Command.N", ""},
	}
	for _, st := range []style{stylePOSTForm, stylePOSTJSON, styleGET} {
		for _, tc := range cases {
			t.Run(st.String()+"/"+tc.name, func(t *testing.T) {
				c.style = st
				p := createParams("bad-probe", tc.set)
				code := tc.code
				if code == "" {
					code = "InvalidParameterValue"
				}
				mustErr(t, c.do("CreateContainerGroup", p), http.StatusBadRequest, code, tc.param)
			})
		}
	}
	if n := total(t, c); n != 0 {
		t.Fatalf("refused creates left %d groups", n)
	}
}
