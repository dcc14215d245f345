package kci

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// NewClientToken returns a random ClientToken: 32 hex digits.
func NewClientToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// CreateContainerGroup creates a group and returns its ID. An empty
// ChargeType is sent as HourlyInstantSettlement, the only one there is. A
// request without a ClientToken gets a random one (unless
// Config.NoClientToken), so that a retry after a lost answer returns the
// group the first try made instead of making a second.
func (c *Client) CreateContainerGroup(ctx context.Context, req *CreateContainerGroupRequest) (*CreateContainerGroupResponse, error) {
	if req != nil && (req.ChargeType == "" || req.ClientToken == "" && !c.cfg.NoClientToken) {
		r := *req
		if r.ChargeType == "" {
			r.ChargeType = ChargeHourlyInstantSettlement
		}
		if r.ClientToken == "" && !c.cfg.NoClientToken {
			r.ClientToken = NewClientToken()
		}
		req = &r
	}
	out := &CreateContainerGroupResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "CreateContainerGroup", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeContainerGroup returns one page of groups; see
// ListContainerGroups for all of them.
func (c *Client) DescribeContainerGroup(ctx context.Context, req *DescribeContainerGroupRequest) (*DescribeContainerGroupResponse, error) {
	out := &DescribeContainerGroupResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeContainerGroup", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeContainerLog returns the last lines of one container's log.
func (c *Client) DescribeContainerLog(ctx context.Context, req *DescribeContainerLogRequest) (*DescribeContainerLogResponse, error) {
	out := &DescribeContainerLogResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeContainerLog", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeContainerGroupCount counts the caller's groups per value of a label.
func (c *Client) DescribeContainerGroupCount(ctx context.Context, req *DescribeContainerGroupCountRequest) (*DescribeContainerGroupCountResponse, error) {
	out := &DescribeContainerGroupCountResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeContainerGroupCount", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeContainerGroupEvents returns one group's events.
func (c *Client) DescribeContainerGroupEvents(ctx context.Context, req *DescribeContainerGroupEventsRequest) (*DescribeContainerGroupEventsResponse, error) {
	out := &DescribeContainerGroupEventsResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeContainerGroupEvents", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeKciPackages returns the standard CPU and memory sizes offered.
func (c *Client) DescribeKciPackages(ctx context.Context, req *DescribeKciPackagesRequest) (*DescribeKciPackagesResponse, error) {
	out := &DescribeKciPackagesResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeKciPackages", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteContainerGroup deletes a group; it stops in the background.
func (c *Client) DeleteContainerGroup(ctx context.Context, req *DeleteContainerGroupRequest) (*DeleteContainerGroupResponse, error) {
	out := &DeleteContainerGroupResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DeleteContainerGroup", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeRegions lists the regions and zones served.
func (c *Client) DescribeRegions(ctx context.Context, req *DescribeRegionsRequest) (*DescribeRegionsResponse, error) {
	out := &DescribeRegionsResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeRegions", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeVpcs returns one page of VPCs (VPC API, service vpc).
func (c *Client) DescribeVpcs(ctx context.Context, req *DescribeVpcsRequest) (*DescribeVpcsResponse, error) {
	out := &DescribeVpcsResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "DescribeVpcs", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeSubnets returns one page of subnets (VPC API, service vpc).
func (c *Client) DescribeSubnets(ctx context.Context, req *DescribeSubnetsRequest) (*DescribeSubnetsResponse, error) {
	out := &DescribeSubnetsResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "DescribeSubnets", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeSecurityGroups returns one page of security groups (VPC API,
// service vpc).
func (c *Client) DescribeSecurityGroups(ctx context.Context, req *DescribeSecurityGroupsRequest) (*DescribeSecurityGroupsResponse, error) {
	out := &DescribeSecurityGroupsResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "DescribeSecurityGroups", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateSecurityGroup makes an empty security group (VPC API): with no
// rules it admits nothing and lets nothing out.
func (c *Client) CreateSecurityGroup(ctx context.Context, req *CreateSecurityGroupRequest) (*CreateSecurityGroupResponse, error) {
	out := &CreateSecurityGroupResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "CreateSecurityGroup", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSecurityGroup deletes a security group no container group uses.
func (c *Client) DeleteSecurityGroup(ctx context.Context, req *DeleteSecurityGroupRequest) (*ReturnResponse, error) {
	out := &ReturnResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "DeleteSecurityGroup", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ModifySecurityGroup renames a security group or changes its description.
func (c *Client) ModifySecurityGroup(ctx context.Context, req *ModifySecurityGroupRequest) (*ModifySecurityGroupResponse, error) {
	out := &ModifySecurityGroupResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "ModifySecurityGroup", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// AuthorizeSecurityGroupEntry adds one rule to a security group.
func (c *Client) AuthorizeSecurityGroupEntry(ctx context.Context, req *AuthorizeSecurityGroupEntryRequest) (*AuthorizeSecurityGroupEntryResponse, error) {
	out := &AuthorizeSecurityGroupEntryResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "AuthorizeSecurityGroupEntry", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeSecurityGroupEntry removes one rule of a security group.
func (c *Client) RevokeSecurityGroupEntry(ctx context.Context, req *RevokeSecurityGroupEntryRequest) (*ReturnResponse, error) {
	out := &ReturnResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "RevokeSecurityGroupEntry", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateVpc makes a VPC (VPC API).
func (c *Client) CreateVpc(ctx context.Context, req *CreateVpcRequest) (*CreateVpcResponse, error) {
	out := &CreateVpcResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "CreateVpc", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteVpc deletes an empty VPC.
func (c *Client) DeleteVpc(ctx context.Context, req *DeleteVpcRequest) (*ReturnResponse, error) {
	out := &ReturnResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "DeleteVpc", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateSubnet makes a subnet inside a VPC.
func (c *Client) CreateSubnet(ctx context.Context, req *CreateSubnetRequest) (*CreateSubnetResponse, error) {
	out := &CreateSubnetResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "CreateSubnet", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSubnet deletes a subnet no container group is in.
func (c *Client) DeleteSubnet(ctx context.Context, req *DeleteSubnetRequest) (*ReturnResponse, error) {
	out := &ReturnResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "DeleteSubnet", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ModifyVpc renames a VPC.
func (c *Client) ModifyVpc(ctx context.Context, req *ModifyVpcRequest) (*ReturnResponse, error) {
	out := &ReturnResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "ModifyVpc", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ModifySubnet renames a subnet or changes its name servers.
func (c *Client) ModifySubnet(ctx context.Context, req *ModifySubnetRequest) (*ModifySubnetResponse, error) {
	out := &ModifySubnetResponse{}
	if err := c.Do(ctx, ServiceVPC, VPCVersion, "ModifySubnet", req, out); err != nil {
		return nil, err
	}
	return out, nil
}
