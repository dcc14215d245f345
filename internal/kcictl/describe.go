package kcictl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

func (a *app) describeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe ID|NAME...",
		Short: "Show a container group in detail: containers, states, volumes, events",
		Long: `describe shows groups in a readable form, like kubectl describe: identity,
network, each container with its current and last state, restarts, ports,
environment and mounts, the volumes, DNS settings and the events with their
ages. Times are UTC. For the raw fields use 'kcictl get ID -o yaml'.`,
		Example: `  kcictl describe web
  kcictl describe 5f0c6a4e-1b7c-4a57-9d3e-2a8b6c1d9e00`,
		Args:              minArgs(1, "the container group ID or NAME"),
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			groups, err := a.resolveAll(cmd.Context(), args)
			if err != nil {
				return err
			}
			for i, g := range groups {
				if i > 0 {
					fmt.Fprintln(a.env.Stdout)
				}
				a.describe(a.env.Stdout, g)
			}
			return nil
		},
	}
}

func (a *app) eventsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "events ID|NAME",
		Short: "Show a container group's events (DescribeContainerGroupEvents)",
		Long: `events prints the events of a group, oldest first: type, reason, age (and
how often, over how long, for repeated ones) and message. They are the
events describe shows, read with the DescribeContainerGroupEvents action.`,
		Example:           `  kcictl events web`,
		Args:              exactArgs(1, "the container group ID or NAME"),
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := a.resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			c, err := a.kci()
			if err != nil {
				return err
			}
			r, err := c.DescribeContainerGroupEvents(cmd.Context(), &kci.DescribeContainerGroupEventsRequest{ContainerGroupID: g.ContainerGroupID})
			if err != nil {
				return err
			}
			if len(r.Events) == 0 {
				fmt.Fprintln(a.env.Stdout, "No events.")
				return nil
			}
			a.eventTable(a.env.Stdout, "", r.Events)
			return nil
		},
	}
}

