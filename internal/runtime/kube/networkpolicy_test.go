package kube

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
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
			np, err := securityGroupPolicy("kci-2000000001", tc.sg, vpcRef{"vpc-1", "10.90.0.0/16"}, testPodRanges, tc.rules)
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

// testPodRanges are a cluster's pod ranges: an IPv4 one and an IPv6 one.
var testPodRanges = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/56")}

// TestRulePeers: pods are matched by VPC, never by address. A rule whose
// block contains the VPC's admits the VPC's pods by label; an ingress
// ipBlock leaves the pod ranges it contains out, and is dropped when a pod
// range contains it; egress ipBlocks stay whole.
func TestRulePeers(t *testing.T) {
	vpc := vpcRef{"vpc-1", "10.90.0.0/16"}
	vpcPods := "pods of vpc-1"
	for _, tc := range []struct {
		name      string
		rule      core.SecurityGroupRule
		vpc       vpcRef
		podRanges []netip.Prefix
		want      []string // peers: "ipBlock CIDR except X,Y" or vpcPods
	}{
		{"everything in: outside addresses and the VPC's pods", core.SecurityGroupRule{Direction: "in", CIDR: "0.0.0.0/0"}, vpc, testPodRanges,
			[]string{"ipBlock 0.0.0.0/0 except 10.244.0.0/16", vpcPods}},
		{"the VPC's block", core.SecurityGroupRule{Direction: "in", CIDR: "10.90.0.0/16"}, vpc, testPodRanges,
			[]string{"ipBlock 10.90.0.0/16", vpcPods}},
		{"a block wider than the VPC's", core.SecurityGroupRule{Direction: "in", CIDR: "10.0.0.0/8"}, vpc, testPodRanges,
			[]string{"ipBlock 10.0.0.0/8 except 10.244.0.0/16", vpcPods}},
		{"a subnet of the VPC: no pod", core.SecurityGroupRule{Direction: "in", CIDR: "10.90.1.0/24"}, vpc, testPodRanges,
			[]string{"ipBlock 10.90.1.0/24"}},
		{"a block of pod addresses: nothing", core.SecurityGroupRule{Direction: "in", CIDR: "10.244.3.0/24"}, vpc, testPodRanges, nil},
		{"the pod range itself: nothing", core.SecurityGroupRule{Direction: "in", CIDR: "10.244.0.0/16"}, vpc, testPodRanges, nil},
		{"egress keeps its block whole", core.SecurityGroupRule{Direction: "out", CIDR: "0.0.0.0/0"}, vpc, testPodRanges,
			[]string{"ipBlock 0.0.0.0/0", vpcPods}},
		{"pod ranges unknown", core.SecurityGroupRule{Direction: "in", CIDR: "0.0.0.0/0"}, vpc, nil,
			[]string{"ipBlock 0.0.0.0/0", vpcPods}},
		{"no VPC", core.SecurityGroupRule{Direction: "in", CIDR: "0.0.0.0/0"}, vpcRef{}, testPodRanges,
			[]string{"ipBlock 0.0.0.0/0 except 10.244.0.0/16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range rulePeers(tc.rule, tc.vpc, tc.podRanges) {
				switch {
				case p.IPBlock != nil && len(p.IPBlock.Except) > 0:
					got = append(got, "ipBlock "+p.IPBlock.CIDR+" except "+strings.Join(p.IPBlock.Except, ","))
				case p.IPBlock != nil:
					got = append(got, "ipBlock "+p.IPBlock.CIDR)
				case p.PodSelector != nil && p.NamespaceSelector == nil && len(p.PodSelector.MatchLabels) == 1 && p.PodSelector.MatchLabels[LabelVpcID] == tc.vpc.ID:
					got = append(got, vpcPods)
				default:
					t.Fatalf("unexpected peer %+v", p)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("peers %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPodRangesFromNodes: without Config.PodCIDRs the runtime takes the
// nodes' spec.podCIDRs (each range once); with them, those (masked), and
// the nodes' are not read.
func TestPodRangesFromNodes(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		cs := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.1.0.0/24"}}})
		r := &Runtime{cfg: Config{PodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.3.1/16")}}, cs: cs}
		if got := r.clusterPodRanges(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}) {
			t.Errorf("pod ranges %v, want the configured one, masked", got)
		}
	})
	node := func(name string, cidrs ...string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: cidrs}}
	}
	r, _ := fakeRuntime(t, node("a", "10.244.0.0/24", "fd00:10:244::/64"), node("b", "10.244.1.0/24"), node("c", "10.244.1.0/24"), node("d"))
	want := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24"), netip.MustParsePrefix("fd00:10:244::/64"), netip.MustParsePrefix("10.244.1.0/24")}
	slices.SortFunc(r.podRanges, netip.Prefix.Compare)
	slices.SortFunc(want, netip.Prefix.Compare)
	if !slices.Equal(r.podRanges, want) {
		t.Errorf("pod ranges %v, want %v", r.podRanges, want)
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
		want, err := securityGroupPolicy(ns, sg, vpcOf(g), e.rt.podRanges, rules)
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

// TestVpcIsolationPoliciesOnCluster: on the real cluster, groups of two
// VPCs of one account, each VPC's in a security group that lets
// everything in and out (0.0.0.0/0). The policies the apiserver stored,
// evaluated by NetworkPolicy's rules (a connection needs the sender's
// egress and the receiver's ingress) on the pods' real labels and
// addresses, let the two groups of one VPC reach each other and neither
// reach the group of the other VPC. The pods' addresses lie in the pod
// ranges the runtime found on the node (spec.podCIDRs, set by
// hack/k8s-e2e/up.sh), so no ipBlock admits them. The test cluster's CNI
// does not enforce policies: this checks what any enforcing plugin must
// do with them, not traffic.
func TestVpcIsolationPoliciesOnCluster(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	if len(e.rt.podRanges) == 0 {
		t.Fatal("the runtime found no pod ranges on the test cluster's node (hack/k8s-e2e/up.sh sets spec.podCIDRs)")
	}
	open := []core.SecurityGroupRule{
		{ID: "in", Direction: "in", Protocol: "ip", CIDR: "0.0.0.0/0"},
		{ID: "out", Direction: "out", Protocol: "ip", CIDR: "0.0.0.0/0"},
	}
	sgA, sgB := "sg-open-a-"+e2eRun, "sg-open-b-"+e2eRun
	sgs := runtimetest.NewSecurityGroups(map[string][]core.SecurityGroupRule{sgA: open, sgB: open})
	e.rt.EnforceSecurityGroups(sgs.Lookup)
	t.Cleanup(func() { e.rt.EnforceSecurityGroups(nil) })
	ns := namespaceName(e.rt.cfg.NamespacePrefix, e2eRun)
	t.Cleanup(func() {
		for _, sg := range []string{sgA, sgB} {
			_ = e.cs.NetworkingV1().NetworkPolicies(ns).Delete(context.Background(), policyName(sg), metav1.DeleteOptions{})
		}
	})
	start := func(name, vpc, cidr, sg string) *corev1.Pod {
		t.Helper()
		g := e.group(t, name)
		g.CPU, g.Memory = 0.1, 0.125 // three pods on the test node's two cores
		g.Network.VpcID, g.Network.VpcCIDR, g.Network.SecurityGroupIDs = vpc, cidr, []string{sg}
		g.Containers = []core.Container{{Name: "main", Image: e.image, Command: []string{"sh", "-c", "exec sleep 3600"}}}
		if err := e.rt.Start(ctx, g); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.rt.Remove(context.Background(), g) })
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			p, err := e.cs.CoreV1().Pods(ns).Get(ctx, podName(g.ID), metav1.GetOptions{})
			if err == nil && p.Status.PodIP != "" {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod of %s has no address after 2 minutes (last error: %v)", name, err)
			}
		}
	}
	a1 := start("vpc-a-1", "vpc-a-"+e2eRun, "10.91.0.0/16", sgA)
	a2 := start("vpc-a-2", "vpc-a-"+e2eRun, "10.91.0.0/16", sgA)
	b := start("vpc-b", "vpc-b-"+e2eRun, "10.92.0.0/16", sgB)
	for _, p := range []*corev1.Pod{a1, a2, b} {
		ip := netip.MustParseAddr(p.Status.PodIP)
		if !slices.ContainsFunc(e.rt.podRanges, func(r netip.Prefix) bool { return r.Contains(ip) }) {
			t.Fatalf("pod %s has %s, outside the pod ranges %v: the test cannot tell matching by address from matching by VPC", p.Name, ip, e.rt.podRanges)
		}
	}
	list, err := e.cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to *corev1.Pod
		want     bool
	}{
		{a1, a2, true}, {a2, a1, true},
		{a1, b, false}, {b, a1, false}, {a2, b, false}, {b, a2, false},
	} {
		if got := policiesAllow(t, list.Items, tc.from, tc.to); got != tc.want {
			t.Errorf("%s (%s) → %s (%s): allowed %v, want %v", tc.from.Labels[LabelVpcID], tc.from.Status.PodIP,
				tc.to.Labels[LabelVpcID], tc.to.Status.PodIP, got, tc.want)
		}
	}
}

// TestVpcIsolationNeedsPodRanges evaluates rendered policies on pods of
// two VPCs in security groups open to 0.0.0.0/0, as a plugin that matches
// ipBlocks against pod addresses would: with the pod ranges known the
// VPCs are apart, without them (kcid warns at start) they are not.
func TestVpcIsolationNeedsPodRanges(t *testing.T) {
	open := []core.SecurityGroupRule{
		{ID: "in", Direction: "in", Protocol: "ip", CIDR: "0.0.0.0/0"},
		{ID: "out", Direction: "out", Protocol: "ip", CIDR: "0.0.0.0/0"},
	}
	pod := func(name, vpc, sg, ip string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kci-1", Labels: map[string]string{LabelVpcID: vpc, LabelSecurityGroupPrefix + sg: "true"}},
			Status: corev1.PodStatus{PodIP: ip}}
	}
	a1, a2, b := pod("a1", "vpc-a", "sg-a", "10.244.0.5"), pod("a2", "vpc-a", "sg-a", "10.244.0.6"), pod("b", "vpc-b", "sg-b", "10.244.0.7")
	for _, tc := range []struct {
		name      string
		podRanges []netip.Prefix
		aToB      bool
	}{
		{"pod ranges known", testPodRanges, false},
		{"pod ranges unknown", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var policies []networkingv1.NetworkPolicy
			for _, sg := range []struct{ id, vpc, cidr string }{{"sg-a", "vpc-a", "10.91.0.0/16"}, {"sg-b", "vpc-b", "10.92.0.0/16"}} {
				np, err := securityGroupPolicy("kci-1", sg.id, vpcRef{sg.vpc, sg.cidr}, tc.podRanges, open)
				if err != nil {
					t.Fatal(err)
				}
				policies = append(policies, *np)
			}
			if !policiesAllow(t, policies, a1, a2) || !policiesAllow(t, policies, a2, a1) {
				t.Error("the pods of one VPC do not reach each other")
			}
			if got := policiesAllow(t, policies, a1, b); got != tc.aToB {
				t.Errorf("vpc-a → vpc-b allowed %v, want %v", got, tc.aToB)
			}
			if got := policiesAllow(t, policies, b, a1); got != tc.aToB {
				t.Errorf("vpc-b → vpc-a allowed %v, want %v", got, tc.aToB)
			}
		})
	}
}

