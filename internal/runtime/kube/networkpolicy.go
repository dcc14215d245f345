package kube

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/openkci/openkci/internal/core"
	kcierr "github.com/openkci/openkci/internal/errdefs"
)

// Security groups as NetworkPolicies (docs/networking.md). Each security
// group used in an account's namespace is one NetworkPolicy there,
// selecting the pods labelled with it (LabelSecurityGroupPrefix + ID) and
// isolating them in both directions: its ingress rules are the security
// group's "in" rules, its egress rules the "out" rules. NetworkPolicies
// add up, so a pod in several security groups gets the union of their
// rules, as on containerd. A policy is made before the first pod that
// needs it, kept in step on every change, re-applied by Sync, and deleted
// with its security group.
//
// VPC isolation: NetworkPolicies only add up (the union of what policies
// allow), so a separate "VPC" policy could not take away what a security
// group's rule such as 0.0.0.0/0 allows. Isolation is therefore part of
// every security group's policy: pods are matched by their VPC label and
// never by address. An ingress ipBlock leaves out the cluster's pod
// ranges (except), and a rule whose block contains the VPC's also admits
// the VPC's own pods by label. Every group's pod is selected by its
// security groups' policies, so a pod of another VPC (or of another
// account, another namespace) is admitted by no rule: what it sends is
// dropped at the receiving pod, whatever its own egress rules allow.

// LabelSecurityGroupID names, on a NetworkPolicy, the security group it
// enforces (a label value: hashed if the ID is not one);
// AnnotationSecurityGroupID holds the ID itself.
// AnnotationVpcID and AnnotationVpcCIDR record the VPC of the security
// group, for rules naming the VPC's block.
const (
	LabelSecurityGroupID      = prefix + "security-group-id"
	AnnotationSecurityGroupID = prefix + "security-group-id"
	AnnotationVpcID           = prefix + "vpc-id"
	AnnotationVpcCIDR         = prefix + "vpc-cidr"
	roleSecurityGroup         = "security-group"
)

// vpcRef is the VPC a security group belongs to.
type vpcRef struct{ ID, CIDR string }

// vpcOf is the VPC of a group's network.
func vpcOf(g *core.Group) vpcRef { return vpcRef{g.Network.VpcID, g.Network.VpcCIDR} }

// policyName is the NetworkPolicy of a security group: "kci-sg-" and the
// ID when that is a DNS subdomain (a UUID is), else a hash of the ID.
func policyName(sgID string) string {
	n := "kci-sg-" + sgID
	if len(validation.IsDNS1123Subdomain(n)) == 0 {
		return n
	}
	return "kci-sg-" + shortHash(sgID)
}

// sgPodLabel is the pod label that puts a pod in a security group, or an
// error when the ID cannot be a label key (its pods could not be selected).
func sgPodLabel(sgID string) (string, error) {
	k := LabelSecurityGroupPrefix + sgID
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return "", fmt.Errorf("security group ID %q cannot select pods on Kubernetes (label key %s: %s); give it an ID of letters, digits, '-', '_' and '.' of at most 63 characters: %w",
			sgID, k, errs[0], kcierr.ErrInvalidArgument)
	}
	return k, nil
}

// securityGroupPolicy renders a security group of VPC vpc in namespace
// ns, for a cluster whose pods get addresses from podRanges. ICMP rules
// have no NetworkPolicy form (TCP, UDP and SCTP only): they are left out
// (CheckRule refuses new ones). Peers: rulePeers.
func securityGroupPolicy(ns, sgID string, vpc vpcRef, podRanges []netip.Prefix, rules []core.SecurityGroupRule) (*networkingv1.NetworkPolicy, error) {
	key, err := sgPodLabel(sgID)
	if err != nil {
		return nil, err
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name: policyName(sgID), Namespace: ns,
			Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelRole: roleSecurityGroup,
				LabelSecurityGroupID: labelValue(sgID)},
			Annotations: map[string]string{AnnotationSecurityGroupID: sgID, AnnotationVpcID: vpc.ID, AnnotationVpcCIDR: vpc.CIDR},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{key: "true"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			// Not nil: no rule of a direction denies it all.
			Ingress: []networkingv1.NetworkPolicyIngressRule{},
			Egress:  []networkingv1.NetworkPolicyEgressRule{},
		},
	}
	for _, r := range rules {
		var ports []networkingv1.NetworkPolicyPort
		switch r.Protocol {
		case "icmp":
			continue
		case "tcp", "udp":
			proto := corev1.ProtocolTCP
			if r.Protocol == "udp" {
				proto = corev1.ProtocolUDP
			}
			port := intstr.FromInt32(int32(r.PortFrom))
			p := networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}
			if r.PortTo > r.PortFrom {
				end := int32(r.PortTo)
				p.EndPort = &end
			}
			ports = []networkingv1.NetworkPolicyPort{p}
		}
		peers := rulePeers(r, vpc, podRanges)
		if len(peers) == 0 {
			continue // a block of pod addresses only: no pod is matched by address
		}
		if r.Direction == "in" {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peers, Ports: ports})
		} else {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: ports})
		}
	}
	return np, nil
}

