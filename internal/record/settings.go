package record

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// DefaultNetwork is version 2 of the default network made for an account
// on first start.
type DefaultNetwork struct {
	VPC           VPC           `json:"vpc"`
	Subnet        Subnet        `json:"subnet"`
	SecurityGroup SecurityGroup `json:"securityGroup"`
}

// VPC is version 2 of core.VPC.
type VPC struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	AccountID string    `json:"accountId"`
	Region    string    `json:"region"`
	CIDR      string    `json:"cidr"`
	IsDefault bool      `json:"isDefault,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Subnet is version 2 of core.Subnet.
type Subnet struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	VpcID   string `json:"vpcId"`
	CIDR    string `json:"cidr"`
	Zone    string `json:"zone"`
	Gateway string `json:"gateway"`
	// DNS1 and DNS2 were added to version 2 of subnets made through the
	// API: absent means no name servers, as before (docs/state.md).
	DNS1      string    `json:"dns1,omitempty"`
	DNS2      string    `json:"dns2,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// SecurityGroup is version 2 of core.SecurityGroup.
type SecurityGroup struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	VpcID     string    `json:"vpcId"`
	CreatedAt time.Time `json:"createdAt"`
}

// FromDefaultNetwork converts a default network to its record.
func FromDefaultNetwork(v core.VPC, s core.Subnet, sg core.SecurityGroup) DefaultNetwork {
	return DefaultNetwork{
		VPC:           VPC{ID: v.ID, Name: v.Name, AccountID: v.AccountID, Region: v.Region, CIDR: v.CIDR, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt},
		Subnet:        Subnet{ID: s.ID, Name: s.Name, VpcID: s.VpcID, CIDR: s.CIDR, Zone: s.Zone, Gateway: s.Gateway, CreatedAt: s.CreatedAt},
		SecurityGroup: SecurityGroup{ID: sg.ID, Name: sg.Name, VpcID: sg.VpcID, CreatedAt: sg.CreatedAt},
	}
}

// ToCore converts the record back.
func (r DefaultNetwork) ToCore() (core.VPC, core.Subnet, core.SecurityGroup) {
	v, s, sg := r.VPC, r.Subnet, r.SecurityGroup
	return core.VPC{ID: v.ID, Name: v.Name, AccountID: v.AccountID, Region: v.Region, CIDR: v.CIDR, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt},
		core.Subnet{ID: s.ID, Name: s.Name, VpcID: s.VpcID, CIDR: s.CIDR, Zone: s.Zone, Gateway: s.Gateway, CreatedAt: s.CreatedAt},
		core.SecurityGroup{ID: sg.ID, Name: sg.Name, VpcID: sg.VpcID, CreatedAt: sg.CreatedAt}
}

// DefaultNetworkFromV1 reads a version 1 default network: encoding/json of
// {VPC, Subnet, SG} holding the core types of then, keyed by Go names.
func DefaultNetworkFromV1(b []byte) (DefaultNetwork, error) {
	var v1 struct {
		VPC struct {
			ID, Name, AccountID, Region, CIDR string
			IsDefault                         bool
			CreatedAt                         time.Time
		} `json:"VPC"`
		Subnet struct {
			ID, Name, VpcID, CIDR, Zone, Gateway string
			CreatedAt                            time.Time
		} `json:"Subnet"`
		SG struct {
			ID, Name, VpcID string
			CreatedAt       time.Time
		} `json:"SG"`
	}
	if err := json.Unmarshal(b, &v1); err != nil {
		return DefaultNetwork{}, fmt.Errorf("default network record version 1: %w", err)
	}
	v, s, sg := v1.VPC, v1.Subnet, v1.SG
	return DefaultNetwork{
		VPC:           VPC{ID: v.ID, Name: v.Name, AccountID: v.AccountID, Region: v.Region, CIDR: v.CIDR, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt},
		Subnet:        Subnet{ID: s.ID, Name: s.Name, VpcID: s.VpcID, CIDR: s.CIDR, Zone: s.Zone, Gateway: s.Gateway, CreatedAt: s.CreatedAt},
		SecurityGroup: SecurityGroup{ID: sg.ID, Name: sg.Name, VpcID: sg.VpcID, CreatedAt: sg.CreatedAt},
	}, nil
}

// RulesEnforced marks a state whose security groups were given their
// default rules when kcid first enforced rules (docs/networking.md): the
// groups recorded before then filtered nothing.
type RulesEnforced struct {
	Since time.Time `json:"since"`
}

// GeneratedKey is version 2 of the access key generated on first start:
// the secret is kept sealed.
type GeneratedKey struct {
	AccessKeyID           string `json:"accessKeyId"`
	SealedSecretAccessKey []byte `json:"sealedSecretAccessKey"`
}

