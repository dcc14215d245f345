package service

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/uuid"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// SetHostRoutes gives the registry the host's routes kcid does not own:
// a VPC or subnet made through the API must not overlap them (groups there
// would be unreachable from this host), as configured subnets must not.
func (n *Networks) SetHostRoutes(routes func() ([]netip.Prefix, error)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hostRoutes = routes
}

// VPC CIDR sizes accepted through the API.
const (
	minVPCBits    = 8
	maxVPCBits    = 28
	maxSubnetBits = 29 // 8 addresses: network, gateway, 5 groups, broadcast
)

// parseCIDR reads an IPv4 CIDR given through the API.
func parseCIDR(param, cidr string, minBits, maxBits int) (netip.Prefix, error) {
	if cidr == "" {
		return netip.Prefix{}, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: param}
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return p, errdefs.Param(errdefs.CodeInvalidParameterValue, param, "%q is not an IPv4 CIDR such as 10.0.0.0/16", cidr)
	}
	if p.Bits() < minBits || p.Bits() > maxBits {
		return p, errdefs.Param(errdefs.CodeInvalidParameterValue, param, "must be a /%d to /%d block, not /%d", minBits, maxBits, p.Bits())
	}
	if p.Masked() != p {
		return p, errdefs.Param(errdefs.CodeInvalidParameterValue, param, "%s has host bits set; did you mean %s?", cidr, p.Masked())
	}
	return p, nil
}

// checkHostRoutes refuses a block on a route of the host kcid does not
// own; n.mu is held.
func (n *Networks) checkHostRoutes(param string, p netip.Prefix) error {
	if n.hostRoutes == nil {
		return nil
	}
	routes, err := n.hostRoutes()
	if err != nil {
		return fmt.Errorf("read the host's routes: %w", err)
	}
	for _, r := range routes {
		if r.Overlaps(p) {
			return errdefs.Param(errdefs.CodeInvalidParameterValue, param,
				"%s overlaps the host's route %s, which kcid does not own: groups there would be unreachable from this host; choose a block that overlaps no route", p, r)
		}
	}
	return nil
}

// CreateVPC makes a VPC. Its block must not overlap another VPC on this
// host (all VPCs share the host's routing table, so blocks are unique
// host-wide, whatever the account) nor a host route kcid does not own.
func (s *Service) CreateVPC(ctx context.Context, accountID, region, name, cidr string) (core.VPC, error) {
	p, err := parseCIDR("CidrBlock", cidr, minVPCBits, maxVPCBits)
	if err != nil {
		return core.VPC{}, err
	}
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, v := range n.vpcs {
		if q, err := netip.ParsePrefix(v.CIDR); err == nil && q.Overlaps(p) {
			if v.AccountID == accountID {
				return core.VPC{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "CidrBlock", "%s overlaps your vpc %s (%s)", p, v.ID, v.CIDR)
			}
			return core.VPC{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "CidrBlock", "%s overlaps a vpc of another account on this host; choose another block", p)
		}
	}
	if err := n.checkHostRoutes("CidrBlock", p); err != nil {
		return core.VPC{}, err
	}
	v := core.VPC{ID: uuid.NewString(), Name: name, AccountID: accountID, Region: region, CIDR: p.String(), CreatedAt: s.now()}
	if n.store != nil {
		if err := n.store.PutVPC(v); err != nil {
			return core.VPC{}, fmt.Errorf("persist vpc %s: %w", v.ID, err)
		}
	}
	n.vpcs[v.ID] = v
	s.log.Info("vpc created", "account", accountID, "vpc", v.ID, "cidr", v.CIDR)
	return v, nil
}

// DeleteVPC deletes an empty VPC made through the API: its subnets and
// security groups must be deleted first (ErrConflict naming one).
func (s *Service) DeleteVPC(ctx context.Context, accountID, region, id string) error {
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.vpcs[id]
	if !ok || v.AccountID != accountID || v.Region != region {
		return &errdefs.NotFoundError{Kind: "Vpc", ID: id}
	}
	if v.Configured {
		return errdefs.New(errdefs.ErrFailedPrecondition, "vpc %s is declared in kcid's config (or is the account's default network); remove it from the config instead", id)
	}
	for _, sub := range n.subnets {
		if sub.VpcID == id {
			return errdefs.New(errdefs.ErrConflict, "vpc %s still has subnet %s; delete its subnets first", id, sub.ID)
		}
	}
	for _, g := range n.sgs {
		if g.VpcID == id {
			return errdefs.New(errdefs.ErrConflict, "vpc %s still has security group %s; delete its security groups first", id, g.ID)
		}
	}
	if n.store != nil {
		if err := n.store.DeleteVPC(id); err != nil {
			return fmt.Errorf("forget vpc %s: %w", id, err)
		}
	}
	delete(n.vpcs, id)
	s.log.Info("vpc deleted", "account", accountID, "vpc", id)
	return nil
}

