package kci_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/api"
	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/internal/testutil"
	"github.com/openkci/openkci/pkg/kci"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/wire")

// wireCase is one action as the round-trip test calls it: the request and
// the response type the client decodes into.
type wireCase struct {
	service, version, action string
	req                      any
	resp                     any // pointer to a zero response
}

// TestWireRoundTrip renders every action's response on kcid (over HTTP)
// and decodes it with the client: the decode must know every field
// (unknown fields fail) and re-encoding the decoded value must give back
// the server's bytes exactly, so kcid and pkg/kci share one wire model. The
// bytes, with IDs replaced, are kept as golden files: a change of the wire
// shows up in a diff (go test -run TestWireRoundTrip -update rewrites
// them). A new action must add a case here.
func TestWireRoundTrip(t *testing.T) {
	clk := clock.NewFake(kcidtest.Epoch)
	s := kcidtest.Start(t, kcidtest.Options{Clock: clk, Config: kcidtest.DefaultConfig + `
disks:
  - {id: d-wire, account: "2000000001", zone: cn-beijing-6a, sizeGb: 1}
acceptUnenforcedSecurityGroupRules: true
`})
	c := newClient(t, s.URL, func(c *kci.Config) { c.Clock = clk.Now })
	ctx := context.Background()

	// A group with every field, held so the test scripts its status.
	req := fullRequest()
	req.Volumes = append(req.Volumes, kci.Volume{Name: "data", Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: "d-wire", FsType: "ext4"}})
	req.Containers[1].VolumeMounts = []kci.VolumeMount{{Name: "data", MountPath: "/data"}}
	s.Runtime.Hold(req.ContainerGroupName)
	created, err := c.CreateContainerGroup(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := created.ContainerGroupID
	// Sub-second times: the wire carries whole seconds.
	t0 := kcidtest.Epoch.Add(1500 * time.Millisecond)
	t1 := t0.Add(time.Minute)
	exit0, exit3 := 0, 3
	s.Runtime.SetStatus(id, core.GroupStatus{
		Phase:         core.PhaseSucceeded,
		SucceededTime: &t1,
		Containers: []core.ContainerStatus{
			{Name: "app", RestartCount: 1,
				Current:  &core.ContainerState{State: core.StateTerminated, StartTime: &t0, FinishTime: &t1, Reason: "Completed", ExitCode: &exit0},
				Previous: &core.ContainerState{State: core.StateTerminated, StartTime: &t0, FinishTime: &t0, Reason: "Error", ExitCode: &exit3}},
			{Name: "sidecar", Current: &core.ContainerState{State: core.StateRunning, StartTime: &t0}},
		},
		Events: []core.Event{
			{FirstTimestamp: t0, LastTimestamp: t1, Count: 2, Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container app"},
		},
		// The timeline's times keep their milliseconds (microseconds cut).
		Timeline: core.StartTimeline{
			{Step: core.StepAccepted, At: t0},
			{Step: core.StepVolumesReady, At: t0.Add(4*time.Millisecond + 700*time.Microsecond)},
			{Step: core.StepNetworkReady, At: t0.Add(31 * time.Millisecond)},
			{Step: core.StepImageReady, Container: "app", At: t0.Add(33 * time.Millisecond)},
			{Step: core.StepContainerCreated, Container: "app", At: t0.Add(52 * time.Millisecond)},
			{Step: core.StepContainerStarted, Container: "app", At: t0.Add(97 * time.Millisecond)},
			{Step: core.StepRunning, At: t0.Add(98 * time.Millisecond)},
		},
	})
	s.Runtime.SetLog(id, "app", "one\ntwo\n")
	// A second group, never started: its containers wait, ContainerCreating.
	clk.Advance(time.Second) // groups list in creation order
	s.Runtime.Hold("pending")
	second := fullRequest()
	second.ContainerGroupName = "pending"
	second.Containers = second.Containers[1:]
	second.Volumes, second.DNSConfig, second.HostAliases = nil, nil, nil
	if _, err := c.CreateContainerGroup(ctx, second); err != nil {
		t.Fatal(err)
	}

	// Two usage samples of the first group, 15 s apart.
	usageAt := clk.Now()
	for i, at := range []time.Time{usageAt, usageAt.Add(15 * time.Second)} {
		n := uint64(i + 1)
		s.Runtime.SetStats(id, core.GroupStats{Time: at, CPUNanos: n * 3e9,
			Memory:     core.MemoryStats{Usage: n << 24, WorkingSet: n << 23, RSS: n << 22, Cache: n << 21},
			Interfaces: []core.InterfaceStats{{Name: "eth0", RxBytes: n * 1000, RxPackets: n * 10, TxBytes: n * 2000, TxPackets: n * 20, RxDrops: 1}},
			Containers: []core.ContainerStats{{Name: "app", CPUNanos: n * 2e9, Memory: core.MemoryStats{Usage: n << 23, WorkingSet: n << 22}}}})
		s.App.Service().SampleUsage(ctx, s.Runtime)
	}

	clk.Advance(time.Second)
	// A security group made through the API, with one rule: Describe shows
	// it; Modify, Authorize, Revoke and Delete act on it in that order.
	sg, err := c.CreateSecurityGroup(ctx, &kci.CreateSecurityGroupRequest{VpcID: "vpc-test", SecurityGroupName: "web", Description: "front end"})
	if err != nil {
		t.Fatal(err)
	}
	sgID := sg.SecurityGroup.SecurityGroupID
	icmpAny := -1
	first, err := c.AuthorizeSecurityGroupEntry(ctx, &kci.AuthorizeSecurityGroupEntryRequest{SecurityGroupID: sgID,
		Direction: "in", Protocol: "ICMP", CidrBlock: "10.0.0.0/8", IcmpType: &icmpAny, IcmpCode: &icmpAny, Description: "ping"})
	if err != nil {
		t.Fatal(err)
	}
	// Networks made through the API: a VPC with a subnet (the subnet is
	// deleted below) and an empty VPC (deleted below).
	vpcX, err := c.CreateVpc(ctx, &kci.CreateVpcRequest{VpcName: "x", CidrBlock: "10.201.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	subX, err := c.CreateSubnet(ctx, &kci.CreateSubnetRequest{VpcID: vpcX.Vpc.VpcID, CidrBlock: "10.201.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	vpcZ, err := c.CreateVpc(ctx, &kci.CreateVpcRequest{CidrBlock: "10.203.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	// An image cache, Available, used by no group yet.
	s.Runtime.SetImage("busybox:1.36", 3<<20, nil)
	s.Runtime.SetImage("r.example.com/app:1", 250<<20, nil)
	warm, err := c.CreateImageCache(ctx, &kci.CreateImageCacheRequest{ImageCacheName: "warm", Images: []string{"busybox:1.36", "r.example.com/app:1"},
		ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: "r.example.com", Username: "u", Password: "p"}}, RetentionDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	waitImageCache(t, c, warm.ImageCacheID, kci.ImageCacheAvailable)
	clk.Advance(time.Second)
	cases := []wireCase{
		{kci.ServiceKCI, kci.KCIVersion, "DescribeImageCache", &kci.DescribeImageCacheRequest{ImageCacheIDs: []string{warm.ImageCacheID}}, &kci.DescribeImageCacheResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "MatchImageCache", &kci.MatchImageCacheRequest{Images: []string{"docker.io/library/busybox:1.36"}}, &kci.MatchImageCacheResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeImageCacheEvent", &kci.DescribeImageCacheEventRequest{ImageCacheID: warm.ImageCacheID}, &kci.DescribeImageCacheEventResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "CreateImageCache", &kci.CreateImageCacheRequest{ImageCacheName: "second", Images: []string{"busybox:1.36"},
			ImageCacheSize: 40, ImageCacheType: kci.ImageCacheTypeRapid}, &kci.CreateImageCacheResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "UpdateImageCache", &kci.UpdateImageCacheRequest{ImageCacheID: warm.ImageCacheID, ImageCacheSize: 30}, &kci.UpdateImageCacheResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DeleteImageCache", &kci.DeleteImageCacheRequest{ImageCacheID: warm.ImageCacheID}, &kci.DeleteImageCacheResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "CreateVpc", &kci.CreateVpcRequest{VpcName: "y", CidrBlock: "10.202.0.0/16"}, &kci.CreateVpcResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "CreateSubnet", &kci.CreateSubnetRequest{VpcID: vpcX.Vpc.VpcID, SubnetName: "two", CidrBlock: "10.201.2.0/28",
			GatewayIP: "10.201.2.14", AvailabilityZone: "cn-beijing-6b"}, &kci.CreateSubnetResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "ModifyVpc", &kci.ModifyVpcRequest{VpcID: vpcX.Vpc.VpcID, VpcName: "x2"}, &kci.ReturnResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "ModifySubnet", &kci.ModifySubnetRequest{SubnetID: subX.Subnet.SubnetID, SubnetName: ptr("one"),
			Dns1: ptr("10.201.0.53"), Dns2: ptr("10.201.0.54")}, &kci.ModifySubnetResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "DeleteSubnet", &kci.DeleteSubnetRequest{SubnetID: subX.Subnet.SubnetID}, &kci.ReturnResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "DeleteVpc", &kci.DeleteVpcRequest{VpcID: vpcZ.Vpc.VpcID}, &kci.ReturnResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "CreateSecurityGroup", &kci.CreateSecurityGroupRequest{VpcID: "vpc-test", SecurityGroupName: "db"},
			&kci.CreateSecurityGroupResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "ModifySecurityGroup", &kci.ModifySecurityGroupRequest{SecurityGroupID: sgID, Description: "the front end"},
			&kci.ModifySecurityGroupResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "AuthorizeSecurityGroupEntry", &kci.AuthorizeSecurityGroupEntryRequest{SecurityGroupID: sgID,
			Direction: "in", Protocol: "TCP", CidrBlock: "10.0.1.0/24", PortRangeFrom: 80, PortRangeTo: 443, Priority: 2, RuleTag: "web"},
			&kci.AuthorizeSecurityGroupEntryResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeContainerGroupMetric", &kci.DescribeContainerGroupMetricRequest{ContainerGroupID: id,
			StartTime: usageAt.Format(time.RFC3339), EndTime: usageAt.Add(time.Minute).Format(time.RFC3339)}, &kci.DescribeContainerGroupMetricResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "CreateContainerGroup", func() any {
			r := fullRequest()
			r.ContainerGroupName, r.ChargeType = "third", kci.ChargeHourlyInstantSettlement
			return r
		}(), &kci.CreateContainerGroupResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeContainerGroup", &kci.DescribeContainerGroupRequest{MaxResults: 2}, &kci.DescribeContainerGroupResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeContainerLog", &kci.DescribeContainerLogRequest{ContainerGroupID: id, ContainerName: "app"}, &kci.DescribeContainerLogResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeRegions", nil, &kci.DescribeRegionsResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeContainerGroupCount", &kci.DescribeContainerGroupCountRequest{Label: kci.CountLabel{Key: "cluster-id", Values: []string{"c1", "c2"}}}, &kci.DescribeContainerGroupCountResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeContainerGroupEvents", &kci.DescribeContainerGroupEventsRequest{ContainerGroupID: id}, &kci.DescribeContainerGroupEventsResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DescribeKciPackages", &kci.DescribeKciPackagesRequest{KciType: kci.KciTypeRBKCI}, &kci.DescribeKciPackagesResponse{}},
		// Named, so the order is fixed (by ID; a UUID sorts first).
		{kci.ServiceVPC, kci.VPCVersion, "DescribeVpcs", &kci.DescribeVpcsRequest{VpcIDs: []string{"vpc-test", vpcX.Vpc.VpcID}}, &kci.DescribeVpcsResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "DescribeSubnets", &kci.DescribeSubnetsRequest{Filters: []kci.Filter{{Name: kci.VPCFilterVpcID, Values: []string{"vpc-test"}}}},
			&kci.DescribeSubnetsResponse{}},
		// Two groups named, so the order is fixed (by ID; a UUID sorts first).
		{kci.ServiceVPC, kci.VPCVersion, "DescribeSecurityGroups", &kci.DescribeSecurityGroupsRequest{SecurityGroupIDs: []string{"sg-test", sgID}},
			&kci.DescribeSecurityGroupsResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "RevokeSecurityGroupEntry", &kci.RevokeSecurityGroupEntryRequest{SecurityGroupID: sgID,
			SecurityGroupEntryID: first.SecurityGroupEntryIDSet[0]}, &kci.ReturnResponse{}},
		{kci.ServiceVPC, kci.VPCVersion, "DeleteSecurityGroup", &kci.DeleteSecurityGroupRequest{SecurityGroupID: sgID}, &kci.ReturnResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "ExecContainerCommand", &kci.ExecContainerCommandRequest{ContainerGroupID: id, ContainerName: "sidecar",
			Command: []string{"sh", "-c", "echo hi", "exit=3"}, Sync: true}, &kci.ExecContainerCommandResponse{}},
		{kci.ServiceKCI, kci.KCIVersion, "DeleteContainerGroup", &kci.DeleteContainerGroupRequest{ContainerGroupID: id}, &kci.DeleteContainerGroupResponse{}},
	}
	var covered []string
	for _, tc := range cases {
		covered = append(covered, tc.action)
		t.Run(tc.action, func(t *testing.T) {
			var raw json.RawMessage
			if err := c.Do(ctx, tc.service, tc.version, tc.action, tc.req, &raw); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tc.resp); err != nil {
				t.Fatalf("the client does not know the server's answer: %v\n%s", err, raw)
			}
			again, err := json.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, raw) {
				t.Errorf("decoded and re-encoded, the answer changed:\nserver: %s\nclient: %s", raw, again)
			}
			testutil.Golden(t, filepath.Join("testdata", "wire", tc.action+".json"), normalizeIDs(raw), *update)
		})
	}
	// Errors share the envelope both ways too.
	t.Run("Error", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/?Action=DescribeRegions&Version=" + kci.KCIVersion) // unsigned
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var env kci.ErrorResponse
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&env); err != nil || env.Error == nil {
			t.Fatalf("the client does not know the error envelope: %v\n%s", err, raw)
		}
		if again, _ := json.Marshal(env); !bytes.Equal(again, raw) {
			t.Errorf("decoded and re-encoded, the error changed:\nserver: %s\nclient: %s", raw, again)
		}
		testutil.Golden(t, filepath.Join("testdata", "wire", "Error.json"), normalizeIDs(raw), *update)

		_, err = c.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: "nope", ContainerName: "app"})
		var ae *kci.APIError
		if !errors.As(err, &ae) || ae.Code != kci.CodeContainerGroupNotFound || ae.StatusCode != 404 || ae.Type != "Sender" || ae.RequestID == "" {
			t.Errorf("error answer decoded as %#v", err)
		}
	})
	for _, name := range api.ActionNames() {
		if !slices.Contains(covered, name) {
			t.Errorf("action %s has no round-trip case", name)
		}
	}
}

