package api

import (
	"strings"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/pkg/kci"
)

// Security-group text limits (the SDKs state none; docs/networking.md).
const (
	maxSGNameLen        = 128
	maxSGDescriptionLen = 256
	maxRuleTagLen       = 128
	// Priority: 1 (first) to 100, as KCI's console offers; 0 is "not given".
	maxRulePriority = 100
)

// checkText bounds an optional free-text parameter.
func checkText(param string, v *string, max int) error {
	if v != nil && len(*v) > max {
		return invalid(param, "must be at most %d characters", max)
	}
	return nil
}

func (h *Handler) createSecurityGroup(c *call) (any, error) {
	var req createSecurityGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.VpcID == "" {
		return nil, missing("VpcId")
	}
	if err := checkText("SecurityGroupName", req.SecurityGroupName, maxSGNameLen); err != nil {
		return nil, err
	}
	if err := checkText("Description", req.Description, maxSGDescriptionLen); err != nil {
		return nil, err
	}
	if c.dryRun {
		if !h.o.Service.Networks().OwnsVPC(c.accountID, req.VpcID) {
			return nil, invalid("VpcId", "vpc %q does not exist in region %s", req.VpcID, c.region)
		}
		return nil, errDryRun
	}
	g, err := h.o.Service.CreateSecurityGroup(c.ctx, service.SecurityGroupChange{
		AccountID: c.accountID, Region: c.region, VpcID: req.VpcID, Name: req.SecurityGroupName, Description: req.Description})
	if err != nil {
		return nil, err
	}
	return kci.CreateSecurityGroupResponse{RequestID: c.requestID, SecurityGroup: securityGroupOut(g)}, nil
}

// existingSG answers a dry run of an action on one security group.
func (h *Handler) existingSG(c *call, id string) error {
	if _, ok := h.o.Service.Networks().SecurityGroup(c.accountID, id); !ok {
		return &errdefs.NotFoundError{Kind: "SecurityGroup", ID: id}
	}
	return errDryRun
}

func (h *Handler) deleteSecurityGroup(c *call) (any, error) {
	var req securityGroupIDRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.SecurityGroupID == "" {
		return nil, missing("SecurityGroupId")
	}
	if c.dryRun {
		return nil, h.existingSG(c, req.SecurityGroupID)
	}
	if err := h.o.Service.DeleteSecurityGroup(c.ctx, c.accountID, c.region, req.SecurityGroupID); err != nil {
		return nil, err
	}
	return kci.ReturnResponse{RequestID: c.requestID, Return: true}, nil
}

func (h *Handler) modifySecurityGroup(c *call) (any, error) {
	var req modifySecurityGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.SecurityGroupID == "" {
		return nil, missing("SecurityGroupId")
	}
	if err := checkText("SecurityGroupName", req.SecurityGroupName, maxSGNameLen); err != nil {
		return nil, err
	}
	if err := checkText("Description", req.Description, maxSGDescriptionLen); err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, h.existingSG(c, req.SecurityGroupID)
	}
	g, err := h.o.Service.ModifySecurityGroup(c.ctx, service.SecurityGroupChange{
		AccountID: c.accountID, Region: c.region, ID: req.SecurityGroupID, Name: req.SecurityGroupName, Description: req.Description})
	if err != nil {
		return nil, err
	}
	return kci.ModifySecurityGroupResponse{RequestID: c.requestID, SecurityGroup: securityGroupOut(g)}, nil
}

// errUnenforcedRules refuses a rule that would be stored and then filter
// nothing: the runtime does not apply security group rules to traffic.
var errUnenforcedRules = errdefs.New(errdefs.ErrFailedPrecondition,
	"security group rules are not enforced by this kcid's runtime: groups in a VPC reach each other on every port whatever the rules say. "+
		"An operator who only needs the API to store rules can set acceptUnenforcedSecurityGroupRules: true in kcid's config (docs/networking.md)")

