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
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	VpcID     string    `json:"vpcId"`
	CIDR      string    `json:"cidr"`
	Zone      string    `json:"zone"`
	Gateway   string    `json:"gateway"`
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
