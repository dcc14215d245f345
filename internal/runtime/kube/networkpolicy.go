package kube

import (
	"context"
	"errors"
	"fmt"
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
// ns. ICMP rules have no NetworkPolicy form (TCP, UDP and SCTP only): they
// are left out (CheckRule refuses new ones). Pods get their addresses from
// the cluster, not from the VPC's block, so a rule naming exactly the
// VPC's block also names the VPC's pods (by their vpc-id label, in the
// account's namespace).
func securityGroupPolicy(ns, sgID string, vpc vpcRef, rules []core.SecurityGroupRule) (*networkingv1.NetworkPolicy, error) {
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
		peers := []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: r.CIDR}}}
		if vpc.ID != "" && r.CIDR == vpc.CIDR {
			peers = append(peers, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{LabelVpcID: labelValue(vpc.ID)}}})
		}
		if r.Direction == "in" {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peers, Ports: ports})
		} else {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: ports})
		}
	}
	return np, nil
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
	want, err := securityGroupPolicy(ns, sgID, vpc, rules)
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
