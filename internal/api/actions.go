package api

import (
	"slices"
	"strconv"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/pkg/kci"
)

// Paging and log limits: the 2020 spec's defaults, the current SDK's
// maxima where it documents looser ones (docs/api.md, Current limits).
const (
	defaultMaxResults = 20
	maxMaxResults     = 100
	defaultTail       = 200
	maxTail           = 2000 // the spec said 1000
	maxIDLength       = 128
)

func (h *Handler) createContainerGroup(c *call) (any, error) {
	if err := checkSDKFields(c.params, createFieldIndex); err != nil {
		return nil, err
	}
	var req createContainerGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	g, err := buildGroup(&req, h.o.Disks.WithDefaults())
	if err != nil {
		return nil, err
	}
	if err := applyGPUs(&req, &g, h.o.GPUs); err != nil {
		return nil, err
	}
	if req.ClientToken != "" {
		if g.RequestHash, err = requestHash(g, c.region, &req); err != nil {
			return nil, err
		}
		g.ClientToken = req.ClientToken
	}
	created, err := h.o.Service.CreateGroup(c.ctx, service.CreateRequest{
		AccountID: c.accountID, Region: c.region,
		SubnetID: req.SubnetID, MultiSubnetIDs: req.MultiSubnetID, SecurityGroupIDs: req.SecurityGroupID,
		ImageCacheID: req.ImageCacheID, AutoMatchImageCache: req.AutoMatchImageCache,
		Group: g, DryRun: c.dryRun,
	})
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.CreateContainerGroupResponse{RequestID: c.requestID, ContainerGroupID: created.ID}, nil
}

func (h *Handler) describeContainerGroup(c *call) (any, error) {
	var req describeContainerGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	limit, offset, err := paging(req.MaxResults, req.Marker)
	if err != nil {
		return nil, err
	}
	filters, err := buildFilters(req.Filter, groupFilters, checkGroupFilter)
	if err != nil {
		return nil, err
	}
	for _, id := range req.ContainerGroupID {
		if len(id) > maxIDLength {
			return nil, invalid("ContainerGroupId.N", "IDs are at most %d characters", maxIDLength)
		}
	}
	if c.dryRun {
		return nil, errDryRun
	}
	labels := splitLabelFilters(filters)
	views, total, err := h.o.Service.DescribeGroups(c.ctx, service.DescribeQuery{
		AccountID: c.accountID, IDs: req.ContainerGroupID, Filters: filters, Labels: labels,
		Search: req.Search, Offset: offset, Limit: limit,
	})
	if err != nil {
		return nil, err
	}
	out := kci.DescribeContainerGroupResponse{RequestID: c.requestID, MaxResults: limit, Marker: nextMarker(offset, len(views), total), TotalCount: total,
		ContainerGroups: make([]kci.ContainerGroup, 0, len(views))}
	for _, v := range views {
		out.ContainerGroups = append(out.ContainerGroups, groupOut(v))
	}
	return out, nil
}

// paging reads MaxResults and Marker (an offset) of a Describe action.
func paging(maxResults, marker *int) (limit, offset int, err error) {
	limit = defaultMaxResults
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > maxMaxResults {
			return 0, 0, invalid("MaxResults", "must be between 1 and %d", maxMaxResults)
		}
		limit = *maxResults
	}
	if marker != nil {
		if *marker < 0 {
			return 0, 0, invalid("Marker", "must not be negative")
		}
		offset = *marker
	}
	return limit, offset, nil
}

// nextMarker is the Marker of the page after one of n records from offset,
// 0 after the last page.
func nextMarker(offset, n, total int) int {
	if offset+n < total {
		return offset + n
	}
	return 0
}

func (h *Handler) describeContainerLog(c *call) (any, error) {
	var req describeContainerLogRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	switch {
	case req.ContainerGroupID == "":
		return nil, missing("ContainerGroupId")
	case req.ContainerName == "":
		return nil, missing("ContainerName")
	}
	tail := defaultTail
	if req.Tail != nil {
		if *req.Tail < 1 || *req.Tail > maxTail {
			return nil, invalid("Tail", "must be between 1 and %d", maxTail)
		}
		tail = *req.Tail
	}
	if c.dryRun {
		if err := h.o.Service.CheckContainer(c.ctx, c.accountID, req.ContainerGroupID, req.ContainerName); err != nil {
			return nil, err
		}
		return nil, errDryRun
	}
	content, err := h.o.Service.Logs(c.ctx, c.accountID, req.ContainerGroupID, req.ContainerName, tail)
	if err != nil {
		return nil, err
	}
	return kci.DescribeContainerLogResponse{RequestID: c.requestID, Content: content}, nil
}

