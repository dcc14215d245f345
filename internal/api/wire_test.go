package api

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/api/awsquery"
	"github.com/openkci/openkci/pkg/kci"
)

// requestPairs pairs every request type of pkg/kci (what clients send)
// with kcid's decoding view of it (wire.go). A new action adds its pair.
var requestPairs = []struct {
	action string
	client any // a pkg/kci request with every field set
	server any // pointer to kcid's zero request
	// serverOnly are parameters kcid accepts that pkg/kci does not send
	// (spellings of other SDKs are not listed: only canonical names count).
	serverOnly []string
	// edgeOnly are parameters pkg/kci sends that the API edge reads
	// before the action decodes (DryRun).
	edgeOnly []string
}{
	{"CreateContainerGroup", fullCreateRequest(), &createContainerGroupRequest{}, nil, []string{"DryRun"}},
	{"DescribeContainerGroup", &kci.DescribeContainerGroupRequest{
		ContainerGroupIDs: []string{"g-1", "g-2"}, MaxResults: 5, Marker: 10,
		Filters: []kci.Filter{{Name: kci.FilterStatus, Values: []string{"Running", "Pending"}}}, Search: "web",
	}, &describeContainerGroupRequest{}, []string{"ProjectId.N"}, nil},
	{"DescribeContainerLog", &kci.DescribeContainerLogRequest{ContainerGroupID: "g-1", ContainerName: "app", Tail: 20}, &describeContainerLogRequest{}, nil, nil},
	{"DescribeContainerGroupMetric", &kci.DescribeContainerGroupMetricRequest{ContainerGroupID: "g-1",
		StartTime: "2026-12-01T07:00:00Z", EndTime: "2026-12-01T07:05:00Z", Period: 60}, &describeContainerGroupMetricRequest{}, nil, nil},
	{"DeleteContainerGroup", &kci.DeleteContainerGroupRequest{ContainerGroupID: "g-1", DryRun: true}, &deleteContainerGroupRequest{}, nil, []string{"DryRun"}},
	{"ExecContainerCommand", &kci.ExecContainerCommandRequest{ContainerGroupID: "g-1", ContainerName: "app", Command: []string{"sh", "-c", "true"},
		TTY: true, Stdin: new(bool), Sync: true}, &kci.ExecContainerCommandRequest{}, nil, nil},
	{"DescribeRegions", &kci.DescribeRegionsRequest{}, &struct{}{}, nil, nil},
	{"DescribeContainerGroupCount", &kci.DescribeContainerGroupCountRequest{Label: kci.CountLabel{Key: "cluster-id", Values: []string{"c1", "c2"}}},
		&describeContainerGroupCountRequest{}, nil, nil},
	{"DescribeContainerGroupEvents", &kci.DescribeContainerGroupEventsRequest{ContainerGroupID: "g-1"}, &describeContainerGroupEventsRequest{}, nil, nil},
	{"DescribeKciPackages", &kci.DescribeKciPackagesRequest{ChargeType: kci.ChargeHourlyInstantSettlement, AvailabilityZone: "cn-beijing-6a", KciType: kci.KciTypeRBKCI},
		&describeKciPackagesRequest{}, nil, nil},
	{"DescribeVpcs", &kci.DescribeVpcsRequest{VpcIDs: []string{"vpc-1"}, Filters: []kci.Filter{{Name: kci.VPCFilterVpcID, Values: []string{"vpc-1"}}}, MaxResults: 10, NextToken: "10"},
		&describeVpcsRequest{}, nil, nil},
	{"DescribeSubnets", &kci.DescribeSubnetsRequest{SubnetIDs: []string{"s-1"}, Filters: []kci.Filter{{Name: kci.VPCFilterSubnetID, Values: []string{"s-1"}}}, MaxResults: 10, NextToken: "10"},
		&describeSubnetsRequest{}, nil, nil},
	{"DescribeSecurityGroups", &kci.DescribeSecurityGroupsRequest{SecurityGroupIDs: []string{"sg-1"}, Filters: []kci.Filter{{Name: kci.VPCFilterSecurityGroupID, Values: []string{"sg-1"}}}, MaxResults: 10, NextToken: "10"},
		&describeSecurityGroupsRequest{}, nil, nil},
	{"CreateVpc", &kci.CreateVpcRequest{VpcName: "v", CidrBlock: "10.0.0.0/16"}, &createVpcRequest{}, []string{"ProvidedIpv6CidrBlock", "Ipv6CidrBlock"}, nil},
	{"DeleteVpc", &kci.DeleteVpcRequest{VpcID: "vpc-1"}, &vpcIDRequest{}, nil, nil},
	{"CreateSubnet", &kci.CreateSubnetRequest{VpcID: "vpc-1", SubnetName: "s", CidrBlock: "10.0.1.0/24", SubnetType: "Normal", GatewayIP: "10.0.1.1", AvailabilityZone: "cn-beijing-6a",
		Dns1: "10.0.0.2", Dns2: "10.0.0.3"},
		&createSubnetRequest{}, []string{"ProvidedIpv6CidrBlock", "DhcpIpFrom", "DhcpIpTo", "SecondaryCidrId", "VisitInternet"}, nil},
	{"DeleteSubnet", &kci.DeleteSubnetRequest{SubnetID: "s-1"}, &subnetIDRequest{}, nil, nil},
	{"ModifyVpc", &kci.ModifyVpcRequest{VpcID: "vpc-1", VpcName: "v"}, &modifyVpcRequest{}, nil, nil},
	{"ModifySubnet", &kci.ModifySubnetRequest{SubnetID: "s-1", SubnetName: strPtr("s"), Dns1: strPtr("10.0.0.2"), Dns2: strPtr("10.0.0.3")},
		&modifySubnetRequest{}, nil, nil},
	{"CreateSecurityGroup", &kci.CreateSecurityGroupRequest{VpcID: "vpc-1", SecurityGroupName: "web", Description: "front"}, &createSecurityGroupRequest{}, nil, nil},
	{"DeleteSecurityGroup", &kci.DeleteSecurityGroupRequest{SecurityGroupID: "sg-1"}, &securityGroupIDRequest{}, nil, nil},
	{"ModifySecurityGroup", &kci.ModifySecurityGroupRequest{SecurityGroupID: "sg-1", SecurityGroupName: "web", Description: "front"}, &modifySecurityGroupRequest{}, nil, nil},
	{"AuthorizeSecurityGroupEntry", &kci.AuthorizeSecurityGroupEntryRequest{SecurityGroupID: "sg-1", Description: "d", CidrBlock: "10.0.0.0/8",
		Direction: "in", Protocol: "ICMP", IcmpType: new(8), IcmpCode: new(0), PortRangeFrom: 1, PortRangeTo: 2, RuleTag: "t", Priority: 3, Policy: "Accept"},
		&authorizeSecurityGroupEntryRequest{}, nil, nil},
	{"RevokeSecurityGroupEntry", &kci.RevokeSecurityGroupEntryRequest{SecurityGroupID: "sg-1", SecurityGroupEntryID: "e-1"}, &revokeSecurityGroupEntryRequest{}, nil, nil},
	{"CreateImageCache", &kci.CreateImageCacheRequest{ImageCacheName: "c", SubnetID: "s-1", SecurityGroupID: "sg-1", ImageCacheSize: 40, RetentionDays: 3,
		Images: []string{"nginx:1", "busybox"}, ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: "r", Username: "u", Password: "p"}},
		ImageCacheType: kci.ImageCacheTypeRapid, EnableWarm: true}, &createImageCacheRequest{}, nil, nil},
	{"UpdateImageCache", &kci.UpdateImageCacheRequest{ImageCacheID: "ic-1", ImageCacheName: "c", SubnetID: "s-1", SecurityGroupID: "sg-1", ImageCacheSize: 40,
		RetentionDays: new(0), Images: []string{"nginx:1"}, ImageCacheType: kci.ImageCacheTypeCommon, EnableWarm: new(false),
		ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: "r", Username: "u", Password: "p"}}}, &updateImageCacheRequest{}, nil, nil},
	{"DeleteImageCache", &kci.DeleteImageCacheRequest{ImageCacheID: "ic-1"}, &imageCacheIDRequest{}, nil, nil},
	{"DescribeImageCache", &kci.DescribeImageCacheRequest{ImageCacheIDs: []string{"ic-1"}, ImageCacheName: "c", Image: "nginx", Marker: 2, MaxResults: 5,
		SortKey: kci.ImageCacheSortLastUsedTime, SortDirection: kci.SortDesc}, &describeImageCacheRequest{}, nil, nil},
	{"MatchImageCache", &kci.MatchImageCacheRequest{Images: []string{"nginx:1"}}, &matchImageCacheRequest{}, nil, nil},
	{"DescribeImageCacheEvent", &kci.DescribeImageCacheEventRequest{ImageCacheID: "ic-1"}, &imageCacheIDRequest{}, nil, nil},
}

