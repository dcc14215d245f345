package e2e

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// e2eAPICIDR is the block of the VPC TestSubnetNameServersInResolvConf
// makes through the API (outside vpc-e2e, which it must not overlap);
// TestMain sweeps bridges left in it as in e2eCIDR.
const e2eAPICIDR = "10.76.0.0/16"

// resolvNameServers returns the nameserver lines of a resolv.conf.
func resolvNameServers(resolv string) []string {
	return resolvFields(resolv)["nameserver"]
}

// resolvFields returns the values of each keyword of a resolv.conf
// (nameserver, search, options), in order.
func resolvFields(resolv string) map[string][]string {
	out := map[string][]string{}
	for _, l := range strings.Split(resolv, "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			out[f[0]] = append(out[f[0]], f[1:]...)
		}
	}
	return out
}

// lastResolv returns the last resolv.conf a looping script printed
// between ==resolv and ==end lines, and how many it printed.
func lastResolv(out string) (string, int) {
	n := strings.Count(out, "==end\n")
	i := strings.LastIndex(out, "==resolv\n")
	if i < 0 {
		return "", n
	}
	return section(out[i:], "==resolv", "==end"), n
}

// TestSubnetNameServersInResolvConf: the kcid binary on real containerd
// gives a group created in a subnet made through the API the subnet's
// Dns1 as its /etc/resolv.conf name server; after ModifySubnet a group
// created then has the new Dns1 and Dns2, while the group created before
// keeps its resolv.conf.
func TestSubnetNameServersInResolvConf(t *testing.T) {
	t.Parallel()
	e := needEnv(t)
	k := startKcid(t, e)
	c := newClient(k)

	var vpc struct {
		Vpc struct {
			VpcID string `json:"VpcId"`
		} `json:"Vpc"`
	}
	if err := c.call("CreateVpc", vals("CidrBlock", e2eAPICIDR, "VpcName", "e2e-api"), &vpc); err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	var sub struct {
		Subnet struct {
			SubnetID string `json:"SubnetId"`
		} `json:"Subnet"`
	}
	if err := c.call("CreateSubnet", vals("VpcId", vpc.Vpc.VpcID, "CidrBlock", "10.76.1.0/24", "Dns1", "10.76.0.53"), &sub); err != nil {
		t.Fatalf("CreateSubnet: %v", err)
	}
	var sg struct {
		SecurityGroup struct {
			SecurityGroupID string `json:"SecurityGroupId"`
		} `json:"SecurityGroup"`
	}
	if err := c.call("CreateSecurityGroup", vals("VpcId", vpc.Vpc.VpcID), &sg); err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	subnet, sgAPI := sub.Subnet.SubnetID, sg.SecurityGroup.SecurityGroupID
	// Runs after the groups' cleanups (registered later): the networks go
	// once the groups have.
	t.Cleanup(func() {
		deleteRetrying(t, c, "DeleteSubnet", "SubnetId", subnet)
		deleteRetrying(t, c, "DeleteSecurityGroup", "SecurityGroupId", sgAPI)
		deleteRetrying(t, c, "DeleteVpc", "VpcId", vpc.Vpc.VpcID)
	})

	const loop = "while :; do echo ==resolv; cat /etc/resolv.conf; echo ==end; sleep 1; done"
	spec := func(name string) groupSpec {
		return groupSpec{name: name, subnet: subnet, script: loop, extra: vals("SecurityGroupId.1", sgAPI)}
	}
	before := createGroup(t, e, c, spec("e2e-dns-before"))
	waitGroup(t, k, c, before, runningTimeout, "Running", running)
	resolv, _ := lastResolv(waitLog(t, k, c, before, "==end", logTimeout))
	if ns := resolvNameServers(resolv); !slices.Equal(ns, []string{"10.76.0.53"}) {
		t.Fatalf("group in a subnet with Dns1 10.76.0.53: name servers %v in /etc/resolv.conf:\n%s", ns, resolv)
	}

	if err := c.call("ModifySubnet", vals("SubnetId", subnet, "Dns1", "10.76.0.54", "Dns2", "10.76.0.55"), nil); err != nil {
		t.Fatalf("ModifySubnet: %v", err)
	}
	out, _ := logs(c, before, ctrName)
	_, printed := lastResolv(out)

	after := createGroup(t, e, c, spec("e2e-dns-after"))
	waitGroup(t, k, c, after, runningTimeout, "Running", running)
	resolv, _ = lastResolv(waitLog(t, k, c, after, "==end", logTimeout))
	if ns := resolvNameServers(resolv); !slices.Equal(ns, []string{"10.76.0.54", "10.76.0.55"}) {
		t.Errorf("group created after ModifySubnet: name servers %v in /etc/resolv.conf, want [10.76.0.54 10.76.0.55]:\n%s", ns, resolv)
	}

	// The earlier group, read again after the change: unchanged.
	deadline := time.Now().Add(logTimeout)
	for {
		out, err := logs(c, before, ctrName)
		resolv, n := lastResolv(out)
		if err == nil && n > printed {
			if ns := resolvNameServers(resolv); !slices.Equal(ns, []string{"10.76.0.53"}) {
				t.Errorf("group created before ModifySubnet: name servers now %v, want its own [10.76.0.53]:\n%s", ns, resolv)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s printed no resolv.conf after ModifySubnet in %v (%v)", before, logTimeout, err)
		}
		time.Sleep(pollEvery)
	}
}

// deleteRetrying deletes a network the test made, again while it is
// still in use by a group being torn down.
func deleteRetrying(t *testing.T, c *client, action, param, id string) {
	t.Helper()
	deadline := time.Now().Add(goneTimeout)
	for {
		err := c.call(action, vals(param, id), nil)
		var ae *apiError
		if err == nil || errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return
		}
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict || time.Now().After(deadline) {
			t.Errorf("cleanup: %s %s: %v", action, id, err)
			return
		}
		time.Sleep(pollEvery)
	}
}