// rulePeers are the peers of a rule of a security group of VPC vpc. Pods
// get their addresses from the cluster, not from the VPC's block, so:
//
//   - a rule whose block contains the VPC's (the VPC's block itself, as
//     the default rule of configured groups, or 0.0.0.0/0) also admits
//     the VPC's pods, by their vpc-id label in the policy's namespace
//     (the account's: a VPC belongs to one account);
//   - an ingress rule's ipBlock leaves out the pod ranges it contains
//     (except), and is dropped when a pod range contains it: pods are never
//     admitted by address, so no rule admits a pod of another VPC. Egress
//     ipBlocks are kept whole (the pods of other VPCs refuse the traffic
//     themselves; pods outside kcid are outside any VPC, as on containerd).
func rulePeers(r core.SecurityGroupRule, vpc vpcRef, podRanges []netip.Prefix) []networkingv1.NetworkPolicyPeer {
	var peers []networkingv1.NetworkPolicyPeer
	block, err := netip.ParsePrefix(r.CIDR)
	if err != nil { // the service validated it; keep the rule as given
		return []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: r.CIDR}}}
	}
	ipBlock := &networkingv1.IPBlock{CIDR: r.CIDR}
	if r.Direction == "in" {
		for _, p := range podRanges {
			if contains(p, block) {
				ipBlock = nil
				break
			}
			if contains(block, p) {
				ipBlock.Except = append(ipBlock.Except, p.String())
			}
		}
	}
	if ipBlock != nil {
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: ipBlock})
	}
	if vpcBlock, err := netip.ParsePrefix(vpc.CIDR); err == nil && vpc.ID != "" && contains(block, vpcBlock) {
		peers = append(peers, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{LabelVpcID: labelValue(vpc.ID)}}})
	}
	return peers
}

// contains reports whether block a contains block b (both of one family).
func contains(a, b netip.Prefix) bool {
	return a.Addr().Is4() == b.Addr().Is4() && a.Bits() <= b.Bits() && a.Contains(b.Masked().Addr())
}

// clusterPodRanges are the pod ranges of Config.PodCIDRs, else of the
// nodes' spec.podCIDRs. Without any, pods of other VPCs are kept apart
// only by network plugins that never match ipBlocks against pod addresses
// (Cilium); kcid says so at start.
func (r *Runtime) clusterPodRanges() []netip.Prefix {
	if len(r.cfg.PodCIDRs) > 0 {
		ranges := make([]netip.Prefix, len(r.cfg.PodCIDRs))
		for i, p := range r.cfg.PodCIDRs {
			ranges[i] = p.Masked() // an except with host bits set is refused
		}
		return ranges
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
	defer cancel()
	var ranges []netip.Prefix
	nodes, err := r.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, n := range nodes.Items {
			for _, c := range n.Spec.PodCIDRs {
				if p, err := netip.ParsePrefix(c); err == nil && !slices.Contains(ranges, p.Masked()) {
					ranges = append(ranges, p.Masked())
				}
			}
		}
	}
	switch {
	case err != nil:
		r.log.Warn("cannot list the nodes for the cluster's pod address ranges: security groups' rules naming blocks that hold pod addresses (0.0.0.0/0) admit pods of other VPCs wherever the network plugin matches ipBlocks against pods; give kcid --kube-pod-cidrs, or let it list nodes",
			"err", err)
	case len(ranges) == 0:
		r.log.Warn("the cluster's pod address ranges are not known (no --kube-pod-cidrs, no node has spec.podCIDRs): security groups' rules naming blocks that hold pod addresses (0.0.0.0/0) admit pods of other VPCs wherever the network plugin matches ipBlocks against pods; give kcid --kube-pod-cidrs")
	default:
		r.log.Info("pod address ranges from the nodes, kept out of security groups' ipBlocks", "pod_cidrs", ranges)
	}
	return ranges
}