func fullCreateRequest() *kci.CreateContainerGroupRequest {
	return &kci.CreateContainerGroupRequest{
		ContainerGroupName: "full", SubnetID: "subnet-1", MultiSubnetIDs: []string{"subnet-2", "subnet-3"}, SecurityGroupIDs: []string{"sg-1", "sg-2"},
		ChargeType: kci.ChargeHourlyInstantSettlement, CPU: 2, Memory: 1.5, RestartPolicy: kci.RestartOnFailure,
		IngressBandwidth: 10, EgressBandwidth: 20,
		ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: "r.example.com", Username: "u", Password: "p"}},
		Containers: []kci.Container{{
			InitContainer: kci.InitContainer{
				Name: "app", Image: "r.example.com/app:1", ImagePullPolicy: kci.PullIfNotPresent,
				Command: []string{"sh", "-c"}, Args: []string{"echo hi"},
				EnvironmentVars: []kci.EnvironmentVar{{Key: "A", Value: "1"}, {Key: "EMPTY"},
					{Key: "IP", ValueFrom: &kci.ValueFrom{FieldRef: &kci.FieldRef{FieldPath: kci.FieldPodIP}}}},
				CPU: 1, Memory: 0.5, WorkingDir: "/srv",
				VolumeMounts:    []kci.VolumeMount{{Name: "cfg", MountPath: "/etc/app", ReadOnly: true}},
				SecurityContext: &kci.SecurityContext{Privileged: true},
			},
			Ports: []kci.Port{{Port: 80}, {Port: 53, Protocol: "UDP"}},
		}, {InitContainer: kci.InitContainer{Name: "sidecar", Image: "busybox:1.36"}}},
		Volumes: []kci.Volume{
			{Name: "cfg", Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{DefaultMode: "0644",
				Files: []kci.ConfigFile{{Path: "a.conf", Content: "YT0xCg==", Mode: "0600"}}}},
			{Name: "data", Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: "d-1", FsType: "ext4"}},
		},
		DNSConfig: &kci.DNSConfig{NameServers: []string{"10.0.0.53"}, Searches: []string{"svc.local"},
			Options: []kci.DNSOption{{Name: "ndots", Value: "2"}, {Name: "rotate"}}},
		HostAliases:    []kci.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}},
		HostPID:        true,
		Labels:         []kci.Label{{Key: "cluster-id", Value: "c1"}, {Key: "example.com/tier", Value: "web"}},
		ContainerSpecs: []kci.ContainerSpec{{RequestCPU: 0.5, RequestMem: 0.25, LimitCPU: 1, LimitMem: 0.5}},
		ClientToken:    "0123456789abcdef0123456789abcdef",
		DryRun:         true,
		ImageCacheID:   "ic-1", AutoMatchImageCache: true,
	}
}

