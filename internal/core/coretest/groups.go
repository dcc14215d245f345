// Package coretest holds container groups of every shape the API accepts,
// for tests of the formats groups are persisted in (the bbolt store, the
// containerd runtime's state.json, the Kubernetes pod annotation) and of
// upgrades from earlier releases' files.
package coretest

import (
	"fmt"
	"reflect"
	"time"

	"github.com/openkci/openkci/internal/core"
)

func ptr[T any](v T) *T { return &v }

// Created is the creation time of the first fixture group; the others
// follow one minute apart.
var Created = time.Date(2026, 11, 30, 9, 0, 0, 123456789, time.UTC)

// Groups returns the fixture groups, freshly built (callers may modify
// them). Between them they set every field core.Group had when the
// version 1 fixtures were written: see TestGroupsSetEveryField.
func Groups() []*core.Group {
	net := func(ip string, sgs ...string) core.Network {
		return core.Network{
			VpcID: "vpc-1", VpcCIDR: "10.88.0.0/16",
			SubnetID: "subnet-1", SubnetCIDR: "10.88.0.0/20", Gateway: "10.88.0.1",
			PrivateIP: ip, MAC: "fa:16:3e:00:00:" + ip[len(ip)-2:],
			InterfaceID:      "eni-" + ip,
			SecurityGroupIDs: sgs,
		}
	}
	minimal := &core.Group{
		ID: "0a4c1c52-0000-4000-8000-000000000001", Name: "minimal",
		AccountID: "2000000001", Region: "cn-beijing-6", Zone: "cn-beijing-6a",
		ChargeType: "HourlyInstantSettlement", CPU: 0.5, Memory: 1,
		RestartPolicy: core.RestartAlways,
		Network:       net("10.88.0.10", "sg-1"),
		Containers:    []core.Container{{Name: "main", Image: "local/busybox:1"}},
		CreatedAt:     Created,
	}
	full := &core.Group{
		ID: "0a4c1c52-0000-4000-8000-000000000002", Name: "full-shape",
		AccountID: "2000000001", Region: "cn-beijing-6", Zone: "cn-beijing-6a",
		ChargeType: "HourlyInstantSettlement", CPU: 2, Memory: 4.5,
		RestartPolicy:    core.RestartOnFailure,
		Network:          net("10.88.0.11", "sg-1", "sg-2"),
		IngressBandwidth: 10, EgressBandwidth: 20,
		DNS: &core.DNSConfig{
			NameServers: []string{"10.88.0.2", "1.1.1.1"},
			Searches:    []string{"svc.local", "example.com"},
			Options:     []core.DNSOption{{Name: "ndots", Value: "2"}, {Name: "rotate"}},
		},
		HostAliases: []core.HostAlias{{IP: "10.0.0.5", Hostnames: []string{"db", "db.local"}}, {IP: "10.0.0.6", Hostnames: []string{"cache"}}},
		Credentials: []core.RegistryCredential{
			{Server: "registry.example.com", Username: "robot", Password: "s3cret-p@ss"},
			{Server: "127.0.0.1:5000", Username: "ci", Password: "another one"},
		},
		Volumes: []core.Volume{
			{Name: "scratch", Type: core.VolumeEmptyDir},
			{Name: "conf", Type: core.VolumeConfigFile, DefaultMode: 0o640, ConfigFiles: []core.ConfigFile{
				{Path: "app.yaml", Content: []byte("listen: :8080\nmode: prod\n")},
				{Path: "bin/run.sh", Content: []byte("#!/bin/sh\nexec app\n"), Mode: 0o755},
				{Path: "empty", Content: []byte{}},
				{Path: "binary.dat", Content: []byte{0, 1, 2, 0xff, 0xfe}},
			}},
		},
		Containers: []core.Container{
			{
				Name: "app", Image: "registry.example.com/team/app:1.2", ImagePullPolicy: "Always",
				Command: []string{"/bin/app"}, Args: []string{"--config", "/etc/app/app.yaml"},
				Env: []core.EnvVar{{Key: "MODE", Value: "prod"}, {Key: "EMPTY", Value: ""}, {Key: "QUOTED", Value: `a "b" = c`}},
				CPU: 1.5, Memory: 3, WorkingDir: "/srv",
				Ports:        []core.Port{{Port: 8080, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}},
				VolumeMounts: []core.VolumeMount{{Name: "conf", MountPath: "/etc/app", ReadOnly: true}, {Name: "scratch", MountPath: "/tmp/scratch"}},
			},
			{
				Name: "sidecar", Image: "127.0.0.1:5000/sidecar:latest", ImagePullPolicy: "IfNotPresent",
				Command: []string{"sh", "-c"}, Args: []string{"while true; do sleep 1; done"},
				CPU: 0.5, Memory: 0.5,
				VolumeMounts: []core.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
			},
		},
		CreatedAt: Created.Add(time.Minute),
	}
	disk := &core.Group{
		ID: "0a4c1c52-0000-4000-8000-000000000003", Name: "with-disk",
		AccountID: "2000000001", Region: "cn-beijing-6", Zone: "cn-beijing-6a",
		ChargeType: "HourlyInstantSettlement", CPU: 1, Memory: 2,
		RestartPolicy: core.RestartNever,
		Network:       net("10.88.0.12", "sg-1"),
		Volumes:       []core.Volume{{Name: "data", Type: core.VolumeEBS, EBS: &core.EBSVolume{VolumeID: "disk-1", FsType: "ext4"}}},
		Containers: []core.Container{{Name: "db", Image: "local/busybox:1", ImagePullPolicy: "Never",
			VolumeMounts: []core.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}}},
		CreatedAt: Created.Add(2 * time.Minute),
	}
	deleting := &core.Group{
		ID: "0a4c1c52-0000-4000-8000-000000000004", Name: "being-deleted",
		AccountID: "2000000001", Region: "cn-beijing-6", Zone: "cn-beijing-6b",
		ChargeType: "HourlyInstantSettlement", CPU: 0.25, Memory: 0.5,
		RestartPolicy: core.RestartAlways,
		Network:       net("10.88.0.13"),
		Credentials:   []core.RegistryCredential{{Server: "registry.example.com", Username: "robot", Password: "pw-of-deleting"}},
		Containers:    []core.Container{{Name: "main", Image: "registry.example.com/x:1"}},
		CreatedAt:     Created.Add(3 * time.Minute),
		DeletedAt:     ptr(Created.Add(time.Hour)),
	}
	other := &core.Group{
		ID: "0a4c1c52-0000-4000-8000-000000000005", Name: "other-account",
		AccountID: "2000000002", Region: "cn-shanghai-2", Zone: "cn-shanghai-2b",
		ChargeType: "HourlyInstantSettlement", CPU: 1, Memory: 1,
		RestartPolicy: core.RestartAlways,
		Network: core.Network{VpcID: "vpc-2", VpcCIDR: "10.89.0.0/16", SubnetID: "subnet-2", SubnetCIDR: "10.89.0.0/20",
			Gateway: "10.89.0.1", PrivateIP: "10.89.0.2", MAC: "fa:16:3e:00:01:02", InterfaceID: "eni-2", SecurityGroupIDs: []string{"sg-3"}},
		Containers: []core.Container{{Name: "main", Image: "local/busybox:1"}},
		CreatedAt:  Created.Add(3 * time.Minute), // same time as deleting: ID breaks the tie
	}
	return []*core.Group{minimal, full, disk, deleting, other}
}

// Filled returns a group whose every field, at every depth, holds a value
// distinct from every other field's: a conversion that drops or swaps a
// field does not round-trip it. The values are not a valid spec.
func Filled() *core.Group {
	g := new(core.Group)
	n := 0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		n++
		switch v.Kind() {
		case reflect.String:
			v.SetString(fmt.Sprintf("v%d", n))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(int64(n))
		case reflect.Uint32:
			v.SetUint(uint64(n))
		case reflect.Float64:
			v.SetFloat(float64(n) + 0.25)
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem())
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				v.SetBytes([]byte{byte(n), 0, 0xff})
				return
			}
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			fill(v.Index(0))
			fill(v.Index(1))
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(time.Time{}) {
				v.Set(reflect.ValueOf(Created.Add(time.Duration(n) * time.Second)))
				return
			}
			for i := range v.NumField() {
				fill(v.Field(i))
			}
		default:
			panic("coretest.Filled: no filler for " + v.Type().String())
		}
	}
	fill(reflect.ValueOf(g).Elem())
	return g
}