// describeContainerGroupCount counts the caller's live groups per value of
// one label: one ClusterPodCount per Label.Value.N given (0 included), in
// the order given, or per value the key has (sorted) when none is given.
func (h *Handler) describeContainerGroupCount(c *call) (any, error) {
	var req describeContainerGroupCountRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Label == nil || req.Label.Key == "" {
		return nil, missing("Label.Key")
	}
	if err := checkLabelKey("Label.Key", req.Label.Key); err != nil {
		return nil, err
	}
	var values []string
	for _, v := range req.Label.Value {
		if err := checkLabelValue("Label.Value.N", v); err != nil {
			return nil, err
		}
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	if c.dryRun {
		return nil, errDryRun
	}
	counts, err := h.o.Service.CountByLabel(c.ctx, c.accountID, req.Label.Key, values)
	if err != nil {
		return nil, err
	}
	if len(values) == 0 {
		for v := range counts {
			values = append(values, v)
		}
		slices.Sort(values)
	}
	out := kci.DescribeContainerGroupCountResponse{RequestID: c.requestID, ClusterPodCounts: []kci.ClusterPodCount{}}
	for _, v := range values {
		out.ClusterPodCounts = append(out.ClusterPodCounts, kci.ClusterPodCount{ClusterID: v, Count: counts[v]})
	}
	return out, nil
}

func (h *Handler) describeContainerGroupEvents(c *call) (any, error) {
	var req describeContainerGroupEventsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.ContainerGroupID == "" {
		return nil, missing("ContainerGroupId")
	}
	st, err := h.o.Service.GroupStatus(c.ctx, c.accountID, req.ContainerGroupID)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.DescribeContainerGroupEventsResponse{RequestID: c.requestID, Events: eventsOut(st.Events)}, nil
}

// describeKciPackages lists the configured sizes that fit the node. They
// are the same in every zone of a region (one node serves them all); Spot
// is not offered, so it has none.
func (h *Handler) describeKciPackages(c *call) (any, error) {
	var req describeKciPackagesRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	switch req.ChargeType {
	case "", "HourlyInstantSettlement", "Spot":
	default:
		return nil, invalid("ChargeType", "valid values are HourlyInstantSettlement and Spot")
	}
	if req.KciType != "" && req.KciType != kci.KciTypeRBKCI {
		return nil, invalid("KciType", "the only valid value is RBKCI")
	}
	if z := req.AvailabilityZone; z != "" && !slices.Contains(h.regions[c.region].Zones, z) {
		return nil, invalid("AvailabilityZone", "%q is not a zone of region %s; DescribeRegions lists them", clip(z), c.region)
	}
	if c.dryRun {
		return nil, errDryRun
	}
	out := kci.DescribeKciPackagesResponse{RequestID: c.requestID, Packages: []kci.KciPackage{}}
	if req.ChargeType == "Spot" {
		return out, nil
	}
	for _, p := range h.o.Packages {
		out.Packages = append(out.Packages, kci.KciPackage{CPU: p.CPU, Mem: p.Memory})
	}
	return out, nil
}

func (h *Handler) deleteContainerGroup(c *call) (any, error) {
	var req deleteContainerGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.ContainerGroupID == "" {
		return nil, missing("ContainerGroupId")
	}
	if err := h.o.Service.DeleteGroup(c.ctx, c.accountID, req.ContainerGroupID, c.dryRun); err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return kci.DeleteContainerGroupResponse{RequestID: c.requestID}, nil
}

func (h *Handler) describeRegions(c *call) (any, error) {
	if c.dryRun {
		return nil, errDryRun
	}
	out := kci.DescribeRegionsResponse{RequestID: c.requestID, Regions: []kci.Region{}}
	for _, r := range h.o.Regions {
		out.Regions = append(out.Regions, kci.Region{Region: r.Name, RegionName: r.Name, AvailabilityZones: r.Zones})
	}
	return out, nil
}

// page applies VPC-style paging: MaxResults and an opaque NextToken (here
// the decimal offset; "" after the last page).
func page(n int, maxResults *int, token string) (from, to int, next string, err error) {
	limit := 1000
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return 0, 0, "", invalid("MaxResults", "must be between 1 and 1000")
		}
		limit = *maxResults
	}
	if token != "" {
		from, err = strconv.Atoi(token)
		if err != nil || from < 0 {
			return 0, 0, "", invalid("NextToken", "is not a token this server returned")
		}
	}
	from = min(from, n)
	to = min(n, from+limit)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

