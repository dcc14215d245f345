package service

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// Networks is the registry of VPCs, subnets and security groups, each owned
// by one account. It is read-mostly: built at start-up from the config and
// the defaults made on first start.
type Networks struct {
	mu      sync.RWMutex
	vpcs    map[string]core.VPC
	subnets map[string]core.Subnet
	sgs     map[string]core.SecurityGroup
	// store persists what the API makes (optional).
	store NetworkStore
	// hostRoutes lists the host's routes kcid does not own (optional):
	// new subnets must not overlap them.
	hostRoutes func() ([]netip.Prefix, error)
}

// NewNetworks returns an empty registry.
func NewNetworks() *Networks {
	return &Networks{vpcs: map[string]core.VPC{}, subnets: map[string]core.Subnet{}, sgs: map[string]core.SecurityGroup{}}
}

// AddVPC registers a VPC.
func (n *Networks) AddVPC(v core.VPC) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.vpcs[v.ID] = v
}

// AddSubnet registers a subnet of a known VPC.
func (n *Networks) AddSubnet(s core.Subnet) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subnets[s.ID] = s
}

// AddSecurityGroup registers a security group of a known VPC.
func (n *Networks) AddSecurityGroup(g core.SecurityGroup) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sgs[g.ID] = g
}

// HasVPCs reports whether the account owns any VPC.
func (n *Networks) HasVPCs(accountID string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, v := range n.vpcs {
		if v.AccountID == accountID {
			return true
		}
	}
	return false
}

// SubnetFor returns the account's subnet (and its VPC) in a region, or a
// parameter error naming SubnetId.
func (n *Networks) SubnetFor(accountID, region, subnetID string) (core.Subnet, core.VPC, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s, ok := n.subnets[subnetID]
	if ok {
		v := n.vpcs[s.VpcID]
		if v.AccountID == accountID && v.Region == region {
			return s, v, nil
		}
	}
	return core.Subnet{}, core.VPC{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "SubnetId", "subnet %q does not exist in region %s", subnetID, region)
}

// VPC returns a VPC of any account.
func (n *Networks) VPC(id string) (core.VPC, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	v, ok := n.vpcs[id]
	return v, ok
}

// OwnsVPC reports whether the VPC exists and is the account's.
func (n *Networks) OwnsVPC(accountID, vpcID string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	v, ok := n.vpcs[vpcID]
	return ok && v.AccountID == accountID
}

// SecurityGroup returns the account's security group.
func (n *Networks) SecurityGroup(accountID, id string) (core.SecurityGroup, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	g, ok := n.sgs[id]
	if !ok || n.vpcs[g.VpcID].AccountID != accountID {
		return core.SecurityGroup{}, false
	}
	return g, true
}

// VPCs lists the account's VPCs in a region; ids (if any) and the vpc-id
// filter must both match.
func (n *Networks) VPCs(accountID, region string, ids []string, filters map[string][]string) []core.VPC {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []core.VPC
	for _, v := range n.vpcs {
		if v.AccountID == accountID && v.Region == region && matchIn(ids, v.ID) && matchIn(filters["vpc-id"], v.ID) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Subnets lists the account's subnets in a region; filters may hold vpc-id,
// subnet-id and availability-zone-name values.
func (n *Networks) Subnets(accountID, region string, ids []string, filters map[string][]string) []core.Subnet {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []core.Subnet
	for _, s := range n.subnets {
		v := n.vpcs[s.VpcID]
		if v.AccountID != accountID || v.Region != region {
			continue
		}
		if (len(ids) > 0 && !slices.Contains(ids, s.ID)) ||
			!matchIn(filters["vpc-id"], s.VpcID) ||
			!matchIn(filters["subnet-id"], s.ID) ||
			!matchIn(filters["availability-zone-name"], s.Zone) {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SecurityGroups lists the account's security groups in a region.
func (n *Networks) SecurityGroups(accountID, region string, ids []string, filters map[string][]string) []core.SecurityGroup {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []core.SecurityGroup
	for _, g := range n.sgs {
		v := n.vpcs[g.VpcID]
		if v.AccountID != accountID || v.Region != region {
			continue
		}
		if (len(ids) > 0 && !slices.Contains(ids, g.ID)) ||
			!matchIn(filters["vpc-id"], g.VpcID) ||
			!matchIn(filters["security-group-id"], g.ID) {
			continue
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FreeIPs counts the addresses of a subnet not held by any group. Where the
// runtime gives groups their addresses (the store is no IPAllocator), the
// subnet is nominal and all its addresses count as free.
func (s *Service) FreeIPs(ctx context.Context, sub core.Subnet) (int, error) {
	p, err := netip.ParsePrefix(sub.CIDR)
	if err != nil {
		return 0, err
	}
	total := 1<<(32-p.Bits()) - 3 // network, broadcast, gateway
	if s.ips == nil {
		return max(0, total), nil
	}
	held, _, err := s.ips.HeldIPs(ctx, sub.ID, "")
	if err != nil {
		return 0, err
	}
	return max(0, total-held), nil
}

// Networks returns the registry the service places groups in.
func (s *Service) Networks() *Networks { return s.nets }

// HostRange returns the first and last host addresses of a CIDR (without
// the network and broadcast addresses).
func HostRange(cidr string) (string, string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", "", err
	}
	return p.Masked().Addr().Next().String(), core.BroadcastAddr(p).Prev().String(), nil
}
