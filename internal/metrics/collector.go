package metrics

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descGroups = prometheus.NewDesc("kcid_groups",
		"Live container groups by account and status (KCI phase).", []string{"account", "status"}, nil)

	groupLabels      = []string{"account", "group_id"}
	containerLabels  = []string{"account", "group_id", "container"}
	interfaceLabels  = []string{"account", "group_id", "interface"}
	descGroupCPU     = prometheus.NewDesc("kcid_group_cpu_seconds_total", "CPU time used by a group's processes.", groupLabels, nil)
	descGroupMemory  = prometheus.NewDesc("kcid_group_memory_working_set_bytes", "A group's memory working set (usage less inactive file pages).", groupLabels, nil)
	descGroupRSS     = prometheus.NewDesc("kcid_group_memory_rss_bytes", "A group's anonymous resident memory.", groupLabels, nil)
	descCtrCPU       = prometheus.NewDesc("kcid_container_cpu_seconds_total", "CPU time used by a container's current attempt.", containerLabels, nil)
	descCtrMemory    = prometheus.NewDesc("kcid_container_memory_working_set_bytes", "A container's memory working set.", containerLabels, nil)
	descNetRxBytes   = prometheus.NewDesc("kcid_group_network_receive_bytes_total", "Bytes a group's interface received.", interfaceLabels, nil)
	descNetTxBytes   = prometheus.NewDesc("kcid_group_network_transmit_bytes_total", "Bytes a group's interface sent.", interfaceLabels, nil)
	descNetRxPackets = prometheus.NewDesc("kcid_group_network_receive_packets_total", "Packets a group's interface received.", interfaceLabels, nil)
	descNetTxPackets = prometheus.NewDesc("kcid_group_network_transmit_packets_total", "Packets a group's interface sent.", interfaceLabels, nil)
	descScrapeErrors = prometheus.NewDesc("kcid_metrics_source_errors_total", "Scrapes in which counting groups failed (the store could not be read).", nil, nil)
)

// sourceCollector asks the service at each scrape: group counts (which
// ask the runtime for each group's status) and each group's latest usage
// sample (taken every service.UsageResolution, so up to that old).
type sourceCollector struct {
	src    Source
	log    *slog.Logger
	errors atomic.Int64
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGroups, descGroupCPU, descGroupMemory, descGroupRSS, descCtrCPU, descCtrMemory,
		descNetRxBytes, descNetTxBytes, descNetRxPackets, descNetTxPackets, descScrapeErrors} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.src.CountGroups(ctx)
	if err != nil {
		c.errors.Add(1)
		if c.log != nil {
			c.log.Warn("metrics: count groups", "err", err)
		}
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErrors, prometheus.CounterValue, float64(c.errors.Load()))
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(descGroups, prometheus.GaugeValue, float64(n.Count), n.AccountID, string(n.Phase))
	}
	for _, u := range c.src.LatestUsage() {
		st := u.Stats
		ch <- prometheus.MustNewConstMetric(descGroupCPU, prometheus.CounterValue, float64(st.CPUNanos)/1e9, u.AccountID, u.GroupID)
		ch <- prometheus.MustNewConstMetric(descGroupMemory, prometheus.GaugeValue, float64(st.Memory.WorkingSet), u.AccountID, u.GroupID)
		ch <- prometheus.MustNewConstMetric(descGroupRSS, prometheus.GaugeValue, float64(st.Memory.RSS), u.AccountID, u.GroupID)
		for _, ct := range st.Containers {
			ch <- prometheus.MustNewConstMetric(descCtrCPU, prometheus.CounterValue, float64(ct.CPUNanos)/1e9, u.AccountID, u.GroupID, ct.Name)
			ch <- prometheus.MustNewConstMetric(descCtrMemory, prometheus.GaugeValue, float64(ct.Memory.WorkingSet), u.AccountID, u.GroupID, ct.Name)
		}
		for _, i := range st.Interfaces {
			ch <- prometheus.MustNewConstMetric(descNetRxBytes, prometheus.CounterValue, float64(i.RxBytes), u.AccountID, u.GroupID, i.Name)
			ch <- prometheus.MustNewConstMetric(descNetTxBytes, prometheus.CounterValue, float64(i.TxBytes), u.AccountID, u.GroupID, i.Name)
			ch <- prometheus.MustNewConstMetric(descNetRxPackets, prometheus.CounterValue, float64(i.RxPackets), u.AccountID, u.GroupID, i.Name)
			ch <- prometheus.MustNewConstMetric(descNetTxPackets, prometheus.CounterValue, float64(i.TxPackets), u.AccountID, u.GroupID, i.Name)
		}
	}
}