// utc formats a time for describe.
func utc(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (a *app) when(t time.Time) string {
	return fmt.Sprintf("%s (%s ago)", utc(t), since(a.env.Now, t))
}

// fields prints "Label:  value" lines aligned at a column.
type fields struct {
	w      io.Writer
	indent string
	width  int
}

func (f fields) add(label, value string) {
	fmt.Fprintf(f.w, "%s%-*s %s\n", f.indent, f.width, label+":", value)
}

func (f fields) head(label string) {
	fmt.Fprintf(f.w, "%s%s:\n", f.indent, label)
}

func (a *app) describe(w io.Writer, g *kci.ContainerGroup) {
	f := fields{w: w, width: 17}
	f.add("Name", g.ContainerGroupName)
	f.add("ID", g.ContainerGroupID)
	status := g.Status
	if g.Status != kci.StatusRunning && g.Status != kci.StatusSucceeded {
		status += failure(g) // why it is not running
	}
	f.add("Status", status)
	f.add("Ready", fmt.Sprint(g.Ready)) // kcid's extension: Running, every container ready
	f.add("Created", a.when(g.CreateTime.Time))
	if g.SucceededTime != nil && !g.SucceededTime.IsZero() {
		f.add("Succeeded", a.when(g.SucceededTime.Time))
	}
	f.add("Zone", g.AvailabilityZone)
	f.add("Restart Policy", g.RestartPolicy)
	if len(g.Labels) > 0 {
		var ls []string
		for _, l := range g.Labels {
			ls = append(ls, l.Key+"="+l.Value)
		}
		f.add("Labels", strings.Join(ls, ", "))
	}
	f.add("CPU", num(g.CPU))
	f.add("Memory", num(g.Memory)+" GiB")
	if n := g.PrimaryInterface(); n != nil {
		f.add("IP", orNone(n.PrivateIPAddress))
		f.add("MAC", n.MacAddress)
		f.add("VPC", n.VpcID)
		f.add("Subnet", n.SubnetID)
		var sgs []string
		for _, s := range n.SecurityGroups {
			sgs = append(sgs, s.SecurityGroupID)
		}
		f.add("Security Groups", strings.Join(sgs, ", "))
	}

	if len(g.InitContainers) > 0 { // kcid's extension, in run order
		f.head("Init Containers")
		for _, c := range g.InitContainers {
			a.describeContainer(w, &c, true)
		}
	}
	f.head("Containers")
	for _, c := range g.Containers {
		a.describeContainer(w, &c, false)
	}

	if len(g.Volumes) == 0 {
		f.add("Volumes", "<none>")
	} else {
		f.head("Volumes")
		for _, v := range g.Volumes {
			vf := fields{w: w, indent: "    ", width: 10}
			fmt.Fprintf(w, "  %s:\n", v.Name)
			vf.add("Type", v.Type)
			switch {
			case v.ConfigFileVolume != nil:
				var paths []string
				for _, p := range v.ConfigFileVolume.ConfigFileToPaths {
					paths = append(paths, p.Path)
				}
				vf.add("Files", strings.Join(paths, ", "))
			case v.EBSVolume != nil:
				e := v.EBSVolume
				vf.add("Volume ID", e.VolumeID)
				vf.add("FS Type", e.FsType)
				if e.Size > 0 { // a disk kcid made for a group
					vf.add("Disk", fmt.Sprintf("%d GB %s, %s", e.Size, e.Type, map[bool]string{true: "deleted with the group", false: "kept after the group"}[e.DeleteWithInstance]))
				}
			case v.NFSVolume != nil:
				n := v.NFSVolume
				vf.add("Export", n.Server+":"+n.Path+map[bool]string{true: " (read-only)"}[n.ReadOnly])
			}
		}
	}
	if d := g.DNSConfig; d != nil {
		f.head("DNS")
		df := fields{w: w, indent: "  ", width: 13}
		if len(d.NameServers) > 0 {
			df.add("Name Servers", strings.Join(d.NameServers, ", "))
		}
		if len(d.Searches) > 0 {
			df.add("Searches", strings.Join(d.Searches, ", "))
		}
		if len(d.Options) > 0 {
			var opts []string
			for _, o := range d.Options {
				if o.Value != nil && *o.Value != "" {
					opts = append(opts, o.Name+":"+*o.Value)
				} else {
					opts = append(opts, o.Name)
				}
			}
			df.add("Options", strings.Join(opts, ", "))
		}
	}
	if len(g.HostAliases) > 0 {
		f.head("Host Aliases")
		for _, h := range g.HostAliases {
			fmt.Fprintf(w, "  %s  %s\n", h.IP, strings.Join(h.Hostnames, " "))
		}
	}
	describeTimeline(w, g.StartTimeline)
	a.describeEvents(w, g.Events)
}

// probeLine renders a probe as kubectl describe does: the handler, then
// delay, timeout, period and thresholds.
func probeLine(p *kci.ProbeDetail) string {
	var handler string
	switch {
	case p.HTTPGet != nil:
		scheme := strings.ToLower(p.HTTPGet.Scheme)
		if scheme == "" {
			scheme = "http"
		}
		handler = fmt.Sprintf("http-get %s://:%d%s", scheme, p.HTTPGet.Port, p.HTTPGet.Path)
	case p.TCPSocket != nil:
		handler = fmt.Sprintf("tcp-socket :%d", p.TCPSocket.Port)
	case p.Exec != nil:
		handler = "exec [" + strings.Join(p.Exec.Commands, " ") + "]"
	default:
		handler = "<unknown>"
	}
	return fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		handler, p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
}

// describeTimeline prints the steps of the group's first start: when each
// was reached (UTC, milliseconds), how long after acceptance and how long
// after the step before.
func describeTimeline(w io.Writer, steps []kci.StartStep) {
	if len(steps) == 0 {
		return
	}
	fmt.Fprintln(w, "Start Timeline:")
	t := newTable(w, "  STEP", "CONTAINER", "TIME (UTC)", "ELAPSED", "STEP TOOK")
	prev := steps[0].ElapsedMs
	for _, s := range steps {
		t.row("  "+s.Step, s.ContainerName, s.Time.UTC().Format("15:04:05.000"),
			fmt.Sprintf("+%dms", s.ElapsedMs), fmt.Sprintf("%dms", s.ElapsedMs-prev))
		prev = s.ElapsedMs
	}
	t.flush()
}

func (a *app) describeContainer(w io.Writer, c *kci.ContainerDetail, init bool) {
	fmt.Fprintf(w, "  %s:\n", c.Name)
	f := fields{w: w, indent: "    ", width: 15}
	f.add("Image", c.Image)
	if c.ImagePullPolicy != nil && *c.ImagePullPolicy != "" {
		f.add("Pull Policy", *c.ImagePullPolicy)
	}
	if len(c.Commands) > 0 {
		f.add("Command", shellJoin(c.Commands))
	}
	if len(c.Args) > 0 {
		f.add("Args", shellJoin(c.Args))
	}
	if c.WorkingDir != nil && *c.WorkingDir != "" {
		f.add("Working Dir", *c.WorkingDir)
	}
	if c.CPU != nil {
		f.add("CPU", num(*c.CPU))
	}
	if c.Memory != nil {
		f.add("Memory", num(*c.Memory)+" GiB")
	}
	if len(c.Ports) > 0 {
		var ps []string
		for _, p := range c.Ports {
			ps = append(ps, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
		f.add("Ports", strings.Join(ps, ", "))
	}
	a.describeState(f, "State", c.CurrentState)
	if c.PreviousState != nil {
		a.describeState(f, "Last State", c.PreviousState)
	}
	if !init { // init containers are never ready: they run to completion
		f.add("Ready", fmt.Sprint(c.Ready))
	}
	f.add("Restart Count", fmt.Sprint(c.RestartCount))
	for _, p := range []struct {
		label string
		probe *kci.ProbeDetail
	}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
		if p.probe != nil {
			f.add(p.label, probeLine(p.probe))
		}
	}
	if len(c.EnvironmentVars) > 0 {
		f.head("Environment")
		for _, e := range c.EnvironmentVars {
			v := e.Value
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				// As kubectl describe shows a field reference.
				v = "(" + e.ValueFrom.FieldRef.FieldPath + ")"
			}
			fmt.Fprintf(w, "      %s=%s\n", e.Key, v)
		}
	}
	if len(c.VolumeMounts) > 0 {
		f.head("Mounts")
		for _, m := range c.VolumeMounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			fmt.Fprintf(w, "      %s from %s (%s)\n", m.MountPath, m.Name, mode)
		}
	}
}