// ModifyVPC renames one of the account's VPCs made through the API.
func (s *Service) ModifyVPC(ctx context.Context, accountID, region, id, name string) (core.VPC, error) {
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.vpcs[id]
	if !ok || v.AccountID != accountID || v.Region != region {
		return core.VPC{}, &errdefs.NotFoundError{Kind: "Vpc", ID: id}
	}
	if v.Configured {
		return core.VPC{}, errdefs.New(errdefs.ErrFailedPrecondition, "vpc %s is declared in kcid's config (or is the account's default network); change it in the config instead", id)
	}
	old := v.Name
	v.Name = name
	if n.store != nil {
		if err := n.store.PutVPC(v); err != nil {
			return core.VPC{}, fmt.Errorf("persist vpc %s: %w", v.ID, err)
		}
	}
	n.vpcs[v.ID] = v
	s.log.Info("vpc modified", "account", accountID, "vpc", v.ID, "old_name", old, "name", v.Name)
	return v, nil
}

// SubnetSpec is what CreateSubnet asks for.
type SubnetSpec struct {
	AccountID, Region string
	VpcID, Name, CIDR string
	// Zone is an availability zone of Region (checked by the caller).
	Zone string
	// Gateway: empty is the block's first address.
	Gateway string
	// DNS1 and DNS2 are the subnet's name servers (either may be empty).
	DNS1, DNS2 string
}

// parseNameServer checks a subnet's name server given through the API:
// empty (none) or an IPv4 address.
func parseNameServer(param, addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	a, ok := core.NameServerAddr(addr)
	if !ok {
		return "", errdefs.Param(errdefs.CodeInvalidParameterValue, param, "%q is not an IPv4 address of a name server such as 10.0.0.2", addr)
	}
	return a.String(), nil
}

// CheckNameServers checks Dns1 and Dns2 as CreateSubnet and ModifySubnet
// do (for their DryRun).
func CheckNameServers(dns1, dns2 string) error {
	if _, err := parseNameServer("Dns1", dns1); err != nil {
		return err
	}
	_, err := parseNameServer("Dns2", dns2)
	return err
}

// SubnetChange is what ModifySubnet asks for: nil keeps a field, an
// empty DNS1 or DNS2 removes that name server.
type SubnetChange struct {
	AccountID, Region string
	ID                string
	Name, DNS1, DNS2  *string
}

// ModifySubnet renames one of the account's subnets made through the API
// or changes its name servers. Groups created in it afterwards get the new
// name servers; groups already in it keep theirs (docs/networking.md).
func (s *Service) ModifySubnet(ctx context.Context, c SubnetChange) (core.Subnet, error) {
	dns := map[string]*string{"Dns1": c.DNS1, "Dns2": c.DNS2}
	for _, param := range []string{"Dns1", "Dns2"} {
		if p := dns[param]; p != nil {
			a, err := parseNameServer(param, *p)
			if err != nil {
				return core.Subnet{}, err
			}
			dns[param] = &a
		}
	}
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	sub, ok := n.subnets[c.ID]
	if v := n.vpcs[sub.VpcID]; !ok || v.AccountID != c.AccountID || v.Region != c.Region {
		return core.Subnet{}, &errdefs.NotFoundError{Kind: "Subnet", ID: c.ID}
	}
	if sub.Configured {
		return core.Subnet{}, errdefs.New(errdefs.ErrFailedPrecondition, "subnet %s is declared in kcid's config (or is the account's default); change it in the config instead", c.ID)
	}
	if c.Name != nil {
		sub.Name = *c.Name
	}
	if p := dns["Dns1"]; p != nil {
		sub.DNS1 = *p
	}
	if p := dns["Dns2"]; p != nil {
		sub.DNS2 = *p
	}
	if n.store != nil {
		if err := n.store.PutSubnet(c.AccountID, sub); err != nil {
			return core.Subnet{}, fmt.Errorf("persist subnet %s: %w", sub.ID, err)
		}
	}
	n.subnets[sub.ID] = sub
	s.log.Info("subnet modified", "account", c.AccountID, "subnet", sub.ID, "name", sub.Name, "dns1", sub.DNS1, "dns2", sub.DNS2)
	return sub, nil
}