var (
	vpcFilters    = map[string]bool{"vpc-id": true}
	subnetFilters = map[string]bool{"vpc-id": true, "subnet-id": true, "availability-zone-name": true}
	sgFilters     = map[string]bool{"vpc-id": true, "security-group-id": true}
)

func (h *Handler) describeVpcs(c *call) (any, error) {
	var req describeVpcsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	filters, err := buildFilters(req.Filter, vpcFilters, nil)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	vpcs := h.o.Service.Networks().VPCs(c.accountID, c.region, req.VpcID, filters)
	from, to, next, err := page(len(vpcs), req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	out := kci.DescribeVpcsResponse{RequestID: c.requestID, NextToken: next, VpcSet: []kci.Vpc{}}
	for _, v := range vpcs[from:to] {
		out.VpcSet = append(out.VpcSet, vpcOut(v))
	}
	return out, nil
}

func (h *Handler) describeSubnets(c *call) (any, error) {
	var req describeSubnetsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	filters, err := buildFilters(req.Filter, subnetFilters, nil)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	subnets := h.o.Service.Networks().Subnets(c.accountID, c.region, req.SubnetID, filters)
	from, to, next, err := page(len(subnets), req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	out := kci.DescribeSubnetsResponse{RequestID: c.requestID, NextToken: next, SubnetSet: []kci.Subnet{}}
	for _, s := range subnets[from:to] {
		sub, err := h.subnetOut(c, s)
		if err != nil {
			return nil, err
		}
		out.SubnetSet = append(out.SubnetSet, sub)
	}
	return out, nil
}

func (h *Handler) describeSecurityGroups(c *call) (any, error) {
	var req describeSecurityGroupsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	filters, err := buildFilters(req.Filter, sgFilters, nil)
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	sgs := h.o.Service.Networks().SecurityGroups(c.accountID, c.region, req.SecurityGroupID, filters)
	from, to, next, err := page(len(sgs), req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	out := kci.DescribeSecurityGroupsResponse{RequestID: c.requestID, NextToken: next, SecurityGroupSet: []kci.SecurityGroup{}}
	for _, g := range sgs[from:to] {
		out.SecurityGroupSet = append(out.SecurityGroupSet, securityGroupOut(g))
	}
	return out, nil
}

// groupOut renders a group in the shape of the spec's example response.
func groupOut(v service.GroupView) kci.ContainerGroup {
	g, st := v.Group, v.Status
	out := kci.ContainerGroup{
		ContainerGroupID:   g.ID,
		ContainerGroupName: g.Name,
		AvailabilityZone:   g.Zone,
		ChargeType:         g.ChargeType,
		CPU:                g.CPU,
		Memory:             g.Memory,
		GPU:                float64(g.GPU),
		CreateTime:         kci.CloudTime{Time: g.CreatedAt},
		RestartPolicy:      string(g.RestartPolicy),
		Status:             string(st.Phase),
		Events:             eventsOut(st.Events),
		Labels:             []kci.Label{},
		StartTimeline:      timelineOut(st.Timeline),
	}
	for _, l := range g.Labels {
		out.Labels = append(out.Labels, kci.Label{Key: l.Key, Value: l.Value})
	}
	if st.SucceededTime != nil && !st.SucceededTime.IsZero() {
		out.SucceededTime = &kci.CloudTime{Time: *st.SucceededTime}
	}
	iface := kci.NetworkInterface{
		NetworkInterfaceID: g.Network.InterfaceID, NetworkInterfaceType: "primary",
		VpcID: g.Network.VpcID, SubnetID: g.Network.SubnetID,
		PrivateIPAddress: g.Network.PrivateIP, MacAddress: g.Network.MAC,
		SecurityGroups: []kci.SecurityGroupLink{},
	}
	for _, id := range g.Network.SecurityGroupIDs {
		iface.SecurityGroups = append(iface.SecurityGroups, kci.SecurityGroupLink{SecurityGroupID: id})
	}
	out.NetworkInterfaceAttributes = []kci.NetworkInterface{iface}
	for _, vol := range g.Volumes {
		ov := kci.VolumeDetail{Type: vol.Type, Name: vol.Name}
		if vol.Type == core.VolumeConfigFile {
			ov.ConfigFileVolume = &kci.ConfigFileVolumeDetail{ConfigFileToPaths: []kci.ConfigFilePath{}}
			for _, f := range vol.ConfigFiles {
				ov.ConfigFileVolume.ConfigFileToPaths = append(ov.ConfigFileVolume.ConfigFileToPaths, kci.ConfigFilePath{Path: f.Path})
			}
		}
		if vol.EBS != nil {
			ov.EBSVolume = &kci.EBSVolume{FsType: vol.EBS.FsType, VolumeID: vol.EBS.VolumeID,
				Type: vol.EBS.Type, Size: vol.EBS.SizeGB, DeleteWithInstance: vol.EBS.DeleteWithInstance}
		}
		if vol.NFS != nil {
			ov.NFSVolume = &kci.NFSVolume{Server: vol.NFS.Server, Path: vol.NFS.Path, ReadOnly: vol.NFS.ReadOnly}
		}
		if vol.Type == core.VolumeHostPath {
			ov.HostPathVolume = &kci.HostPathVolume{Path: vol.HostPath}
		}
		out.Volumes = append(out.Volumes, ov)
	}
	if g.DNS != nil {
		d := &kci.DNSConfigDetail{NameServers: nonNil(g.DNS.NameServers), Searches: nonNil(g.DNS.Searches), Options: []kci.DNSOptionDetail{}}
		for _, o := range g.DNS.Options {
			d.Options = append(d.Options, kci.DNSOptionDetail{Name: o.Name, Value: strPtr(o.Value)})
		}
		out.DNSConfig = d
	}
	for _, a := range g.HostAliases {
		out.HostAliases = append(out.HostAliases, kci.HostAliasDetail{Hostnames: a.Hostnames, IP: a.IP})
	}
	out.Containers = containersOut(g.Containers, st.Containers)
	out.Ready = st.Ready()
	if len(g.InitContainers) > 0 {
		out.InitContainers = containersOut(g.InitContainers, st.InitContainers)
	}
	return out
}

// containersOut renders containers with their observed states.
func containersOut(ctrs []core.Container, states []core.ContainerStatus) []kci.ContainerDetail {
	statuses := map[string]core.ContainerStatus{}
	for _, cs := range states {
		statuses[cs.Name] = cs
	}
	out := []kci.ContainerDetail{}
	for _, ctr := range ctrs {
		oc := kci.ContainerDetail{
			Name: ctr.Name, Commands: nonNil(ctr.Command), Args: nonNil(ctr.Args),
			EnvironmentVars: []kci.EnvironmentVar{}, CPU: amountPtr(ctr.CPU), Memory: amountPtr(ctr.Memory), GPU: amountPtr(float64(ctr.GPU)),
			WorkingDir: strPtr(ctr.WorkingDir), Image: ctr.Image, ImagePullPolicy: strPtr(ctr.ImagePullPolicy),
			Ports: []kci.PortDetail{},
		}
		for _, e := range ctr.Env {
			ev := kci.EnvironmentVar{Key: e.Key, Value: e.Value}
			if e.FieldPath != "" {
				ev.ValueFrom = &kci.ValueFrom{FieldRef: &kci.FieldRef{FieldPath: e.FieldPath}}
			}
			oc.EnvironmentVars = append(oc.EnvironmentVars, ev)
		}
		for _, p := range ctr.Ports {
			oc.Ports = append(oc.Ports, kci.PortDetail{Protocol: p.Protocol, Port: p.Port})
		}
		for _, m := range ctr.VolumeMounts {
			oc.VolumeMounts = append(oc.VolumeMounts, kci.VolumeMountDetail{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
		}
		oc.LivenessProbe, oc.ReadinessProbe, oc.StartupProbe = probeOut(ctr.LivenessProbe), probeOut(ctr.ReadinessProbe), probeOut(ctr.StartupProbe)
		cs, ok := statuses[ctr.Name]
		if ok {
			oc.Ready = cs.Ready
			oc.RestartCount = cs.RestartCount
			oc.CurrentState = stateOut(cs.Current)
			oc.PreviousState = stateOut(cs.Previous)
		}
		if oc.CurrentState == nil {
			oc.CurrentState = &kci.ContainerState{State: core.StateWaiting, Reason: strPtr("ContainerCreating")}
		}
		out = append(out, oc)
	}
	return out
}

// probeOut renders a probe in the SDK's response shape (nil: null).
func probeOut(p *core.Probe) *kci.ProbeDetail {
	if p == nil {
		return nil
	}
	out := &kci.ProbeDetail{InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds,
		TimeoutSeconds: p.TimeoutSeconds, SuccessThreshold: p.SuccessThreshold, FailureThreshold: p.FailureThreshold}
	if p.Exec != nil {
		out.Exec = &kci.ExecActionDetail{Commands: p.Exec}
	}
	if p.HTTPGet != nil {
		out.HTTPGet = &kci.HTTPGetAction{Port: p.HTTPGet.Port, Path: p.HTTPGet.Path, Scheme: p.HTTPGet.Scheme}
	}
	if p.TCPSocket != nil {
		out.TCPSocket = &kci.TCPSocketAction{Port: p.TCPSocket.Port}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// strPtr is nil for "": the wire's null for an absent optional string.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// amountPtr is nil for 0: a container without its own Cpu or Memory.
func amountPtr(f float64) *float64 {
	if f == 0 {
		return nil
	}
	return &f
}

// wireTime is a time as the wire carries container and event times: UTC,
// whole seconds (RFC 3339 with Z); nil for none.
func wireTime(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// cloudTime is the console format of VPC objects' CreateTime (UTC+8).
func cloudTime(t time.Time) string { return kci.CloudTime{Time: t}.String() }

func stateOut(s *core.ContainerState) *kci.ContainerState {
	if s == nil {
		return nil
	}
	return &kci.ContainerState{State: s.State, StartTime: wireTime(s.StartTime), FinishTime: wireTime(s.FinishTime),
		ExitCode: s.ExitCode, Reason: strPtr(s.Reason)}
}

func eventsOut(events []core.Event) []kci.Event {
	out := make([]kci.Event, 0, len(events))
	for _, e := range events {
		out = append(out, kci.Event{
			FirstTimestamp: e.FirstTimestamp.UTC().Truncate(time.Second), LastTimestamp: e.LastTimestamp.UTC().Truncate(time.Second),
			Count: e.Count, Type: e.Type, Reason: e.Reason, Message: e.Message,
			FirstTimestampMs: e.FirstTimestamp.UnixMilli(), LastTimestampMs: e.LastTimestamp.UnixMilli(),
		})
	}
	return out
}

// timelineOut renders a start timeline with millisecond times, each step
// also as the milliseconds since Accepted (nil when there is none).
func timelineOut(tl core.StartTimeline) []kci.StartStep {
	if len(tl) == 0 {
		return nil
	}
	var accepted time.Time
	for _, m := range tl {
		if m.Step == core.StepAccepted {
			accepted = m.At
		}
	}
	out := make([]kci.StartStep, 0, len(tl))
	for _, m := range tl {
		s := kci.StartStep{Step: string(m.Step), ContainerName: m.Container, Time: m.At.UTC().Truncate(time.Millisecond)}
		if !accepted.IsZero() {
			s.ElapsedMs = m.At.Sub(accepted).Milliseconds()
		}
		out = append(out, s)
	}
	return out
}

// dhcpRange is the range group addresses are allocated from.
func dhcpRange(s core.Subnet) (string, string) {
	first, last, err := service.HostRange(s.CIDR)
	if err != nil {
		return "", ""
	}
	return first, last
}
