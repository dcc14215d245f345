package kci

import "context"

// DescribeContainerGroupMetricRequest asks for a group's usage samples: an
// OpenKCI extension in the shape of Alibaba ECI's action of the same name
// (docs/api.md, "DescribeContainerGroupMetric").
type DescribeContainerGroupMetricRequest struct {
	ContainerGroupID string `query:"ContainerGroupId"`
	// StartTime and EndTime (RFC 3339) bound the samples; the server
	// defaults are EndTime = now and StartTime = EndTime − 5 minutes.
	// kcid keeps the last hour.
	StartTime string `query:"StartTime"`
	EndTime   string `query:"EndTime"`
	// Period (seconds) is the spacing of the records: 15 (the sampling
	// resolution, server default), 30, 60 or 600; a record is the last
	// sample of its period.
	Period int `query:"Period"`
}

// DescribeContainerGroupMetricResponse holds the samples, oldest first.
type DescribeContainerGroupMetricResponse struct {
	RequestID        string         `json:"RequestId"`
	ContainerGroupID string         `json:"ContainerGroupId"`
	Records          []MetricRecord `json:"Records"`
}

// MetricRecord is one sample of a group and of its containers.
type MetricRecord struct {
	// Timestamp is when the sample was taken (RFC 3339, UTC).
	Timestamp  string            `json:"Timestamp"`
	CPU        CPUMetric         `json:"CPU"`
	Memory     MemoryMetric      `json:"Memory"`
	Network    NetworkMetric     `json:"Network"`
	Containers []ContainerMetric `json:"Containers"`
}

// CPUMetric is CPU usage. UsageCoreNanoSeconds is cumulative;
// UsageNanoCores is the rate since the previous sample (0 for the first).
type CPUMetric struct {
	// Limit is the CPU limit in millicores (0: none).
	Limit                int64  `json:"Limit"`
	UsageCoreNanoSeconds uint64 `json:"UsageCoreNanoSeconds"`
	UsageNanoCores       uint64 `json:"UsageNanoCores"`
}

// MemoryMetric is memory in bytes at the sample's time. AvailableBytes is
// the limit less the working set (0 without a limit).
type MemoryMetric struct {
	AvailableBytes uint64 `json:"AvailableBytes"`
	UsageBytes     uint64 `json:"UsageBytes"`
	WorkingSet     uint64 `json:"WorkingSet"`
	Rss            uint64 `json:"Rss"`
	Cache          uint64 `json:"Cache"`
}

// NetworkMetric holds the group's interfaces but loopback.
type NetworkMetric struct {
	Interfaces []InterfaceMetric `json:"Interfaces"`
}

// InterfaceMetric holds one interface's cumulative counters.
type InterfaceMetric struct {
	Name      string `json:"Name"`
	RxBytes   uint64 `json:"RxBytes"`
	RxPackets uint64 `json:"RxPackets"`
	RxErrors  uint64 `json:"RxErrors"`
	RxDrops   uint64 `json:"RxDrops"`
	TxBytes   uint64 `json:"TxBytes"`
	TxPackets uint64 `json:"TxPackets"`
	TxErrors  uint64 `json:"TxErrors"`
	TxDrops   uint64 `json:"TxDrops"`
}

// ContainerMetric is one container's share; a container's counters start
// again with each attempt (restart).
type ContainerMetric struct {
	Name   string       `json:"Name"`
	CPU    CPUMetric    `json:"CPU"`
	Memory MemoryMetric `json:"Memory"`
}

// DescribeContainerGroupMetric returns a group's usage samples (an
// OpenKCI extension).
func (c *Client) DescribeContainerGroupMetric(ctx context.Context, req *DescribeContainerGroupMetricRequest) (*DescribeContainerGroupMetricResponse, error) {
	out := &DescribeContainerGroupMetricResponse{}
	if err := c.Do(ctx, ServiceKCI, KCIVersion, "DescribeContainerGroupMetric", req, out); err != nil {
		return nil, err
	}
	return out, nil
}
