package service

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// NetworkStore keeps the networks made through the API (and the rules of
// every security group) across restarts. Networks without one keep them
// in memory only. Puts replace any earlier version; deletes are
// idempotent.
type NetworkStore interface {
	PutVPC(v core.VPC) error
	DeleteVPC(id string) error
	PutSubnet(accountID string, s core.Subnet) error
	DeleteSubnet(id string) error
	PutSecurityGroup(accountID string, g core.SecurityGroup) error
	DeleteSecurityGroup(id string) error
}

// SetStore makes the registry persist the changes made through the API.
func (n *Networks) SetStore(st NetworkStore) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.store = st
}

// SecurityGroupChange is what a security-group action asks for.
type SecurityGroupChange struct {
	AccountID, Region string
	// ID names the group (all but create).
	ID string
	// VpcID is the VPC of a new group.
	VpcID string
	// Name and Description: nil keeps the current value on modify.
	Name, Description *string
}

// apply sets the name and description the change gives.
func (c SecurityGroupChange) apply(g core.SecurityGroup) core.SecurityGroup {
	if c.Name != nil {
		g.Name = *c.Name
	}
	if c.Description != nil {
		g.Description = *c.Description
	}
	return g
}

// sgNotFound is the answer for a group that is missing or another
// account's.
func sgNotFound(id string) error {
	return &errdefs.NotFoundError{Kind: "SecurityGroup", ID: id}
}

// ownedSG returns the account's group in the region; n.mu is held.
func (n *Networks) ownedSG(accountID, region, id string) (core.SecurityGroup, error) {
	g, ok := n.sgs[id]
	if ok {
		if v := n.vpcs[g.VpcID]; v.AccountID == accountID && v.Region == region {
			return g, nil
		}
	}
	return core.SecurityGroup{}, sgNotFound(id)
}

// putSG persists and then registers g; n.mu is held.
func (n *Networks) putSG(accountID string, g core.SecurityGroup) error {
	if n.store != nil {
		if err := n.store.PutSecurityGroup(accountID, g); err != nil {
			return fmt.Errorf("persist security group %s: %w", g.ID, err)
		}
	}
	n.sgs[g.ID] = g
	return nil
}

// CreateSecurityGroup makes a security group in one of the account's
// VPCs with the common cloud default: one rule letting everything out
// (DefaultRules), none letting anything in (docs/networking.md).
func (s *Service) CreateSecurityGroup(ctx context.Context, c SecurityGroupChange) (core.SecurityGroup, error) {
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.vpcs[c.VpcID]
	if !ok || v.AccountID != c.AccountID || v.Region != c.Region {
		return core.SecurityGroup{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "VpcId", "vpc %q does not exist in region %s", c.VpcID, c.Region)
	}
	g := c.apply(core.SecurityGroup{ID: uuid.NewString(), VpcID: v.ID, CreatedAt: s.now(), Rules: DefaultRules("", s.now())})
	if err := n.putSG(c.AccountID, g); err != nil {
		return core.SecurityGroup{}, err
	}
	s.log.Info("security group created", "account", c.AccountID, "security_group", g.ID, "vpc", g.VpcID)
	return g, nil
}

// ModifySecurityGroup renames a group or changes its description.
func (s *Service) ModifySecurityGroup(ctx context.Context, c SecurityGroupChange) (core.SecurityGroup, error) {
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.ownedSG(c.AccountID, c.Region, c.ID)
	if err != nil {
		return g, err
	}
	g = c.apply(g)
	if err := n.putSG(c.AccountID, g); err != nil {
		return core.SecurityGroup{}, err
	}
	return g, nil
}

// DeleteSecurityGroup removes a group made through the API that no group
// (live or being deleted) uses; ErrConflict otherwise.
func (s *Service) DeleteSecurityGroup(ctx context.Context, accountID, region, id string) error {
	// createMu: no create joins the group between the check and the delete.
	s.createMu.Lock()
	defer s.createMu.Unlock()
	n := s.nets
	n.mu.RLock()
	g, err := n.ownedSG(accountID, region, id)
	n.mu.RUnlock()
	if err != nil {
		return err
	}
	if g.Configured {
		return errdefs.New(errdefs.ErrFailedPrecondition, "security group %s is declared in kcid's config (or is the account's default); remove it from the config instead", id)
	}
	groups, err := s.store.Groups(ctx)
	if err != nil {
		return err
	}
	for _, cg := range groups {
		if cg.AccountID == accountID && slices.Contains(cg.Network.SecurityGroupIDs, id) {
			return errdefs.New(errdefs.ErrConflict, "security group %s is used by container group %s; delete the container group first", id, cg.ID)
		}
	}
	n.mu.Lock()
	if n.store != nil {
		if err := n.store.DeleteSecurityGroup(id); err != nil {
			n.mu.Unlock()
			return fmt.Errorf("forget security group %s: %w", id, err)
		}
	}
	delete(n.sgs, id)
	n.mu.Unlock()
	s.log.Info("security group deleted", "account", accountID, "security_group", id)
	s.securityGroupsChanged(ctx, id)
	return nil
}

