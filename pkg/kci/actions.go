package kci

import "context"

// CreateContainerGroup creates a group and returns its ID. An empty
// ChargeType is sent as HourlyInstantSettlement, the only one there is.
func (c *Client) CreateContainerGroup(ctx context.Context, req *CreateContainerGroupRequest) (*CreateContainerGroupResponse, error) {
	if req != nil && req.ChargeType == "" {
		r := *req
		r.ChargeType = ChargeHourlyInstantSettlement
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
