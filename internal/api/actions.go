package api

import (
	"strconv"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/service"
)

// Paging and log limits of the spec.
const (
	defaultMaxResults = 20
	maxMaxResults     = 100
	defaultTail       = 200
	maxTail           = 1000
	maxIDLength       = 128
)

func (h *Handler) createContainerGroup(c *call) (any, error) {
	var req createContainerGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	g, err := buildGroup(&req)
	if err != nil {
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
		SubnetID: req.SubnetID, SecurityGroupIDs: req.SecurityGroupID,
		Group: g, DryRun: c.dryRun,
	})
	if err != nil {
		return nil, err
	}
	if c.dryRun {
		return nil, errDryRun
	}
	return createContainerGroupResponse{RequestID: c.requestID, ContainerGroupID: created.ID}, nil
}

func (h *Handler) describeContainerGroup(c *call) (any, error) {
	var req describeContainerGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	limit := defaultMaxResults
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > maxMaxResults {
			return nil, invalid("MaxResults", "must be between 1 and %d", maxMaxResults)
		}
		limit = *req.MaxResults
	}
	offset := 0
	if req.Marker != nil {
		if *req.Marker < 0 {
			return nil, invalid("Marker", "must not be negative")
		}
		offset = *req.Marker
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
	views, total, err := h.o.Service.DescribeGroups(c.ctx, service.DescribeQuery{
		AccountID: c.accountID, IDs: req.ContainerGroupID, Filters: filters,
		Search: req.Search, Offset: offset, Limit: limit,
	})
	if err != nil {
		return nil, err
	}
	next := 0
	if offset+len(views) < total {
		next = offset + len(views)
	}
	out := describeContainerGroupResponse{RequestID: c.requestID, MaxResults: limit, Marker: next, TotalCount: total,
		ContainerGroups: make([]outContainerGroup, 0, len(views))}
	for _, v := range views {
		out.ContainerGroups = append(out.ContainerGroups, groupOut(v))
	}
	return out, nil
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
		if err := h.o.Service.CheckContainer(c.accountID, req.ContainerGroupID, req.ContainerName); err != nil {
			return nil, err
		}
		return nil, errDryRun
	}
	content, err := h.o.Service.Logs(c.ctx, c.accountID, req.ContainerGroupID, req.ContainerName, tail)
	if err != nil {
		return nil, err
	}
	return describeContainerLogResponse{RequestID: c.requestID, Content: content}, nil
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
	return requestIDResponse{RequestID: c.requestID}, nil
}

func (h *Handler) describeRegions(c *call) (any, error) {
	if c.dryRun {
		return nil, errDryRun
	}
	out := describeRegionsResponse{RequestID: c.requestID, Regions: []outRegion{}}
	for _, r := range h.o.Regions {
		out.Regions = append(out.Regions, outRegion{Region: r.Name, RegionName: r.Name, AvailabilityZones: r.Zones})
	}
	return out, nil
}