// policiesAllow evaluates NetworkPolicy's semantics for a connection from
// one pod to another (any port): when policies select the sender for
// egress, one of their egress rules must match the receiver, and when
// policies select the receiver for ingress, one of their ingress rules
// must match the sender.
func policiesAllow(t *testing.T, policies []networkingv1.NetworkPolicy, from, to *corev1.Pod) bool {
	t.Helper()
	selects := func(np networkingv1.NetworkPolicy, sel metav1.LabelSelector, p *corev1.Pod) bool {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			t.Fatal(err)
		}
		return np.Namespace == p.Namespace && s.Matches(labels.Set(p.Labels))
	}
	matches := func(np networkingv1.NetworkPolicy, peers []networkingv1.NetworkPolicyPeer, p *corev1.Pod) bool {
		ip := netip.MustParseAddr(p.Status.PodIP)
		for _, peer := range peers {
			switch {
			case peer.NamespaceSelector != nil:
				t.Fatalf("policy %s: a namespace selector, which kcid does not make", np.Name)
			case peer.PodSelector != nil:
				if selects(np, *peer.PodSelector, p) {
					return true
				}
			case peer.IPBlock != nil:
				in := netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(ip)
				for _, ex := range peer.IPBlock.Except {
					in = in && !netip.MustParsePrefix(ex).Contains(ip)
				}
				if in {
					return true
				}
			}
		}
		return false
	}
	egressIsolated, egressAllowed, ingressIsolated, ingressAllowed := false, false, false, false
	for _, np := range policies {
		if selects(np, np.Spec.PodSelector, from) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			egressIsolated = true
			for _, r := range np.Spec.Egress {
				egressAllowed = egressAllowed || len(r.To) == 0 || matches(np, r.To, to)
			}
		}
		if selects(np, np.Spec.PodSelector, to) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			ingressIsolated = true
			for _, r := range np.Spec.Ingress {
				ingressAllowed = ingressAllowed || len(r.From) == 0 || matches(np, r.From, from)
			}
		}
	}
	if !egressIsolated || !ingressIsolated {
		t.Fatalf("a group's pod no policy selects (sender %v, receiver %v): it would be unfiltered", egressIsolated, ingressIsolated)
	}
	return egressAllowed && ingressAllowed
}
