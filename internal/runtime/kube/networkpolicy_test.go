package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/service"
)

var (
	_ service.SecurityGroupEnforcer = (*Runtime)(nil)
	_ service.RuleChecker           = (*Runtime)(nil)
)

// webRules has one rule of each kind a NetworkPolicy expresses, and an
// ICMP rule it cannot.
var webRules = []core.SecurityGroupRule{
	{ID: "r1", Direction: "in", Protocol: "tcp", CIDR: "10.90.0.0/16", PortFrom: 80, PortTo: 80},
	{ID: "r2", Direction: "in", Protocol: "tcp", CIDR: "10.90.1.0/24", PortFrom: 8000, PortTo: 8080},
	{ID: "r3", Direction: "in", Protocol: "udp", CIDR: "0.0.0.0/0", PortFrom: 53, PortTo: 53},
	{ID: "r4", Direction: "in", Protocol: "ip", CIDR: "10.90.2.7/32"},
	{ID: "r5", Direction: "in", Protocol: "icmp", CIDR: "0.0.0.0/0", IcmpType: 8, IcmpCode: -1},
	{ID: "r6", Direction: "out", Protocol: "ip", CIDR: "0.0.0.0/0"},
	{ID: "r7", Direction: "out", Protocol: "udp", CIDR: "10.0.0.0/8", PortFrom: 1000, PortTo: 2000},
}

func TestSecurityGroupPolicyGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		sg    string
		rules []core.SecurityGroupRule
	}{
		// r1 names the VPC's block: the VPC's pods too.
		{"networkpolicy.yaml", "7f1c9a4e-2b3d-4c5e-8f60-718293a4b5c6", webRules},
		// No rule: the pods are isolated both ways.
		{"networkpolicy-no-rules.yaml", "sg-config", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			np, err := securityGroupPolicy("kci-2000000001", tc.sg, vpcRef{"vpc-1", "10.90.0.0/16"}, tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(np)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, b)
		})
	}
}

func TestPolicyNames(t *testing.T) {
	for _, tc := range []struct {
		sg, want   string
		selectable bool
	}{
		{"7f1c9a4e-2b3d-4c5e-8f60-718293a4b5c6", "kci-sg-7f1c9a4e-2b3d-4c5e-8f60-718293a4b5c6", true},
		{"sg-a", "kci-sg-sg-a", true},
		{"SG_Upper", "kci-sg-" + shortHash("SG_Upper"), true}, // a valid label key, not a DNS name
		{"has space", "kci-sg-" + shortHash("has space"), false},
		{strings.Repeat("x", 64), "kci-sg-" + strings.Repeat("x", 64), false}, // a name up to 253, a label key name up to 63
	} {
		if got := policyName(tc.sg); got != tc.want {
			t.Errorf("policyName(%q) = %q, want %q", tc.sg, got, tc.want)
		}
		_, err := sgPodLabel(tc.sg)
		if (err == nil) != tc.selectable {
			t.Errorf("sgPodLabel(%q): %v, selectable %v", tc.sg, err, tc.selectable)
		}
		if err != nil && !errors.Is(err, kcierr.ErrInvalidArgument) {
			t.Errorf("sgPodLabel(%q): %v is not an invalid argument", tc.sg, err)
		}
	}
}

func TestCheckRuleRefusesICMP(t *testing.T) {
	r := &Runtime{}
	for _, rule := range webRules {
		err := r.CheckRule(rule)
		if want := rule.Protocol == "icmp"; (err != nil) != want {
			t.Errorf("%s rule: %v", rule.Protocol, err)
		}
		if err != nil && !errors.Is(err, kcierr.ErrFailedPrecondition) {
			t.Errorf("%v is not a failed precondition", err)
		}
	}
}

