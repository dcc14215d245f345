package api

import (
	"slices"
	"strconv"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/pkg/kci"
)

// maxNetworkNameLen bounds VpcName and SubnetName (the SDKs state none).
const maxNetworkNameLen = 128

func (h *Handler) createVpc(c *call) (any, error) {
	var req createVpcRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkText("VpcName", &req.VpcName, maxNetworkNameLen); err != nil {
		return nil, err
	}
	if req.ProvidedIpv6CidrBlock || req.Ipv6CidrBlock != "" {
		return nil, invalid("ProvidedIpv6CidrBlock", "IPv6 is not supported by kcid; leave it out")
	}
	if req.CidrBlock == "" {
		return nil, missing("CidrBlock")
	}
	if c.dryRun {
		return nil, errDryRun
	}
	v, err := h.o.Service.CreateVPC(c.ctx, c.accountID, c.region, req.VpcName, req.CidrBlock)
	if err != nil {
		return nil, err
	}
	return kci.CreateVpcResponse{RequestID: c.requestID, Vpc: vpcOut(v)}, nil
}

func (h *Handler) deleteVpc(c *call) (any, error) {
	var req vpcIDRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.VpcID == "" {
		return nil, missing("VpcId")
	}
	if c.dryRun {
		if !h.o.Service.Networks().OwnsVPC(c.accountID, req.VpcID) {
			return nil, &errdefs.NotFoundError{Kind: "Vpc", ID: req.VpcID}
		}
		return nil, errDryRun
	}
	if err := h.o.Service.DeleteVPC(c.ctx, c.accountID, c.region, req.VpcID); err != nil {
		return nil, err
	}
	return kci.ReturnResponse{RequestID: c.requestID, Return: true}, nil
}

func (h *Handler) createSubnet(c *call) (any, error) {
	var req createSubnetRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkText("SubnetName", &req.SubnetName, maxNetworkNameLen); err != nil {
		return nil, err
	}
	switch {
	case req.SubnetType != "" && req.SubnetType != "Normal":
		return nil, invalid("SubnetType", "only Normal subnets (for container groups) are served")
	case req.ProvidedIpv6CidrBlock:
		return nil, invalid("ProvidedIpv6CidrBlock", "IPv6 is not supported by kcid; leave it out")
	case req.SecondaryCidrID != "":
		return nil, invalid("SecondaryCidrId", "secondary CIDRs are not supported by kcid")
	case req.DhcpIPFrom != "" || req.DhcpIPTo != "":
		return nil, invalid("DhcpIpFrom", "kcid gives groups fixed addresses from the whole block; leave DhcpIpFrom and DhcpIpTo out")
	}
	zone := req.AvailabilityZone
	var zones []string
	for _, r := range h.o.Regions {
		if r.Name == c.region {
			zones = r.Zones
		}
	}
	if zone == "" && len(zones) > 0 {
		zone = zones[0]
	}
	if !slices.Contains(zones, zone) {
		return nil, invalid("AvailabilityZone", "zone %q is not served in region %s", zone, c.region)
	}
	spec := service.SubnetSpec{AccountID: c.accountID, Region: c.region, VpcID: req.VpcID, Name: req.SubnetName,
		CIDR: req.CidrBlock, Zone: zone, Gateway: req.GatewayIP, DNS1: req.Dns1, DNS2: req.Dns2}
	if c.dryRun {
		if req.VpcID == "" {
			return nil, missing("VpcId")
		}
		if req.CidrBlock == "" {
			return nil, missing("CidrBlock")
		}
		if err := service.CheckNameServers(req.Dns1, req.Dns2); err != nil {
			return nil, err
		}
		return nil, errDryRun
	}
	sub, err := h.o.Service.CreateSubnet(c.ctx, spec)
	if err != nil {
		return nil, err
	}
	out, err := h.subnetOut(c, sub)
	if err != nil {
		return nil, err
	}
	return kci.CreateSubnetResponse{RequestID: c.requestID, Subnet: out}, nil
}

func (h *Handler) deleteSubnet(c *call) (any, error) {
	var req subnetIDRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.SubnetID == "" {
		return nil, missing("SubnetId")
	}
	if c.dryRun {
		if _, _, err := h.o.Service.Networks().SubnetFor(c.accountID, c.region, req.SubnetID); err != nil {
			return nil, &errdefs.NotFoundError{Kind: "Subnet", ID: req.SubnetID}
		}
		return nil, errDryRun
	}
	if err := h.o.Service.DeleteSubnet(c.ctx, c.accountID, c.region, req.SubnetID); err != nil {
		return nil, err
	}
	return kci.ReturnResponse{RequestID: c.requestID, Return: true}, nil
}

