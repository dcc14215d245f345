package kcictl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

func (a *app) topCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "top ID|NAME",
		Short: "Show a group's CPU, memory and network now",
		Long: `top prints the latest usage sample of a group and of each of its containers:
CPU in cores (the average since the sample before), memory working set, and
the group's network traffic so far. kcid samples every group every 15 s and
keeps an hour (DescribeContainerGroupMetric, an OpenKCI extension).`,
		Example:           `  kcictl top web`,
		Args:              exactArgs(1, "the container group ID or NAME"),
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			g, err := a.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			c, _ := a.kci()
			out, err := c.DescribeContainerGroupMetric(ctx, &kci.DescribeContainerGroupMetricRequest{ContainerGroupID: g.ContainerGroupID})
			if err != nil {
				return err
			}
			if len(out.Records) == 0 {
				return fmt.Errorf("group %s has no usage sample from the last 5 minutes yet (kcid samples running groups every 15 s)", g.ContainerGroupName)
			}
			r := out.Records[len(out.Records)-1]
			tab := newTable(a.env.Stdout, "CONTAINER", "CPU(cores)", "MEMORY")
			tab.row("(group)", cores(r.CPU), mib(r.Memory.WorkingSet))
			for _, ct := range r.Containers {
				tab.row(ct.Name, cores(ct.CPU), mib(ct.Memory.WorkingSet))
			}
			if err := tab.flush(); err != nil {
				return err
			}
			for _, n := range r.Network.Interfaces {
				fmt.Fprintf(a.env.Stdout, "Network %s: received %s (%d packets), sent %s (%d packets)\n", n.Name, mib(n.RxBytes), n.RxPackets, mib(n.TxBytes), n.TxPackets)
			}
			t, _ := time.Parse(time.RFC3339, r.Timestamp)
			_, err = fmt.Fprintf(a.env.Stdout, "Sampled at %s\n", t.UTC().Format(time.RFC3339))
			return err
		},
	}
}

// cores is a CPU rate, with its limit when there is one.
func cores(c kci.CPUMetric) string {
	s := fmt.Sprintf("%.3f", float64(c.UsageNanoCores)/1e9)
	if c.Limit > 0 {
		s += fmt.Sprintf(" of %g", float64(c.Limit)/1000)
	}
	return s
}

func mib(b uint64) string { return fmt.Sprintf("%.1fMi", float64(b)/(1<<20)) }