// TestRequestsDecodeOnServer: what pkg/kci sends for every request, with
// every field set, kcid decodes field for field (flattening kcid's decoded
// value gives back the client's parameters), and the two declare the same
// parameter names.
func TestRequestsDecodeOnServer(t *testing.T) {
	var covered []string
	for _, p := range requestPairs {
		covered = append(covered, p.action)
		t.Run(p.action, func(t *testing.T) {
			sent := kci.Flatten(p.client)
			for _, k := range p.edgeOnly {
				if sent.Get(k) == "" {
					t.Errorf("the test request does not set %s", k)
				}
				sent.Del(k)
			}
			if err := awsquery.Decode(sent, p.server); err != nil {
				t.Fatalf("kcid does not decode what pkg/kci sends: %v\n%v", err, sent)
			}
			if back := kci.Flatten(p.server); !maps.EqualFunc(back, sent, slices.Equal) {
				t.Errorf("decoded, the request changed:\nsent:    %v\ndecoded: %v", sent, back)
			}
			clientNames := names(reflect.TypeOf(p.client), "")
			serverNames := names(reflect.TypeOf(p.server), "")
			for _, n := range p.edgeOnly {
				clientNames = slices.DeleteFunc(clientNames, func(s string) bool { return s == n })
			}
			serverNames = slices.DeleteFunc(serverNames, func(s string) bool { return slices.Contains(p.serverOnly, s) })
			if !slices.Equal(clientNames, serverNames) {
				t.Errorf("parameter names differ:\npkg/kci: %v\nkcid:    %v", clientNames, serverNames)
			}
		})
	}
	for _, name := range ActionNames() {
		if !slices.Contains(covered, name) {
			t.Errorf("action %s has no request pair", name)
		}
	}
}

// names lists the canonical parameter names a request type declares, lists
// as .N, sorted.
func names(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("query"), ",")
		if f.Anonymous && name == "" {
			// Promoted to this level (awsquery's embedding); no request
			// type here hides a promoted name.
			out = append(out, names(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		key := prefix + name
		if ft.Kind() == reflect.Slice {
			key += ".N"
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, names(ft, key+".")...)
		} else {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}