// page applies VPC-style paging: MaxResults and an opaque NextToken (here
// the decimal offset).
func page(n int, maxResults *int, token string) (from, to int, next *string, err error) {
	limit := 1000
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return 0, 0, nil, invalid("MaxResults", "must be between 1 and 1000")
		}
		limit = *maxResults
	}
	if token != "" {
		from, err = strconv.Atoi(token)
		if err != nil || from < 0 {
			return 0, 0, nil, invalid("NextToken", "is not a token this server returned")
		}
	}
	from = min(from, n)
	to = min(n, from+limit)
	if to < n {
		s := strconv.Itoa(to)
		next = &s
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
	out := describeVpcsResponse{RequestID: c.requestID, NextToken: next, VpcSet: []outVpc{}}
	for _, v := range vpcs[from:to] {
		out.VpcSet = append(out.VpcSet, outVpc{CreateTime: cloudTime(v.CreatedAt), VpcID: v.ID, VpcName: v.Name, CidrBlock: v.CIDR, IsDefault: v.IsDefault})
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
	out := describeSubnetsResponse{RequestID: c.requestID, NextToken: next, SubnetSet: []outSubnet{}}
	for _, s := range subnets[from:to] {
		first, last := dhcpRange(s)
		out.SubnetSet = append(out.SubnetSet, outSubnet{
			CreateTime: cloudTime(s.CreatedAt), VpcID: s.VpcID, SubnetID: s.ID, SubnetName: s.Name,
			CidrBlock: s.CIDR, SubnetType: "Normal", DhcpIPFrom: first, DhcpIPTo: last, GatewayIP: s.Gateway,
			AvailabilityZoneName: s.Zone, AvailableIPNumber: strconv.Itoa(h.o.Service.FreeIPs(s)), VisitInternet: true,
		})
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
	out := describeSecurityGroupsResponse{RequestID: c.requestID, NextToken: next, SecurityGroupSet: []outSecurityGroupFull{}}
	for _, g := range sgs[from:to] {
		out.SecurityGroupSet = append(out.SecurityGroupSet, outSecurityGroupFull{
			CreateTime: cloudTime(g.CreatedAt), VpcID: g.VpcID, SecurityGroupName: g.Name, SecurityGroupID: g.ID,
			SecurityGroupType: "other", SecurityGroupEntrySet: []struct{}{},
		})
	}
	return out, nil
}

// groupOut renders a group in the shape of the spec's example response.
func groupOut(v service.GroupView) outContainerGroup {
	g, st := v.Group, v.Status
	out := outContainerGroup{
		ContainerGroupID:   g.ID,
		ContainerGroupName: g.Name,
		AvailabilityZone:   g.Zone,
		ChargeType:         g.ChargeType,
		CPU:                number(g.CPU),
		Memory:             number(g.Memory),
		CreateTime:         cloudTime(g.CreatedAt),
		RestartPolicy:      string(g.RestartPolicy),
		Status:             string(st.Phase),
		Containers:         []outContainer{},
		Events:             eventsOut(st.Events),
	}
	if st.SucceededTime != nil {
		s := cloudTime(*st.SucceededTime)
		out.SucceededTime = &s
	}
	iface := outNetworkIface{
		NetworkInterfaceID: g.Network.InterfaceID, NetworkInterfaceType: "primary",
		VpcID: g.Network.VpcID, SubnetID: g.Network.SubnetID,
		PrivateIPAddress: g.Network.PrivateIP, MacAddress: g.Network.MAC,
		SecurityGroups: []outSecurityGroup{},
	}
	for _, id := range g.Network.SecurityGroupIDs {
		iface.SecurityGroups = append(iface.SecurityGroups, outSecurityGroup{SecurityGroupID: id})
	}
	out.NetworkInterfaceAttributes = []outNetworkIface{iface}
	for _, vol := range g.Volumes {
		ov := outVolume{Type: vol.Type, Name: vol.Name}
		if vol.Type == core.VolumeConfigFile {
			ov.ConfigFileVolume = &outConfigFileVolume{ConfigFileToPaths: []outConfigFilePath{}}
			for _, f := range vol.ConfigFiles {
				ov.ConfigFileVolume.ConfigFileToPaths = append(ov.ConfigFileVolume.ConfigFileToPaths, outConfigFilePath{Path: f.Path})
			}
		}
		if vol.EBS != nil {
			ov.EBSVolume = &outEBSVolume{FsType: vol.EBS.FsType, VolumeID: vol.EBS.VolumeID}
		}
		out.Volumes = append(out.Volumes, ov)
	}
	if g.DNS != nil {
		d := &outDNSConfig{NameServers: nonNil(g.DNS.NameServers), Searches: nonNil(g.DNS.Searches), Options: []outDNSOption{}}
		for _, o := range g.DNS.Options {
			opt := outDNSOption{Name: o.Name}
			if o.Value != "" {
				val := o.Value
				opt.Value = &val
			}
			d.Options = append(d.Options, opt)
		}
		out.DNSConfig = d
	}
	for _, a := range g.HostAliases {
		out.HostAliases = append(out.HostAliases, outHostAlias{Hostnames: a.Hostnames, IP: a.IP})
	}
	statuses := map[string]core.ContainerStatus{}
	for _, cs := range st.Containers {
		statuses[cs.Name] = cs
	}
	for _, ctr := range g.Containers {
		oc := outContainer{
			Name: ctr.Name, Commands: nonNil(ctr.Command), Args: nonNil(ctr.Args),
			EnvironmentVars: []outEnvVar{}, CPU: numPtr(ctr.CPU), Memory: numPtr(ctr.Memory),
			Image: ctr.Image, Ports: []outPort{},
		}
		if ctr.WorkingDir != "" {
			wd := ctr.WorkingDir
			oc.WorkingDir = &wd
		}
		if ctr.ImagePullPolicy != "" {
			p := ctr.ImagePullPolicy
			oc.ImagePullPolicy = &p
		}
		for _, e := range ctr.Env {
			oc.EnvironmentVars = append(oc.EnvironmentVars, outEnvVar{Key: e.Key, Value: e.Value})
		}
		for _, p := range ctr.Ports {
			oc.Ports = append(oc.Ports, outPort{Protocol: p.Protocol, Port: p.Port})
		}
		for _, m := range ctr.VolumeMounts {
			oc.VolumeMounts = append(oc.VolumeMounts, outVolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
		}
		cs, ok := statuses[ctr.Name]
		if ok {
			oc.RestartCount = cs.RestartCount
			oc.CurrentState = stateOut(cs.Current)
			oc.PreviousState = stateOut(cs.Previous)
		}
		if oc.CurrentState == nil {
			reason := "ContainerCreating"
			oc.CurrentState = &outState{State: core.StateWaiting, Reason: &reason}
		}
		out.Containers = append(out.Containers, oc)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func stateOut(s *core.ContainerState) *outState {
	if s == nil {
		return nil
	}
	o := &outState{State: s.State, StartTime: rfc3339(s.StartTime), FinishTime: rfc3339(s.FinishTime), ExitCode: s.ExitCode}
	if s.Reason != "" {
		r := s.Reason
		o.Reason = &r
	}
	return o
}

func eventsOut(events []core.Event) []outEvent {
	out := make([]outEvent, 0, len(events))
	for _, e := range events {
		first, last := e.FirstTimestamp, e.LastTimestamp
		out = append(out, outEvent{
			FirstTimestamp: *rfc3339(&first), LastTimestamp: *rfc3339(&last),
			Count: e.Count, Type: e.Type, Reason: e.Reason, Message: e.Message,
		})
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