// EnforceSecurityGroups makes the runtime keep a NetworkPolicy per
// security group in use, read through rules (service.SecurityGroupEnforcer).
func (r *Runtime) EnforceSecurityGroups(rules func(id string) ([]core.SecurityGroupRule, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sgRules = rules
}

// CheckRule refuses what a NetworkPolicy cannot express (service.RuleChecker).
func (r *Runtime) CheckRule(rule core.SecurityGroupRule) error {
	if rule.Protocol == "icmp" {
		return kcierr.New(kcierr.ErrFailedPrecondition,
			"ICMP rules cannot be enforced on Kubernetes: NetworkPolicies match TCP, UDP and SCTP only; allow the traffic with Protocol IP instead (docs/networking.md)")
	}
	return nil
}

// applyPolicy makes the security group's NetworkPolicy in ns match its
// current rules; a security group that is gone loses its policy.
func (r *Runtime) applyPolicy(ctx context.Context, ns, sgID string, vpc vpcRef) error {
	r.mu.Lock()
	lookup := r.sgRules
	r.mu.Unlock()
	if lookup == nil {
		return nil
	}
	api := r.cs.NetworkingV1().NetworkPolicies(ns)
	rules, ok := lookup(sgID)
	if !ok {
		err := api.Delete(ctx, policyName(sgID), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return classify("delete network policy "+policyName(sgID), err)
		}
		r.log.Info("network policy deleted with its security group", "namespace", ns, "security_group", sgID)
		return nil
	}
	want, err := securityGroupPolicy(ns, sgID, vpc, r.podRanges, rules)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
		case err == nil:
			cur.Labels, cur.Annotations, cur.Spec = want.Labels, want.Annotations, want.Spec
			_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		}
		if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < 5 {
			continue // another writer (a replica) in between: read again
		}
		if err != nil {
			return classify("apply network policy "+want.Name, err)
		}
		return nil
	}
}

// groupPolicies applies the policies of a group's security groups in its
// namespace (before its pod is made). A security group no policy could
// select the pod by refuses the group: its pod would run unfiltered.
func (r *Runtime) groupPolicies(ctx context.Context, ns string, g *core.Group) error {
	r.mu.Lock()
	enforced := r.sgRules != nil
	r.mu.Unlock()
	if !enforced {
		return nil
	}
	for _, id := range g.Network.SecurityGroupIDs {
		if _, err := sgPodLabel(id); err != nil {
			return err
		}
	}
	for _, id := range g.Network.SecurityGroupIDs {
		if err := r.applyPolicy(ctx, ns, id, vpcOf(g)); err != nil {
			return err
		}
	}
	return nil
}

// SecurityGroupsChanged re-applies the policies of security groups ids in
// every namespace that has one (each pod's namespace got its policies
// before the pod was made).
func (r *Runtime) SecurityGroupsChanged(ctx context.Context, ids []string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	var errs []error
	for _, id := range ids {
		sel := labels.Set{LabelManagedBy: ManagedByValue, LabelSecurityGroupID: labelValue(id)}.String()
		list, err := r.cs.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			errs = append(errs, classify("list network policies of security group "+id, err))
			continue
		}
		for _, np := range list.Items {
			if !r.ours(np.Namespace) || np.Annotations[AnnotationSecurityGroupID] != id {
				continue
			}
			vpc := vpcRef{np.Annotations[AnnotationVpcID], np.Annotations[AnnotationVpcCIDR]}
			if err := r.applyPolicy(ctx, np.Namespace, id, vpc); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// syncPolicies re-applies the policy of every security group the live
// groups use, in their namespaces: a change kcid died in the middle of is
// completed.
func (r *Runtime) syncPolicies(ctx context.Context, live []*core.Group) error {
	type use struct {
		ns, account, sg string
		vpc             vpcRef
	}
	seen := map[use]bool{}
	for _, g := range live {
		ns := namespaceName(r.m.namespacePrefix, g.AccountID)
		for _, id := range g.Network.SecurityGroupIDs {
			seen[use{ns, g.AccountID, id, vpcOf(g)}] = true
		}
	}
	uses := make([]use, 0, len(seen))
	for u := range seen {
		uses = append(uses, u)
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].ns+"/"+uses[i].sg < uses[j].ns+"/"+uses[j].sg })
	var errs []error
	for _, u := range uses {
		if err := r.ensureNamespace(ctx, u.ns, u.account); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := r.applyPolicy(ctx, u.ns, u.sg, u.vpc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
