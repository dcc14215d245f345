package store

import (
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/core/coretest"
)

// schema2Groups are the groups of testdata/v2/state.db, written by the
// last schema-2 kcid: coretest.Groups and a group with what version 3 of
// the group record names (GPUs held, probes), which schema-2 kcids after
// probes and GPUs came wrote into version 2 records.
func schema2Groups() []*core.Group {
	gpu := &core.Group{
		ID: "0a4c1c52-0000-4000-8000-000000000006", Name: "probes-and-gpus",
		AccountID: "2000000001", Region: "cn-beijing-6", Zone: "cn-beijing-6a",
		ChargeType: "HourlyInstantSettlement", CPU: 2, Memory: 4, GPU: 2,
		RestartPolicy: core.RestartAlways,
		Network: core.Network{VpcID: "vpc-1", VpcCIDR: "10.88.0.0/16", SubnetID: "subnet-1", SubnetCIDR: "10.88.0.0/20",
			Gateway: "10.88.0.1", PrivateIP: "10.88.0.14", MAC: "fa:16:3e:00:00:14", InterfaceID: "eni-10.88.0.14", SecurityGroupIDs: []string{"sg-1"}},
		Containers: []core.Container{{
			Name: "train", Image: "local/busybox:1", GPU: 2, GPUDevices: []string{"/dev/nvidia0", "/dev/nvidia1"},
			Ports:          []core.Port{{Port: 8080, Protocol: "TCP"}},
			LivenessProbe:  &core.Probe{HTTPGet: &core.HTTPGetAction{Port: 8080, Path: "/healthz", Scheme: "HTTP"}, InitialDelaySeconds: 5, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
			ReadinessProbe: &core.Probe{TCPSocket: &core.TCPSocketAction{Port: 8080}, PeriodSeconds: 5, TimeoutSeconds: 2, SuccessThreshold: 2, FailureThreshold: 4},
			StartupProbe:   &core.Probe{Exec: []string{"cat", "/tmp/started"}, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30},
		}},
		CreatedAt: coretest.Created.Add(4 * time.Minute),
	}
	return append(coretest.Groups(), gpu)
}
