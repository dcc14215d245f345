package kcictl

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

// resolve finds the group an argument names: an ID, else a name that
// exactly one group has.
func (a *app) resolve(ctx context.Context, ref string) (*kci.ContainerGroup, error) {
	c, err := a.kci()
	if err != nil {
		return nil, err
	}
	if ref == "" {
		return nil, fmt.Errorf("empty container group ID or name")
	}
	page, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{ref}})
	if err != nil {
		return nil, err
	}
	if len(page.ContainerGroups) == 1 {
		return &page.ContainerGroups[0], nil
	}
	// Search matches substrings of names and IPs: keep exact names.
	cands, err := c.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Search: ref})
	if err != nil {
		return nil, err
	}
	var named []kci.ContainerGroup
	for _, g := range cands {
		if g.ContainerGroupName == ref {
			named = append(named, g)
		}
	}
	switch len(named) {
	case 0:
		return nil, fmt.Errorf("no container group has the ID or name %q ('kcictl get' lists them)", ref)
	case 1:
		return &named[0], nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the name %q is ambiguous: %d container groups have it; use an ID:", ref, len(named))
	for _, g := range named {
		fmt.Fprintf(&b, "\n  %s  %s, created %s", g.ContainerGroupID, g.Status, g.CreateTime.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return nil, fmt.Errorf("%s", b.String())
}

// resolveAll resolves every argument before anything is done with them.
func (a *app) resolveAll(ctx context.Context, refs []string) ([]*kci.ContainerGroup, error) {
	out := make([]*kci.ContainerGroup, 0, len(refs))
	seen := map[string]bool{}
	for _, r := range refs {
		g, err := a.resolve(ctx, r)
		if err != nil {
			return nil, err
		}
		if !seen[g.ContainerGroupID] {
			seen[g.ContainerGroupID] = true
			out = append(out, g)
		}
	}
	return out, nil
}

// completeGroups completes group names (and IDs) for shell completion.
func (a *app) completeGroups(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := a.kci()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	groups, err := c.ListContainerGroups(cmd.Context(), nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := map[string]int{}
	for _, g := range groups {
		names[g.ContainerGroupName]++
	}
	var out []cobra.Completion
	for _, g := range groups {
		if names[g.ContainerGroupName] == 1 && strings.HasPrefix(g.ContainerGroupName, toComplete) {
			out = append(out, cobra.CompletionWithDesc(g.ContainerGroupName, g.Status+" "+g.ContainerGroupID))
		}
		if strings.HasPrefix(g.ContainerGroupID, toComplete) && toComplete != "" {
			out = append(out, cobra.CompletionWithDesc(g.ContainerGroupID, g.ContainerGroupName))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// defaultNetwork fills SubnetId and SecurityGroupId when the account has
// exactly one choice, and says what the choices are otherwise.
func (a *app) defaultNetwork(ctx context.Context, req *kci.CreateContainerGroupRequest) error {
	c, err := a.kci()
	if err != nil {
		return err
	}
	if err := namesToIDs(ctx, c, req); err != nil {
		return err
	}
	var vpcID string
	if req.SubnetID == "" {
		subnets, err := c.ListSubnets(ctx, nil)
		if err != nil {
			return fmt.Errorf("finding the default subnet: %w", err)
		}
		switch len(subnets) {
		case 0:
			return fmt.Errorf("the account has no subnet in region %s", c.Region())
		case 1:
			req.SubnetID, vpcID = subnets[0].SubnetID, subnets[0].VpcID
		default:
			var b strings.Builder
			fmt.Fprintf(&b, "the account has %d subnets; choose one with --subnet (or SubnetId in the spec):", len(subnets))
			for _, s := range subnets {
				fmt.Fprintf(&b, "\n  %s  %s, %s, zone %s", s.SubnetID, s.SubnetName, s.CidrBlock, s.AvailabilityZoneName)
			}
			return fmt.Errorf("%s", b.String())
		}
	}
	if len(req.SecurityGroupIDs) > 0 {
		return nil
	}
	if vpcID == "" {
		subnets, err := c.ListSubnets(ctx, &kci.DescribeSubnetsRequest{SubnetIDs: []string{req.SubnetID}})
		if err != nil {
			return fmt.Errorf("finding the subnet's VPC: %w", err)
		}
		if len(subnets) != 1 {
			return fmt.Errorf("subnet %q does not exist in region %s ('kcictl network' lists them)", req.SubnetID, c.Region())
		}
		vpcID = subnets[0].VpcID
	}
	sgs, err := c.ListSecurityGroups(ctx, &kci.DescribeSecurityGroupsRequest{
		Filters: []kci.Filter{{Name: kci.VPCFilterVpcID, Values: []string{vpcID}}},
	})
	if err != nil {
		return fmt.Errorf("finding the default security group: %w", err)
	}
	switch len(sgs) {
	case 0:
		return fmt.Errorf("VPC %s of subnet %s has no security group", vpcID, req.SubnetID)
	case 1:
		req.SecurityGroupIDs = []string{sgs[0].SecurityGroupID}
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "VPC %s has %d security groups; choose with --security-group (or SecurityGroupId in the spec):", vpcID, len(sgs))
		for _, s := range sgs {
			fmt.Fprintf(&b, "\n  %s  %s", s.SecurityGroupID, s.SecurityGroupName)
		}
		return fmt.Errorf("%s", b.String())
	}
	return nil
}

// namesToIDs replaces the names of the request's subnets and security
// groups by their IDs; IDs, and names of nothing, are left as they are.
func namesToIDs(ctx context.Context, c *kci.Client, req *kci.CreateContainerGroupRequest) error {
	if req.SubnetID != "" || len(req.MultiSubnetIDs) > 0 {
		subnets, err := subnetKind.list(ctx, c, nil)
		if err != nil {
			return fmt.Errorf("finding the subnet: %w", err)
		}
		if req.SubnetID != "" {
			if req.SubnetID, err = subnetKind.idOf(req.SubnetID, subnets); err != nil {
				return err
			}
		}
		for i, ref := range req.MultiSubnetIDs {
			if req.MultiSubnetIDs[i], err = subnetKind.idOf(ref, subnets); err != nil {
				return err
			}
		}
	}
	if len(req.SecurityGroupIDs) == 0 {
		return nil
	}
	sgs, err := securityGroupKind.list(ctx, c, nil)
	if err != nil {
		return fmt.Errorf("finding the security groups: %w", err)
	}
	for i, ref := range req.SecurityGroupIDs {
		if req.SecurityGroupIDs[i], err = securityGroupKind.idOf(ref, sgs); err != nil {
			return err
		}
	}
	return nil
}

// ready counts running containers.
func ready(g *kci.ContainerGroup) string {
	n := 0
	for _, c := range g.Containers {
		if c.CurrentState != nil && c.CurrentState.State == kci.StateRunning {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(g.Containers))
}

func restarts(g *kci.ContainerGroup) int {
	n := 0
	for _, c := range g.Containers {
		n += c.RestartCount
	}
	return n
}

func container(g *kci.ContainerGroup, name string) *kci.ContainerDetail {
	for i := range g.Containers {
		if g.Containers[i].Name == name {
			return &g.Containers[i]
		}
	}
	return nil
}