// CreateSubnet makes a subnet inside a VPC: its block lies inside the
// VPC's, overlaps no other subnet and no host route kcid does not own.
func (s *Service) CreateSubnet(ctx context.Context, spec SubnetSpec) (core.Subnet, error) {
	if spec.VpcID == "" {
		return core.Subnet{}, &errdefs.ParamError{Code: errdefs.CodeMissingParameter, Param: "VpcId"}
	}
	p, err := parseCIDR("CidrBlock", spec.CIDR, minVPCBits, maxSubnetBits)
	if err != nil {
		return core.Subnet{}, err
	}
	dns1, err := parseNameServer("Dns1", spec.DNS1)
	if err != nil {
		return core.Subnet{}, err
	}
	dns2, err := parseNameServer("Dns2", spec.DNS2)
	if err != nil {
		return core.Subnet{}, err
	}
	gw := p.Addr().Next()
	if spec.Gateway != "" {
		a, err := netip.ParseAddr(spec.Gateway)
		if err != nil || !p.Contains(a) || a == p.Addr() || a == core.BroadcastAddr(p) {
			return core.Subnet{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "GatewayIp", "must be a host address of %s", p)
		}
		gw = a
	}
	n := s.nets
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.vpcs[spec.VpcID]
	if !ok || v.AccountID != spec.AccountID || v.Region != spec.Region {
		return core.Subnet{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "VpcId", "vpc %q does not exist in region %s", spec.VpcID, spec.Region)
	}
	if vp, err := netip.ParsePrefix(v.CIDR); err != nil || !vp.Contains(p.Addr()) || vp.Bits() > p.Bits() {
		return core.Subnet{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "CidrBlock", "%s is not inside vpc %s (%s)", p, v.ID, v.CIDR)
	}
	for _, o := range n.subnets {
		if q, err := netip.ParsePrefix(o.CIDR); err == nil && q.Overlaps(p) {
			if o.VpcID == v.ID {
				return core.Subnet{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "CidrBlock", "%s overlaps subnet %s (%s) of the vpc", p, o.ID, o.CIDR)
			}
			return core.Subnet{}, errdefs.Param(errdefs.CodeInvalidParameterValue, "CidrBlock", "%s overlaps another subnet on this host; choose another block", p)
		}
	}
	if err := n.checkHostRoutes("CidrBlock", p); err != nil {
		return core.Subnet{}, err
	}
	sub := core.Subnet{ID: uuid.NewString(), Name: spec.Name, VpcID: v.ID, CIDR: p.String(), Zone: spec.Zone, Gateway: gw.String(),
		DNS1: dns1, DNS2: dns2, CreatedAt: s.now()}
	if n.store != nil {
		if err := n.store.PutSubnet(spec.AccountID, sub); err != nil {
			return core.Subnet{}, fmt.Errorf("persist subnet %s: %w", sub.ID, err)
		}
	}
	n.subnets[sub.ID] = sub
	s.log.Info("subnet created", "account", spec.AccountID, "subnet", sub.ID, "vpc", v.ID, "cidr", sub.CIDR, "zone", sub.Zone, "dns1", sub.DNS1, "dns2", sub.DNS2)
	return sub, nil
}

// DeleteSubnet deletes a subnet made through the API that no group (live
// or being deleted) is in; ErrConflict otherwise.
func (s *Service) DeleteSubnet(ctx context.Context, accountID, region, id string) error {
	// createMu: no create lands in the subnet between the check and the delete.
	s.createMu.Lock()
	defer s.createMu.Unlock()
	n := s.nets
	n.mu.RLock()
	sub, ok := n.subnets[id]
	v := n.vpcs[sub.VpcID]
	n.mu.RUnlock()
	if !ok || v.AccountID != accountID || v.Region != region {
		return &errdefs.NotFoundError{Kind: "Subnet", ID: id}
	}
	if sub.Configured {
		return errdefs.New(errdefs.ErrFailedPrecondition, "subnet %s is declared in kcid's config (or is the account's default); remove it from the config instead", id)
	}
	groups, err := s.store.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Network.SubnetID == id {
			return errdefs.New(errdefs.ErrConflict, "subnet %s is used by container group %s; delete the container group first", id, g.ID)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.store != nil {
		if err := n.store.DeleteSubnet(id); err != nil {
			return fmt.Errorf("forget subnet %s: %w", id, err)
		}
	}
	delete(n.subnets, id)
	s.log.Info("subnet deleted", "account", accountID, "subnet", id)
	return nil
}

// subnetDNS is the DNS of a new group in the subnet: the group's DnsConfig
// when it names name servers, else that DnsConfig (if any) with the
// subnet's name servers. A group keeps what it got here for its life, so
// ModifySubnet changes only the groups created afterwards.
func (n *Networks) subnetDNS(subnetID string, d *core.DNSConfig) *core.DNSConfig {
	if d != nil && len(d.NameServers) > 0 {
		return d
	}
	n.mu.RLock()
	sub := n.subnets[subnetID]
	n.mu.RUnlock()
	var servers []string
	for _, a := range []string{sub.DNS1, sub.DNS2} {
		if a != "" && !slices.Contains(servers, a) {
			servers = append(servers, a)
		}
	}
	if len(servers) == 0 {
		return d
	}
	out := &core.DNSConfig{NameServers: servers}
	if d != nil {
		out.Searches, out.Options = d.Searches, d.Options
	}
	return out
}

// hasSubnet reports whether the subnet exists.
func (n *Networks) hasSubnet(id string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.subnets[id]
	return ok
}