// Rule protocols and directions as kcid keeps them.
const (
	ProtocolAll  = "ip"
	ProtocolTCP  = "tcp"
	ProtocolUDP  = "udp"
	ProtocolICMP = "icmp"
)

// DefaultRules are the rules a security group starts with
// (docs/networking.md): every group may send anything anywhere (replies
// come back by conntrack), and, when vpcCIDR is given, take anything from
// its VPC. CreateSecurityGroup gives the first; a security group declared
// in the config or made as an account's default network is given both
// the first time kcid runs with it, so that its groups talk as they did
// before rules were enforced. They are ordinary rules: Describe shows
// them, Revoke removes them.
func DefaultRules(vpcCIDR string, now time.Time) []core.SecurityGroupRule {
	rules := []core.SecurityGroupRule{{ID: uuid.NewString(), Direction: "out", Protocol: ProtocolAll, CIDR: "0.0.0.0/0",
		Policy: "Accept", Description: "default: everything out", CreatedAt: now}}
	if vpcCIDR != "" {
		rules = append(rules, core.SecurityGroupRule{ID: uuid.NewString(), Direction: "in", Protocol: ProtocolAll, CIDR: vpcCIDR,
			Policy: "Accept", Description: "default: everything in from the VPC", CreatedAt: now})
	}
	return rules
}

// WithDefaultRules returns rules with those of DefaultRules(vpcCIDR, now)
// that match traffic no rule of rules already matches, first.
func WithDefaultRules(rules []core.SecurityGroupRule, vpcCIDR string, now time.Time) []core.SecurityGroupRule {
	var out []core.SecurityGroupRule
	for _, d := range DefaultRules(vpcCIDR, now) {
		if !slices.ContainsFunc(rules, func(r core.SecurityGroupRule) bool { return sameRule(r, d) }) {
			out = append(out, d)
		}
	}
	return append(out, rules...)
}

// maxRulesPerGroup bounds a group's rules.
const maxRulesPerGroup = 200

// NormalizeRule checks a rule as AuthorizeSecurityGroupEntry gives it and
// returns it in kcid's form (lower-case protocol, masked CIDR, ports of
// tcp/udp only, ICMP type and code of icmp only). Errors name the wire
// parameter.
func NormalizeRule(r core.SecurityGroupRule) (core.SecurityGroupRule, error) {
	switch r.Direction {
	case "in", "out":
	case "":
		return r, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "Direction"}
	default:
		return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "Direction", "must be in or out, not %q", r.Direction)
	}
	switch p := strings.ToLower(r.Protocol); p {
	case ProtocolAll, ProtocolTCP, ProtocolUDP, ProtocolICMP:
		r.Protocol = p
	case "":
		return r, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "Protocol"}
	default:
		return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "Protocol", "must be IP (all), TCP, UDP or ICMP, not %q", r.Protocol)
	}
	if r.CIDR == "" {
		return r, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "CidrBlock"}
	}
	p, err := netip.ParsePrefix(r.CIDR)
	if err != nil || !p.Addr().Is4() {
		return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "CidrBlock", "%q is not an IPv4 CIDR such as 10.0.0.0/16 or 0.0.0.0/0", r.CIDR)
	}
	r.CIDR = p.Masked().String()
	switch r.Protocol {
	case ProtocolTCP, ProtocolUDP:
		switch {
		case r.PortFrom < 1 || r.PortFrom > 65535:
			return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "PortRangeFrom", "must be a port from 1 to 65535 for %s", strings.ToUpper(r.Protocol))
		case r.PortTo < 1 || r.PortTo > 65535:
			return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "PortRangeTo", "must be a port from 1 to 65535 for %s", strings.ToUpper(r.Protocol))
		case r.PortTo < r.PortFrom:
			return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "PortRangeTo", "must not be below PortRangeFrom (%d)", r.PortFrom)
		}
		r.IcmpType, r.IcmpCode = 0, 0
	case ProtocolICMP:
		switch {
		case r.IcmpType < -1 || r.IcmpType > 255:
			return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "IcmpType", "must be an ICMP type from 0 to 255, or -1 for any")
		case r.IcmpCode < -1 || r.IcmpCode > 255:
			return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "IcmpCode", "must be an ICMP code from 0 to 255, or -1 for any")
		case r.IcmpType == -1 && r.IcmpCode != -1:
			return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "IcmpCode", "must be -1 (any) when IcmpType is -1")
		}
		r.PortFrom, r.PortTo = 0, 0
	default:
		r.PortFrom, r.PortTo, r.IcmpType, r.IcmpCode = 0, 0, 0, 0
	}
	switch strings.ToLower(r.Policy) {
	case "", "accept":
		r.Policy = "Accept"
	default:
		return r, errdefs.Param(errdefs.CodeInvalidParameterValue, "Policy", "only Accept is supported: security groups allow, and what no rule allows is dropped")
	}
	return r, nil
}