func (a *app) describeState(f fields, label string, s *kci.ContainerState) {
	if s == nil {
		f.add(label, "<unknown>")
		return
	}
	f.add(label, strings.ToUpper(s.State[:1])+s.State[1:])
	sub := fields{w: f.w, indent: f.indent + "  ", width: f.width - 2}
	if r := s.ReasonString(); r != "" {
		sub.add("Reason", r)
	}
	if s.ExitCode != nil {
		sub.add("Exit Code", fmt.Sprint(*s.ExitCode))
	}
	if s.StartTime != nil {
		sub.add("Started", a.when(*s.StartTime))
	}
	if s.FinishTime != nil {
		sub.add("Finished", a.when(*s.FinishTime))
	}
}

func (a *app) describeEvents(w io.Writer, events []kci.Event) {
	if len(events) == 0 {
		fmt.Fprintln(w, "Events:            <none>")
		return
	}
	fmt.Fprintln(w, "Events:")
	a.eventTable(w, "  ", events)
}

// eventTable prints events, oldest first, each line after indent.
func (a *app) eventTable(w io.Writer, indent string, events []kci.Event) {
	t := newTable(w, indent+"TYPE", "REASON", "AGE", "MESSAGE")
	for _, e := range events {
		ago := since(a.env.Now, e.LastTimestamp)
		if e.Count > 1 {
			ago = fmt.Sprintf("%s (x%d over %s)", ago, e.Count, since(a.env.Now, e.FirstTimestamp))
		}
		t.row(indent+e.Type, e.Reason, ago, e.Message)
	}
	t.flush()
}
