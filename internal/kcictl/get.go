package kcictl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

type getOptions struct {
	statuses []string
	subnets  []string
	vpcs     []string
	zones    []string
	labels   []string
	search   string
	output   string
	watch    bool
}

func (a *app) getCommand() *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:     "get [ID|NAME...]",
		Aliases: []string{"ls", "list"},
		Short:   "List container groups",
		Long: `get lists the container groups of the account, all pages of them, oldest
first; with arguments, only those (IDs or names).

Filters combine with AND; the values of one filter with OR. --status takes
Running, Succeeded or Failed (what the API filters on). -l KEY=VALUE selects
on a label (the API's label:KEY filter); several -l of one KEY are ORed,
of different keys ANDed.

-o chooses the output: table (default), wide (adds CPU, memory, zone, subnet,
images), json or yaml (the API's fields), or id (one ID a line, for scripts).

-w watches: after the list it prints a group again whenever its status,
readiness, restarts or IP change, and prints new and deleted groups, until
Ctrl-C.`,
		Example: `  kcictl get
  kcictl ls --status Running -o wide
  kcictl get web -o yaml
  kcictl get --search web -w
  kcictl get -l cluster-id=c1 -l namespace=default
  kcictl get -o id --status Succeeded | xargs -r kcictl delete`,
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "table", "wide", "json", "yaml", "id":
			default:
				return usagef(cmd, "-o %q: want table, wide, json, yaml or id", o.output)
			}
			for _, s := range o.statuses {
				if s != kci.StatusRunning && s != kci.StatusSucceeded && s != kci.StatusFailed {
					return usagef(cmd, "--status %q: the API filters on Running, Succeeded or Failed", s)
				}
			}
			for _, l := range o.labels {
				if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
					return usagef(cmd, "-l %q: want KEY=VALUE", l)
				}
			}
			return a.get(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.statuses, "status", nil, "only groups in these statuses (Running, Succeeded, Failed); repeatable or comma-separated")
	f.StringSliceVar(&o.subnets, "subnet", nil, "only groups in these subnets")
	f.StringSliceVar(&o.vpcs, "vpc", nil, "only groups in these VPCs")
	f.StringSliceVar(&o.zones, "zone", nil, "only groups in these availability zones")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "only groups with label `KEY=VALUE`; repeatable")
	f.StringVar(&o.search, "search", "", "only groups whose name contains this (any case), or whose IP contains it")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, wide, json, yaml or id")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print groups again as they change (Ctrl-C ends)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "wide", "json", "yaml", "id"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"Running", "Succeeded", "Failed"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *getOptions) request() *kci.DescribeContainerGroupRequest {
	r := &kci.DescribeContainerGroupRequest{Search: o.search}
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			r.Filters = append(r.Filters, kci.Filter{Name: name, Values: vals})
		}
	}
	add(kci.FilterStatus, o.statuses)
	add(kci.FilterSubnetID, o.subnets)
	add(kci.FilterVpcID, o.vpcs)
	add(kci.FilterAvailabilityZone, o.zones)
	byKey := map[string][]string{}
	var keys []string
	for _, l := range o.labels {
		k, v, _ := strings.Cut(l, "=")
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], v)
	}
	for _, k := range keys {
		add(kci.FilterLabelPrefix+k, byKey[k])
	}
	return r
}

func (a *app) list(ctx context.Context, o *getOptions, ids []string) ([]kci.ContainerGroup, error) {
	c, err := a.kci()
	if err != nil {
		return nil, err
	}
	r := o.request()
	if len(ids) > 0 {
		r.ContainerGroupIDs = ids
	}
	return c.ListContainerGroups(ctx, r)
}

func (a *app) get(ctx context.Context, o *getOptions, args []string) error {
	var ids []string
	if len(args) > 0 {
		groups, err := a.resolveAll(ctx, args)
		if err != nil {
			return err
		}
		for _, g := range groups {
			ids = append(ids, g.ContainerGroupID)
		}
	}
	groups, err := a.list(ctx, o, ids)
	if err != nil {
		return err
	}
	if !o.watch {
		return a.printGroups(o.output, groups)
	}
	return a.watch(ctx, o, ids, groups)
}