// GeneratedKeyV1 is version 1 of the generated key, secret in plain text.
type GeneratedKeyV1 struct {
	AccessKeyID     string `json:"AccessKeyID"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// GeneratedKeyAAD binds a sealed secret to its access key ID.
func GeneratedKeyAAD(accessKeyID string) []byte {
	return []byte("generated-key\x00" + accessKeyID)
}

// SecurityGroupDoc is version 1 of a security group kept under
// setting/security-group/<id>: one made through the API (Configured
// false), or the rules given through the API to a configured or default
// group (Configured true; its other fields come from the config).
type SecurityGroupDoc struct {
	AccountID   string              `json:"accountId"`
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	VpcID       string              `json:"vpcId"`
	Configured  bool                `json:"configured,omitempty"`
	Rules       []SecurityGroupRule `json:"rules"`
	CreatedAt   time.Time           `json:"createdAt"`
}

// SecurityGroupRule is version 1 of core.SecurityGroupRule.
type SecurityGroupRule struct {
	ID          string    `json:"id"`
	Direction   string    `json:"direction"`
	Protocol    string    `json:"protocol"`
	CIDR        string    `json:"cidr"`
	PortFrom    int       `json:"portFrom,omitempty"`
	PortTo      int       `json:"portTo,omitempty"`
	IcmpType    int       `json:"icmpType,omitempty"`
	IcmpCode    int       `json:"icmpCode,omitempty"`
	Description string    `json:"description,omitempty"`
	Priority    int       `json:"priority,omitempty"`
	Policy      string    `json:"policy,omitempty"`
	RuleTag     string    `json:"ruleTag,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// FromSecurityGroup converts an account's security group to its record.
func FromSecurityGroup(accountID string, g core.SecurityGroup) SecurityGroupDoc {
	d := SecurityGroupDoc{AccountID: accountID, ID: g.ID, Name: g.Name, Description: g.Description, VpcID: g.VpcID,
		Configured: g.Configured, Rules: []SecurityGroupRule{}, CreatedAt: g.CreatedAt}
	for _, r := range g.Rules {
		d.Rules = append(d.Rules, SecurityGroupRule{ID: r.ID, Direction: r.Direction, Protocol: r.Protocol, CIDR: r.CIDR,
			PortFrom: r.PortFrom, PortTo: r.PortTo, IcmpType: r.IcmpType, IcmpCode: r.IcmpCode, Description: r.Description,
			Priority: r.Priority, Policy: r.Policy, RuleTag: r.RuleTag, CreatedAt: r.CreatedAt})
	}
	return d
}

// ToCore converts the record back.
func (d SecurityGroupDoc) ToCore() core.SecurityGroup {
	g := core.SecurityGroup{ID: d.ID, Name: d.Name, Description: d.Description, VpcID: d.VpcID, Configured: d.Configured, CreatedAt: d.CreatedAt}
	for _, r := range d.Rules {
		g.Rules = append(g.Rules, core.SecurityGroupRule{ID: r.ID, Direction: r.Direction, Protocol: r.Protocol, CIDR: r.CIDR,
			PortFrom: r.PortFrom, PortTo: r.PortTo, IcmpType: r.IcmpType, IcmpCode: r.IcmpCode, Description: r.Description,
			Priority: r.Priority, Policy: r.Policy, RuleTag: r.RuleTag, CreatedAt: r.CreatedAt})
	}
	return g
}

// NetworkDoc is version 1 of a VPC or subnet made through the API, kept
// under setting/vpc/<id> or setting/subnet/<id>: the account and one of
// the two (version 2 shapes of core.VPC and core.Subnet).
type NetworkDoc struct {
	AccountID string  `json:"accountId"`
	VPC       *VPC    `json:"vpc,omitempty"`
	Subnet    *Subnet `json:"subnet,omitempty"`
}

// FromVPC converts a VPC made through the API to its record.
func FromVPC(v core.VPC) NetworkDoc {
	return NetworkDoc{AccountID: v.AccountID, VPC: &VPC{ID: v.ID, Name: v.Name, AccountID: v.AccountID, Region: v.Region, CIDR: v.CIDR, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt}}
}

// FromSubnet converts an account's subnet made through the API to its record.
func FromSubnet(accountID string, s core.Subnet) NetworkDoc {
	return NetworkDoc{AccountID: accountID, Subnet: &Subnet{ID: s.ID, Name: s.Name, VpcID: s.VpcID, CIDR: s.CIDR, Zone: s.Zone, Gateway: s.Gateway,
		DNS1: s.DNS1, DNS2: s.DNS2, CreatedAt: s.CreatedAt}}
}

// ToVPC converts a VPC record back.
func (d NetworkDoc) ToVPC() core.VPC {
	v := d.VPC
	return core.VPC{ID: v.ID, Name: v.Name, AccountID: v.AccountID, Region: v.Region, CIDR: v.CIDR, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt}
}

// ToSubnet converts a subnet record back.
func (d NetworkDoc) ToSubnet() core.Subnet {
	s := d.Subnet
	return core.Subnet{ID: s.ID, Name: s.Name, VpcID: s.VpcID, CIDR: s.CIDR, Zone: s.Zone, Gateway: s.Gateway,
		DNS1: s.DNS1, DNS2: s.DNS2, CreatedAt: s.CreatedAt}
}
