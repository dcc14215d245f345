package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSecurityGroupsOverAPI: on the kcid binary over real containerd, a
// security group made through the API filters its group's traffic: a
// group of the configured security group reaches busybox httpd in it only
// while an AuthorizeSecurityGroupEntry rule allows it, and no longer once
// RevokeSecurityGroupEntry answered; the host (the subnet's gateway, where
// kcid's probes come from) always reaches it.
func TestSecurityGroupsOverAPI(t *testing.T) {
	e := needEnv(t)
	k := startKcid(t, e, subnetSG)
	c := newClient(k)
	var made struct {
		SecurityGroup struct {
			SecurityGroupID string `json:"SecurityGroupId"`
		}
	}
	if err := c.call("CreateSecurityGroup", vals("VpcId", "vpc-e2e", "SecurityGroupName", "web"), &made); err != nil {
		t.Fatal(err)
	}
	sg := made.SecurityGroup.SecurityGroupID
	t.Cleanup(func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(pollEvery) {
			if c.call("DeleteSecurityGroup", vals("SecurityGroupId", sg), nil) == nil {
				return
			}
		}
		t.Errorf("security group %s not deleted", sg)
	})
	web := createGroup(t, e, c, groupSpec{name: "sg-web", subnet: subnetSG,
		script: "mkdir -p /www && echo hello-sg > /www/index.html && exec httpd -f -p 8080 -h /www",
		extra:  vals("SecurityGroupId.1", sg)})
	webIP := waitGroup(t, k, c, web, 60*time.Second, "running", running).ip()
	// The client, in the configured security group (everything out), says
	// every 0.2 s whether it reached web.
	cli := createGroup(t, e, c, groupSpec{name: "sg-cli", subnet: subnetSG,
		// busybox nc, not wget: the test image's wget segfaults.
		script: "while true; do if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 " + webIP + " 8080 | grep -q hello-sg; then echo UP; else echo DOWN; fi; sleep 0.2; done"})
	waitGroup(t, k, c, cli, 60*time.Second, "running", running)

	// The host is let in whatever the rules (once httpd listens).
	get := func(ip string) bool {
		cl := http.Client{Timeout: 2 * time.Second}
		resp, err := cl.Get("http://" + ip + ":8080/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "hello-sg")
	}
	for deadline := time.Now().Add(30 * time.Second); !get(webIP); time.Sleep(pollEvery) {
		if time.Now().After(deadline) {
			t.Fatal("the host does not reach a group whose security group has no ingress rule (probes come from it)")
		}
	}
	// last waits until the client's newest line is want.
	last := func(want string) time.Duration {
		t.Helper()
		start := time.Now()
		for deadline := start.Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			out, err := logs(c, cli, ctrName)
			lines := strings.Fields(out)
			if err == nil && len(lines) > 0 && lines[len(lines)-1] == want {
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				g, _ := describe(c, cli)
				t.Fatalf("the client's last word is not %s after 15 s (err %v):\n%s\nthe client: %s", want, err, out, dump(g))
			}
		}
	}
	last("DOWN")
	var auth struct {
		IDs []string `json:"SecurityGroupEntryIdSet"`
	}
	start := time.Now()
	if err := c.call("AuthorizeSecurityGroupEntry", vals("SecurityGroupId", sg, "Direction", "in", "Protocol", "TCP",
		"CidrBlock", "10.77.61.0/24", "PortRangeFrom", "8080", "PortRangeTo", "8080"), &auth); err != nil {
		t.Fatal(err)
	}
	t.Logf("AuthorizeSecurityGroupEntry answered in %v; the client was through %v later", time.Since(start), last("UP"))
	start = time.Now()
	if err := c.call("RevokeSecurityGroupEntry", vals("SecurityGroupId", sg, "SecurityGroupEntryId", auth.IDs[0]), nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("RevokeSecurityGroupEntry answered in %v; the client was shut out %v later", time.Since(start), last("DOWN"))
}