func (a *app) printGroups(output string, groups []kci.ContainerGroup) error {
	w := a.env.Stdout
	if groups == nil {
		groups = []kci.ContainerGroup{}
	}
	switch output {
	case "json":
		return writeJSON(w, map[string]any{"ContainerGroups": groups})
	case "yaml":
		return writeYAML(w, struct {
			ContainerGroups []kci.ContainerGroup
		}{groups})
	case "id":
		for _, g := range groups {
			fmt.Fprintln(w, g.ContainerGroupID)
		}
		return nil
	}
	if len(groups) == 0 {
		fmt.Fprintln(a.env.Stderr, "No container groups.")
		return nil
	}
	t := a.groupTable(output == "wide")
	for i := range groups {
		t.row(a.groupRow(&groups[i], output == "wide", "")...)
	}
	return t.flush()
}

func (a *app) groupTable(wide bool) *table {
	h := []string{"NAME", "ID", "STATUS", "READY", "RESTARTS", "IP", "AGE"}
	if wide {
		h = append(h, "CPU", "MEMORY", "ZONE", "SUBNET", "IMAGES")
	}
	return newTable(a.env.Stdout, h...)
}

// groupRow is one table row; status overrides the group's ("Deleted").
func (a *app) groupRow(g *kci.ContainerGroup, wide bool, status string) []string {
	if status == "" {
		status = g.Status
	}
	ip := g.PrivateIP()
	if ip == "" {
		ip = "<none>"
	}
	r := []string{g.ContainerGroupName, g.ContainerGroupID, status, ready(g), fmt.Sprint(restarts(g)), ip, since(a.env.Now, g.CreateTime.Time)}
	if wide {
		var images []string
		for _, c := range g.Containers {
			images = append(images, c.Image)
		}
		subnet := "<none>"
		if n := g.PrimaryInterface(); n != nil {
			subnet = n.SubnetID
		}
		r = append(r, num(g.CPU), num(g.Memory)+"Gi", g.AvailabilityZone, subnet, strings.Join(images, ","))
	}
	return r
}

// watchKey is what get -w reports changes of.
func watchKey(g *kci.ContainerGroup) string {
	return fmt.Sprint(g.Status, ready(g), restarts(g), g.PrivateIP())
}

func (a *app) watch(ctx context.Context, o *getOptions, ids []string, groups []kci.ContainerGroup) error {
	seen := map[string]kci.ContainerGroup{}
	keys := map[string]string{}
	var t *table
	emit := func(g *kci.ContainerGroup, status string) error {
		switch o.output {
		case "json":
			b, err := json.Marshal(g)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.env.Stdout, "%s\n", b)
			return err
		case "yaml":
			fmt.Fprintln(a.env.Stdout, "---")
			return writeYAML(a.env.Stdout, g)
		case "id":
			fmt.Fprintln(a.env.Stdout, g.ContainerGroupID)
			return nil
		}
		t.row(a.groupRow(g, o.output == "wide", status)...)
		return nil
	}
	if o.output == "table" || o.output == "wide" {
		t = a.groupTable(o.output == "wide")
	}
	for i := range groups {
		g := &groups[i]
		seen[g.ContainerGroupID], keys[g.ContainerGroupID] = *g, watchKey(g)
		if err := emit(g, ""); err != nil {
			return err
		}
	}
	if t != nil {
		if err := t.flush(); err != nil {
			return err
		}
	}
	for {
		if err := sleep(ctx, a.env.PollInterval); err != nil {
			return nil // Ctrl-C ends a watch normally
		}
		now, err := a.list(ctx, o, ids)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for i := range now {
			g := &now[i]
			present[g.ContainerGroupID] = true
			if k := watchKey(g); keys[g.ContainerGroupID] != k {
				seen[g.ContainerGroupID], keys[g.ContainerGroupID] = *g, k
				if err := emit(g, ""); err != nil {
					return err
				}
			}
		}
		var gone []kci.ContainerGroup
		for id, g := range seen {
			if !present[id] {
				delete(seen, id)
				delete(keys, id)
				g.Status = "Deleted"
				gone = append(gone, g)
			}
		}
		sort.Slice(gone, func(i, j int) bool { return gone[i].CreateTime.Before(gone[j].CreateTime.Time) })
		for i := range gone {
			if err := emit(&gone[i], "Deleted"); err != nil {
				return err
			}
		}
		if t != nil {
			if err := t.flush(); err != nil {
				return err
			}
		}
	}
}