func (h *Handler) authorizeSecurityGroupEntry(c *call) (any, error) {
	var req authorizeSecurityGroupEntryRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.SecurityGroupID == "" {
		return nil, missing("SecurityGroupId")
	}
	desc := &req.Description
	if err := checkText("Description", desc, maxSGDescriptionLen); err != nil {
		return nil, err
	}
	if err := checkText("RuleTag", &req.RuleTag, maxRuleTagLen); err != nil {
		return nil, err
	}
	r := core.SecurityGroupRule{Direction: req.Direction, Protocol: req.Protocol, CIDR: req.CidrBlock,
		Description: req.Description, RuleTag: req.RuleTag, Policy: req.Policy}
	if req.Priority != nil {
		if *req.Priority < 1 || *req.Priority > maxRulePriority {
			return nil, invalid("Priority", "must be from 1 to %d", maxRulePriority)
		}
		r.Priority = *req.Priority
	}
	switch strings.ToLower(req.Protocol) {
	case service.ProtocolTCP, service.ProtocolUDP:
		if req.PortRangeFrom == nil {
			return nil, missing("PortRangeFrom")
		}
		if req.PortRangeTo == nil {
			return nil, missing("PortRangeTo")
		}
		r.PortFrom, r.PortTo = *req.PortRangeFrom, *req.PortRangeTo
	case service.ProtocolICMP:
		if req.IcmpType == nil {
			return nil, missing("IcmpType")
		}
		if req.IcmpCode == nil {
			return nil, missing("IcmpCode")
		}
		r.IcmpType, r.IcmpCode = *req.IcmpType, *req.IcmpCode
	}
	r, err := service.NormalizeRule(r)
	if err != nil {
		return nil, err
	}
	if !h.o.Service.EnforcesSecurityGroups() && !h.o.AcceptUnenforcedRules {
		return nil, errUnenforcedRules
	}
	if c.dryRun {
		return nil, h.existingSG(c, req.SecurityGroupID)
	}
	id, err := h.o.Service.AuthorizeSecurityGroupEntry(c.ctx, c.accountID, c.region, req.SecurityGroupID, r)
	if err != nil {
		return nil, err
	}
	return kci.AuthorizeSecurityGroupEntryResponse{SecurityGroupEntryIDSet: []string{id}, RequestID: c.requestID, Return: true}, nil
}

func (h *Handler) revokeSecurityGroupEntry(c *call) (any, error) {
	var req revokeSecurityGroupEntryRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.SecurityGroupID == "" {
		return nil, missing("SecurityGroupId")
	}
	if req.SecurityGroupEntryID == "" {
		return nil, missing("SecurityGroupEntryId")
	}
	if c.dryRun {
		return nil, h.existingSG(c, req.SecurityGroupID)
	}
	if err := h.o.Service.RevokeSecurityGroupEntry(c.ctx, c.accountID, c.region, req.SecurityGroupID, req.SecurityGroupEntryID); err != nil {
		return nil, err
	}
	return kci.ReturnResponse{RequestID: c.requestID, Return: true}, nil
}

// wireProtocol is a rule's protocol as the SDKs write it.
func wireProtocol(p string) string {
	if p == service.ProtocolAll {
		return "IP"
	}
	return strings.ToUpper(p)
}

// securityGroupOut renders a security group with its rules.
func securityGroupOut(g core.SecurityGroup) kci.SecurityGroup {
	out := kci.SecurityGroup{
		CreateTime: cloudTime(g.CreatedAt), VpcID: g.VpcID, SecurityGroupName: g.Name, SecurityGroupID: g.ID,
		Description: g.Description, SecurityGroupType: "other", SecurityGroupEntrySet: []kci.SecurityGroupEntry{},
	}
	if g.Configured {
		out.SecurityGroupType = "config"
	}
	for _, r := range g.Rules {
		out.SecurityGroupEntrySet = append(out.SecurityGroupEntrySet, kci.SecurityGroupEntry{
			CreateTime: cloudTime(r.CreatedAt), Description: r.Description, SecurityGroupEntryID: r.ID, CidrBlock: r.CIDR,
			Direction: r.Direction, Protocol: wireProtocol(r.Protocol), IcmpType: r.IcmpType, IcmpCode: r.IcmpCode,
			PortRangeFrom: r.PortFrom, PortRangeTo: r.PortTo, RuleTag: r.RuleTag, Priority: r.Priority, Policy: r.Policy,
		})
	}
	return out
}