func (h *Handler) modifyVpc(c *call) (any, error) {
	var req modifyVpcRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.VpcID == "" {
		return nil, missing("VpcId")
	}
	if req.VpcName == nil {
		return nil, missing("VpcName")
	}
	if err := checkText("VpcName", req.VpcName, maxNetworkNameLen); err != nil {
		return nil, err
	}
	if c.dryRun {
		if !h.o.Service.Networks().OwnsVPC(c.accountID, req.VpcID) {
			return nil, &errdefs.NotFoundError{Kind: "Vpc", ID: req.VpcID}
		}
		return nil, errDryRun
	}
	if _, err := h.o.Service.ModifyVPC(c.ctx, c.accountID, c.region, req.VpcID, *req.VpcName); err != nil {
		return nil, err
	}
	return kci.ReturnResponse{RequestID: c.requestID, Return: true}, nil
}

func (h *Handler) modifySubnet(c *call) (any, error) {
	var req modifySubnetRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.SubnetID == "" {
		return nil, missing("SubnetId")
	}
	if err := checkText("SubnetName", req.SubnetName, maxNetworkNameLen); err != nil {
		return nil, err
	}
	change := service.SubnetChange{AccountID: c.accountID, Region: c.region, ID: req.SubnetID,
		Name: req.SubnetName, DNS1: req.Dns1, DNS2: req.Dns2}
	if c.dryRun {
		if err := service.CheckNameServers(deref(req.Dns1), deref(req.Dns2)); err != nil {
			return nil, err
		}
		if _, _, err := h.o.Service.Networks().SubnetFor(c.accountID, c.region, req.SubnetID); err != nil {
			return nil, &errdefs.NotFoundError{Kind: "Subnet", ID: req.SubnetID}
		}
		return nil, errDryRun
	}
	sub, err := h.o.Service.ModifySubnet(c.ctx, change)
	if err != nil {
		return nil, err
	}
	return kci.ModifySubnetResponse{RequestID: c.requestID, Subnet: modifiedSubnetOut(sub)}, nil
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// vpcOut renders a VPC.
func vpcOut(v core.VPC) kci.Vpc {
	return kci.Vpc{CreateTime: cloudTime(v.CreatedAt), VpcID: v.ID, VpcName: v.Name, CidrBlock: v.CIDR, IsDefault: v.IsDefault,
		Ipv6CidrBlockAssociationSet: []kci.Ipv6CidrBlock{}, SecondaryCidrSet: []kci.SecondaryCidr{}}
}

// subnetOut renders a subnet with its free addresses.
func (h *Handler) subnetOut(c *call, s core.Subnet) (kci.Subnet, error) {
	first, last := dhcpRange(s)
	free, err := h.o.Service.FreeIPs(c.ctx, s)
	if err != nil {
		return kci.Subnet{}, err
	}
	return kci.Subnet{
		CreateTime: cloudTime(s.CreatedAt), VpcID: s.VpcID, SubnetID: s.ID, SubnetName: s.Name,
		CidrBlock: s.CIDR, SubnetType: "Normal", DhcpIPFrom: first, DhcpIPTo: last, GatewayIP: s.Gateway,
		Dns1: s.DNS1, Dns2: s.DNS2, AvailabilityZoneName: s.Zone, AvailableIPNumber: strconv.Itoa(free), VisitInternet: true,
		RandomAvailableIPNum: strconv.Itoa(free), AvailbleIPNumber: strconv.Itoa(free),
		Ipv6CidrBlockAssociationSet: []kci.Ipv6CidrBlock{},
	}, nil
}

// modifiedSubnetOut renders a subnet as ModifySubnet answers it: the
// fields of subnetOut without the free-address counts and VisitInternet.
func modifiedSubnetOut(s core.Subnet) kci.ModifiedSubnet {
	first, last := dhcpRange(s)
	return kci.ModifiedSubnet{
		CreateTime: cloudTime(s.CreatedAt), SubnetID: s.ID, VpcID: s.VpcID, SubnetName: s.Name,
		CidrBlock: s.CIDR, SubnetType: "Normal", DhcpIPFrom: first, DhcpIPTo: last, Dns1: s.DNS1, Dns2: s.DNS2,
		GatewayIP: s.Gateway, AvailabilityZoneName: s.Zone, Ipv6CidrBlockAssociationSet: []kci.Ipv6CidrBlock{},
	}
}