// The policies' life on a fake clientset: made before the pod, updated on
// a change in every namespace that has one, re-made by Sync when missing,
// deleted with the security group; a group whose security group cannot
// select pods is refused before anything is made.
func TestPoliciesFollowSecurityGroups(t *testing.T) {
	ctx := context.Background()
	r, cs := fakeRuntime(t)
	sgs := runtimetest.NewSecurityGroups(map[string][]core.SecurityGroupRule{"sg-web": webRules[:1], "sg-all": {webRules[5]}})
	r.EnforceSecurityGroups(sgs.Lookup)
	g := minimalGroup()
	g.Network.SecurityGroupIDs = []string{"sg-web", "sg-all"}
	if err := r.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	ns := namespaceName(r.cfg.NamespacePrefix, g.AccountID)
	policy := func(sg string) (ingress, egress int, found bool) {
		t.Helper()
		np, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, policyName(sg), metav1.GetOptions{})
		if err != nil {
			return 0, 0, false
		}
		return len(np.Spec.Ingress), len(np.Spec.Egress), true
	}
	if in, out, ok := policy("sg-web"); !ok || in != 1 || out != 0 {
		t.Fatalf("sg-web's policy: found %v, %d ingress, %d egress rules", ok, in, out)
	}
	if in, out, ok := policy("sg-all"); !ok || in != 0 || out != 1 {
		t.Fatalf("sg-all's policy: found %v, %d ingress, %d egress rules", ok, in, out)
	}
	// A change reaches the namespace's policy.
	sgs.Set("sg-web", webRules[:4])
	if err := r.SecurityGroupsChanged(ctx, []string{"sg-web"}); err != nil {
		t.Fatal(err)
	}
	if in, _, _ := policy("sg-web"); in != 4 {
		t.Errorf("after the change sg-web's policy has %d ingress rules, want 4", in)
	}
	// Deleted out of band: Sync makes it again.
	if err := cs.NetworkingV1().NetworkPolicies(ns).Delete(ctx, policyName("sg-all"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, []*core.Group{g}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := policy("sg-all"); !ok {
		t.Error("Sync did not make the missing policy again")
	}
	// The security group is gone: so is its policy.
	sgs.Set("sg-all", nil)
	if err := r.SecurityGroupsChanged(ctx, []string{"sg-all"}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := policy("sg-all"); ok {
		t.Error("the policy of a deleted security group is still there")
	}
	// An ID no label key can hold: refused, no pod.
	bad := minimalGroup()
	bad.ID = "5d6e7f80-1a2b-4c3d-8e9f-a0b1c2d3e4f5"
	bad.Network.SecurityGroupIDs = []string{"has space"}
	if err := r.Start(ctx, bad); !errors.Is(err, kcierr.ErrInvalidArgument) {
		t.Errorf("a group in an unselectable security group: %v", err)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, podName(bad.ID), metav1.GetOptions{}); err == nil {
		t.Error("its pod was made: it would run unfiltered")
	}
}

// TestSecurityGroupPoliciesOnCluster: on the real cluster, a group's
// security groups become NetworkPolicies the apiserver accepts (it
// validates them: ports, endPort, CIDRs, a pod selector for the VPC's
// block) before the pod exists; each
// policy's own pod selector finds the group's pod; a change and a delete
// of a security group reach the cluster. The test cluster's CNI (bridge)
// does not enforce NetworkPolicies, so traffic is not checked here
// (docs/networking.md).
func TestSecurityGroupPoliciesOnCluster(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	web, all := "sg-web-"+e2eRun, "sg-all-"+e2eRun
	sgs := runtimetest.NewSecurityGroups(map[string][]core.SecurityGroupRule{web: webRules[:4], all: webRules[5:]})
	e.rt.EnforceSecurityGroups(sgs.Lookup)
	t.Cleanup(func() { e.rt.EnforceSecurityGroups(nil) })
	g := e.group(t, "filtered")
	g.Network.SecurityGroupIDs = []string{web, all}
	g.Network.VpcCIDR = webRules[0].CIDR // that rule also selects the VPC's pods
	g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", "exec sleep 3600"}}}
	if err := e.rt.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
	ns := namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)
	t.Cleanup(func() {
		for _, sg := range []string{web, all} {
			_ = e.cs.NetworkingV1().NetworkPolicies(ns).Delete(context.Background(), policyName(sg), metav1.DeleteOptions{})
		}
	})
	// onCluster checks the stored policy against what kcid renders.
	onCluster := func(sg string, rules []core.SecurityGroupRule) {
		t.Helper()
		np, err := e.cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, policyName(sg), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("policy of %s: %v", sg, err)
		}
		want, err := securityGroupPolicy(ns, sg, vpcOf(g), rules)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := yaml.Marshal(np.Spec)
		exp, _ := yaml.Marshal(want.Spec)
		if string(got) != string(exp) {
			t.Errorf("policy of %s on the cluster:\n%s\nwant:\n%s", sg, got, exp)
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		pods, err := e.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 1 || pods.Items[0].Name != podName(g.ID) {
			t.Errorf("the policy of %s selects %d pods, want the group's", sg, len(pods.Items))
		}
	}
	onCluster(web, webRules[:4])
	onCluster(all, webRules[5:])

	sgs.Set(web, webRules[1:3])
	if err := e.rt.SecurityGroupsChanged(ctx, []string{web}); err != nil {
		t.Fatal(err)
	}
	onCluster(web, webRules[1:3])

	sgs.Set(all, nil)
	if err := e.rt.SecurityGroupsChanged(ctx, []string{all}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, policyName(all), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the deleted security group's policy: %v", err)
	}
}
