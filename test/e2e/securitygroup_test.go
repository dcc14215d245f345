package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSecurityGroupsOverAPI: on the kcid binary over real containerd, a
// security group made through the API filters its group's traffic: the
// host (the subnet's gateway) reaches busybox httpd in the group only
// while an AuthorizeSecurityGroupEntry rule allows it; the answer comes
// once the rule is applied (no waiting); RevokeSecurityGroupEntry closes
// it again; the configured group's default rules let the host in.
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
	httpd := "mkdir -p /www && echo hello-sg > /www/index.html && exec httpd -f -p 8080 -h /www"
	web := createGroup(t, e, c, groupSpec{name: "sg-web", subnet: subnetSG, script: httpd,
		extra: vals("SecurityGroupId.1", sg)})
	open := createGroup(t, e, c, groupSpec{name: "sg-open", subnet: subnetSG, script: httpd}) // in sg-e2e
	webIP := waitGroup(t, k, c, web, 60*time.Second, "running", running).ip()
	openIP := waitGroup(t, k, c, open, 60*time.Second, "running", running).ip()

	get := func(ip string, timeout time.Duration) bool {
		cl := http.Client{Timeout: timeout}
		resp, err := cl.Get("http://" + ip + ":8080/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "hello-sg")
	}
	// The configured group's defaults (everything in from the VPC, whose
	// block holds the gateway): reached once httpd listens.
	for deadline := time.Now().Add(30 * time.Second); !get(openIP, 2*time.Second); time.Sleep(pollEvery) {
		if time.Now().After(deadline) {
			t.Fatal("the host does not reach a group of the configured security group")
		}
	}
	if get(webIP, time.Second) {
		t.Fatal("the host reached a group whose security group has no ingress rule")
	}
	var auth struct {
		IDs []string `json:"SecurityGroupEntryIdSet"`
	}
	start := time.Now()
	if err := c.call("AuthorizeSecurityGroupEntry", vals("SecurityGroupId", sg, "Direction", "in", "Protocol", "TCP",
		"CidrBlock", "10.77.61.0/24", "PortRangeFrom", "8080", "PortRangeTo", "8080"), &auth); err != nil {
		t.Fatal(err)
	}
	t.Logf("AuthorizeSecurityGroupEntry answered in %v", time.Since(start))
	if !get(webIP, 5*time.Second) {
		t.Fatal("right after AuthorizeSecurityGroupEntry answered, the host does not reach the group")
	}
	if err := c.call("RevokeSecurityGroupEntry", vals("SecurityGroupId", sg, "SecurityGroupEntryId", auth.IDs[0]), nil); err != nil {
		t.Fatal(err)
	}
	if get(webIP, time.Second) {
		t.Error("right after RevokeSecurityGroupEntry answered, the host still reaches the group")
	}
}
