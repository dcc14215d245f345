package record

import (
	"time"

	"github.com/openkci/openkci/internal/core"
)

// GroupV1 is version 1 of a group record, frozen: what kcid wrote before
// records were versioned (encoding/json of core.Group as it was then, keys
// being the Go field names). It is only ever read.
type GroupV1 struct {
	ID               string                 `json:"ID"`
	Name             string                 `json:"Name"`
	AccountID        string                 `json:"AccountID"`
	Region           string                 `json:"Region"`
	Zone             string                 `json:"Zone"`
	ChargeType       string                 `json:"ChargeType"`
	CPU              float64                `json:"CPU"`
	Memory           float64                `json:"Memory"`
	RestartPolicy    string                 `json:"RestartPolicy"`
	Network          networkV1              `json:"Network"`
	IngressBandwidth int64                  `json:"IngressBandwidth"`
	EgressBandwidth  int64                  `json:"EgressBandwidth"`
	DNS              *dnsConfigV1           `json:"DNS"`
	HostAliases      []hostAliasV1          `json:"HostAliases"`
	Credentials      []registryCredentialV1 `json:"Credentials"`
	Volumes          []volumeV1             `json:"Volumes"`
	Containers       []containerV1          `json:"Containers"`
	CreatedAt        time.Time              `json:"CreatedAt"`
	DeletedAt        *time.Time             `json:"DeletedAt,omitempty"`
	// ClientToken and RequestHash came late in version 1's life.
	ClientToken string `json:"ClientToken,omitempty"`
	RequestHash string `json:"RequestHash,omitempty"`
}

type networkV1 struct {
	VpcID            string   `json:"VpcID"`
	VpcCIDR          string   `json:"VpcCIDR"`
	SubnetID         string   `json:"SubnetID"`
	SubnetCIDR       string   `json:"SubnetCIDR"`
	Gateway          string   `json:"Gateway"`
	PrivateIP        string   `json:"PrivateIP"`
	MAC              string   `json:"MAC"`
	InterfaceID      string   `json:"InterfaceID"`
	SecurityGroupIDs []string `json:"SecurityGroupIDs"`
}

type dnsConfigV1 struct {
	NameServers []string `json:"NameServers"`
	Searches    []string `json:"Searches"`
	Options     []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"Options"`
}

type hostAliasV1 struct {
	IP        string   `json:"IP"`
	Hostnames []string `json:"Hostnames"`
}

type registryCredentialV1 struct {
	Server   string `json:"Server"`
	Username string `json:"Username"`
	Password string `json:"Password"` // plain text in version 1
}

type volumeV1 struct {
	Name        string `json:"Name"`
	Type        string `json:"Type"`
	ConfigFiles []struct {
		Path    string `json:"Path"`
		Content []byte `json:"Content"`
		Mode    uint32 `json:"Mode"`
	} `json:"ConfigFiles"`
	DefaultMode uint32 `json:"DefaultMode"`
	EBS         *struct {
		VolumeID string `json:"VolumeID"`
		FsType   string `json:"FsType"`
	} `json:"EBS"`
}

type containerV1 struct {
	Name            string   `json:"Name"`
	Image           string   `json:"Image"`
	ImagePullPolicy string   `json:"ImagePullPolicy"`
	Command         []string `json:"Command"`
	Args            []string `json:"Args"`
	Env             []struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	} `json:"Env"`
	CPU        float64 `json:"CPU"`
	Memory     float64 `json:"Memory"`
	WorkingDir string  `json:"WorkingDir"`
	Ports      []struct {
		Port     int    `json:"Port"`
		Protocol string `json:"Protocol"`
	} `json:"Ports"`
	VolumeMounts []struct {
		Name      string `json:"Name"`
		MountPath string `json:"MountPath"`
		ReadOnly  bool   `json:"ReadOnly"`
	} `json:"VolumeMounts"`
}

// ToGroup converts a version 1 record to a group (passwords included, as
// version 1 kept them).
func (r *GroupV1) ToGroup() *core.Group {
	g := &core.Group{
		ID: r.ID, Name: r.Name, AccountID: r.AccountID, Region: r.Region, Zone: r.Zone,
		ChargeType: r.ChargeType, CPU: r.CPU, Memory: r.Memory, RestartPolicy: core.RestartPolicy(r.RestartPolicy),
		Network: core.Network{
			VpcID: r.Network.VpcID, VpcCIDR: r.Network.VpcCIDR,
			SubnetID: r.Network.SubnetID, SubnetCIDR: r.Network.SubnetCIDR, Gateway: r.Network.Gateway,
			PrivateIP: r.Network.PrivateIP, MAC: r.Network.MAC, InterfaceID: r.Network.InterfaceID,
			SecurityGroupIDs: r.Network.SecurityGroupIDs,
		},
		IngressBandwidth: r.IngressBandwidth, EgressBandwidth: r.EgressBandwidth,
		CreatedAt: r.CreatedAt, DeletedAt: r.DeletedAt,
		ClientToken: r.ClientToken, RequestHash: r.RequestHash,
	}
	if d := r.DNS; d != nil {
		g.DNS = &core.DNSConfig{NameServers: d.NameServers, Searches: d.Searches}
		for _, o := range d.Options {
			g.DNS.Options = append(g.DNS.Options, core.DNSOption{Name: o.Name, Value: o.Value})
		}
	}
	for _, h := range r.HostAliases {
		g.HostAliases = append(g.HostAliases, core.HostAlias{IP: h.IP, Hostnames: h.Hostnames})
	}
	for _, c := range r.Credentials {
		g.Credentials = append(g.Credentials, core.RegistryCredential{Server: c.Server, Username: c.Username, Password: c.Password})
	}
	for _, v := range r.Volumes {
		gv := core.Volume{Name: v.Name, Type: v.Type, DefaultMode: v.DefaultMode}
		for _, f := range v.ConfigFiles {
			gv.ConfigFiles = append(gv.ConfigFiles, core.ConfigFile{Path: f.Path, Content: f.Content, Mode: f.Mode})
		}
		if v.EBS != nil {
			gv.EBS = &core.EBSVolume{VolumeID: v.EBS.VolumeID, FsType: v.EBS.FsType}
		}
		g.Volumes = append(g.Volumes, gv)
	}
	for _, c := range r.Containers {
		gc := core.Container{
			Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy,
			Command: c.Command, Args: c.Args, CPU: c.CPU, Memory: c.Memory, WorkingDir: c.WorkingDir,
		}
		for _, e := range c.Env {
			gc.Env = append(gc.Env, core.EnvVar{Key: e.Key, Value: e.Value})
		}
		for _, p := range c.Ports {
			gc.Ports = append(gc.Ports, core.Port{Port: p.Port, Protocol: p.Protocol})
		}
		for _, m := range c.VolumeMounts {
			gc.VolumeMounts = append(gc.VolumeMounts, core.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
		}
		g.Containers = append(g.Containers, gc)
	}
	return g
}
