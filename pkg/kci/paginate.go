package kci

import (
	"context"
	"fmt"
)

// maxPages stops a paging loop that a misbehaving server would keep going.
const maxPages = 10000

// ListContainerGroups returns every group matching req, following Marker
// across pages (100 per page unless req.MaxResults says otherwise;
// req.Marker is where it starts). A group seen twice, which offset paging
// can show when groups are created meanwhile, is kept once.
func (c *Client) ListContainerGroups(ctx context.Context, req *DescribeContainerGroupRequest) ([]ContainerGroup, error) {
	r := DescribeContainerGroupRequest{}
	if req != nil {
		r = *req
	}
	if r.MaxResults == 0 {
		r.MaxResults = 100
	}
	var all []ContainerGroup
	seen := map[string]bool{}
	for range maxPages {
		page, err := c.DescribeContainerGroup(ctx, &r)
		if err != nil {
			return nil, err
		}
		for _, g := range page.ContainerGroups {
			if !seen[g.ContainerGroupID] {
				seen[g.ContainerGroupID] = true
				all = append(all, g)
			}
		}
		// Marker 0 ends the list; a marker that does not advance would loop.
		if page.Marker <= r.Marker || len(page.ContainerGroups) == 0 {
			return all, nil
		}
		r.Marker = page.Marker
	}
	return nil, fmt.Errorf("kci: DescribeContainerGroup: more than %d pages", maxPages)
}

// ListVpcs returns every VPC matching req, following NextToken.
func (c *Client) ListVpcs(ctx context.Context, req *DescribeVpcsRequest) ([]Vpc, error) {
	r := DescribeVpcsRequest{}
	if req != nil {
		r = *req
	}
	return collect(func(token string) ([]Vpc, string, error) {
		r.NextToken = token
		p, err := c.DescribeVpcs(ctx, &r)
		if err != nil {
			return nil, "", err
		}
		return p.VpcSet, p.NextToken, nil
	}, r.NextToken)
}

// ListSubnets returns every subnet matching req, following NextToken.
func (c *Client) ListSubnets(ctx context.Context, req *DescribeSubnetsRequest) ([]Subnet, error) {
	r := DescribeSubnetsRequest{}
	if req != nil {
		r = *req
	}
	return collect(func(token string) ([]Subnet, string, error) {
		r.NextToken = token
		p, err := c.DescribeSubnets(ctx, &r)
		if err != nil {
			return nil, "", err
		}
		return p.SubnetSet, p.NextToken, nil
	}, r.NextToken)
}

// ListSecurityGroups returns every security group matching req, following
// NextToken.
func (c *Client) ListSecurityGroups(ctx context.Context, req *DescribeSecurityGroupsRequest) ([]SecurityGroup, error) {
	r := DescribeSecurityGroupsRequest{}
	if req != nil {
		r = *req
	}
	return collect(func(token string) ([]SecurityGroup, string, error) {
		r.NextToken = token
		p, err := c.DescribeSecurityGroups(ctx, &r)
		if err != nil {
			return nil, "", err
		}
		return p.SecurityGroupSet, p.NextToken, nil
	}, r.NextToken)
}

// collect follows NextToken until the server gives none.
func collect[T any](page func(token string) ([]T, string, error), token string) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	for range maxPages {
		items, next, err := page(token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" || seen[next] {
			return all, nil
		}
		seen[next] = true
		token = next
	}
	return nil, fmt.Errorf("kci: more than %d pages", maxPages)
}