// waitImageCache polls until the cache has the status.
func waitImageCache(t *testing.T, c *kci.Client, id, status string) kci.ImageCache {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeImageCache(context.Background(), &kci.DescribeImageCacheRequest{ImageCacheIDs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ImageCaches) == 1 && out.ImageCaches[0].Status == status {
			return out.ImageCaches[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("image cache %s is not %s: %+v", id, status, out.ImageCaches)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	macRE  = regexp.MustCompile(`([0-9a-f]{2}:){5}[0-9a-f]{2}`)
)

// normalizeIDs replaces generated IDs (UUIDs, MACs) by placeholders
// numbered in order of appearance, and indents the JSON.
func normalizeIDs(raw []byte) []byte {
	seen := map[string]string{}
	out := uuidRE.ReplaceAllFunc(raw, func(m []byte) []byte {
		if _, ok := seen[string(m)]; !ok {
			seen[string(m)] = "<id-" + strconv.Itoa(len(seen)+1) + ">"
		}
		return []byte(seen[string(m)])
	})
	out = macRE.ReplaceAll(out, []byte("<mac>"))
	var b bytes.Buffer
	if err := json.Indent(&b, out, "", "  "); err != nil {
		panic(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// ptr is a pointer to v, for the optional fields of requests.
func ptr[T any](v T) *T { return &v }