// sameRule reports whether two normalized rules match the same traffic.
func sameRule(a, b core.SecurityGroupRule) bool {
	return a.Direction == b.Direction && a.Protocol == b.Protocol && a.CIDR == b.CIDR &&
		a.PortFrom == b.PortFrom && a.PortTo == b.PortTo && a.IcmpType == b.IcmpType && a.IcmpCode == b.IcmpCode
}

// AuthorizeSecurityGroupEntry adds one rule to a group and returns its ID.
// A rule matching the same traffic as an existing one is refused
// (ErrConflict naming the existing rule).
func (s *Service) AuthorizeSecurityGroupEntry(ctx context.Context, accountID, region, id string, r core.SecurityGroupRule) (string, error) {
	r, err := NormalizeRule(r)
	if err != nil {
		return "", err
	}
	if c, ok := s.rt.(RuleChecker); ok {
		if err := c.CheckRule(r); err != nil {
			return "", err
		}
	}
	entryID, err := s.authorize(accountID, region, id, r)
	if err != nil {
		return "", err
	}
	s.securityGroupsChanged(ctx, id)
	return entryID, nil
}

// authorize records a normalized rule under the registry's lock.
func (s *Service) authorize(accountID, region, id string, r core.SecurityGroupRule) (string, error) {
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.ownedSG(accountID, region, id)
	if err != nil {
		return "", err
	}
	for _, e := range g.Rules {
		if sameRule(e, r) {
			return "", errdefs.New(errdefs.ErrConflict, "security group %s has this rule already (SecurityGroupEntryId %s)", id, e.ID)
		}
	}
	if len(g.Rules) >= maxRulesPerGroup {
		return "", errdefs.New(errdefs.ErrInsufficientCapacity, "security group %s has %d rules, the most kcid allows; revoke one first", id, maxRulesPerGroup)
	}
	r.ID, r.CreatedAt = uuid.NewString(), s.now()
	g.Rules = append(slices.Clone(g.Rules), r)
	if err := n.putSG(accountID, g); err != nil {
		return "", err
	}
	s.log.Info("security group rule added", "account", accountID, "security_group", id, "rule", r.ID,
		"direction", r.Direction, "protocol", r.Protocol, "cidr", r.CIDR)
	return r.ID, nil
}

// RevokeSecurityGroupEntry removes one rule of a group.
func (s *Service) RevokeSecurityGroupEntry(ctx context.Context, accountID, region, id, entryID string) error {
	if err := s.revoke(accountID, region, id, entryID); err != nil {
		return err
	}
	s.securityGroupsChanged(ctx, id)
	return nil
}

// revoke forgets a rule under the registry's lock.
func (s *Service) revoke(accountID, region, id, entryID string) error {
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.ownedSG(accountID, region, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(g.Rules, func(e core.SecurityGroupRule) bool { return e.ID == entryID })
	if i < 0 {
		return &errdefs.NotFoundError{Kind: "SecurityGroupEntry", ID: entryID}
	}
	g.Rules = slices.Delete(slices.Clone(g.Rules), i, i+1)
	if err := n.putSG(accountID, g); err != nil {
		return err
	}
	s.log.Info("security group rule revoked", "account", accountID, "security_group", id, "rule", entryID)
	return nil
}

// rules returns the current rules of a security group; it is what an
// enforcing runtime reads (SecurityGroupEnforcer).
func (n *Networks) rules(id string) ([]core.SecurityGroupRule, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	g, ok := n.sgs[id]
	return slices.Clone(g.Rules), ok
}

// EnforcesSecurityGroups reports whether the runtime filters traffic by
// security-group rules.
func (s *Service) EnforcesSecurityGroups() bool {
	_, ok := s.rt.(SecurityGroupEnforcer)
	return ok
}

// securityGroupsChanged tells an enforcing runtime that the rules of
// security groups ids changed (after the change is recorded). A failure is
// logged: the rule is recorded and the runtime keeps retrying it.
func (s *Service) securityGroupsChanged(ctx context.Context, ids ...string) {
	e, ok := s.rt.(SecurityGroupEnforcer)
	if !ok {
		return
	}
	if err := e.SecurityGroupsChanged(context.WithoutCancel(ctx), ids); err != nil {
		s.log.Error("security group rules recorded but not yet applied to every group; the runtime retries", "security_groups", ids, "err", err)
	}
}
