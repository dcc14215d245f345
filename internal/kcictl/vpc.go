package kcictl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/pkg/kci"
)

// This file holds the commands of the VPC API: vpc, subnet and
// security-group. Wherever one of them is named, an ID or a name works
// (a name must be the account's only object of that kind with it).

// netObject is a VPC, subnet or security group as a name resolves.
type netObject struct{ id, name string }

// pickNetObject finds ref among objs by ID, then by exact name. kind is
// "VPC", "subnet" or "security group"; list is the kcictl command that
// lists them.
func pickNetObject(kind, list, ref string, objs []netObject) (string, error) {
	var named []string
	for _, o := range objs {
		if o.id == ref {
			return o.id, nil
		}
		if o.name == ref {
			named = append(named, o.id)
		}
	}
	switch len(named) {
	case 1:
		return named[0], nil
	case 0:
		return "", &noSuchObject{kind, list, ref}
	}
	return "", fmt.Errorf("%d %ss are named %q (%s): give the ID", len(named), kind, ref, strings.Join(named, ", "))
}

// noSuchObject is a reference that names no object of the account.
type noSuchObject struct{ kind, list, ref string }

func (e *noSuchObject) Error() string {
	return fmt.Sprintf("no %s has the ID or name %q ('kcictl %s' lists them)", e.kind, e.ref, e.list)
}

// orNoneText is s, or "<none>" when it is empty (a table cell).
func orNoneText(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// cloudAge is the age of a VPC API CreateTime ("2006-01-02 15:04:05",
// UTC+8).
func (a *app) cloudAge(createTime string) string {
	var t kci.CloudTime
	if err := t.UnmarshalJSON([]byte(strconv.Quote(createTime))); err != nil {
		return "<unknown>"
	}
	return since(a.env.Now, t.Time)
}

// checkOutput refuses an -o kcictl's network commands do not print.
func checkOutput(cmd *cobra.Command, output string) error {
	switch output {
	case "table", "json", "id":
		return nil
	}
	return usagef(cmd, "-o %q: want table, json or id", output)
}

func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "table", "output format: table, json (the API's fields) or id")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "id"}, cobra.ShellCompDirectiveNoFileComp))
}

// parseBlock reads a CIDR flag: an IPv4 network without host bits.
func parseBlock(flag, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("--%s is required: an IPv4 block such as 10.1.0.0/16", flag)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return "", fmt.Errorf("--%s %q: want an IPv4 block such as 10.1.0.0/16", flag, s)
	}
	if p.Masked() != p {
		return "", fmt.Errorf("--%s %q has host bits set: did you mean %s?", flag, s, p.Masked())
	}
	return p.String(), nil
}

// parseNameServer reads --dns1/--dns2: an IPv4 address other than
// 0.0.0.0, or "" (none).
func parseNameServer(flag, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, ok := core.NameServerAddr(s)
	if !ok {
		return "", fmt.Errorf("--%s %q: want the IPv4 address of a name server, such as 10.0.0.2", flag, s)
	}
	return a.String(), nil
}

// netKind is what the commands of VPCs, subnets and security groups
// differ in, for objects of type T.
type netKind[T any] struct {
	kind    string // "subnet": in messages
	plural  string // "subnets": in "No subnets."
	command string // "subnet": the kcictl command
	setName string // "SubnetSet": the API's name of the list, for -o json
	list    func(ctx context.Context, c *kci.Client, filters []kci.Filter) ([]T, error)
	// ident is an object's ID, name and VPC.
	ident func(*T) (id, name, vpc string)
}

var (
	vpcKind = netKind[kci.Vpc]{"VPC", "VPCs", "vpc", "VpcSet",
		func(ctx context.Context, c *kci.Client, filters []kci.Filter) ([]kci.Vpc, error) {
			return c.ListVpcs(ctx, &kci.DescribeVpcsRequest{Filters: filters})
		},
		func(v *kci.Vpc) (string, string, string) { return v.VpcID, v.VpcName, v.VpcID }}
	subnetKind = netKind[kci.Subnet]{"subnet", "subnets", "subnet", "SubnetSet",
		func(ctx context.Context, c *kci.Client, filters []kci.Filter) ([]kci.Subnet, error) {
			return c.ListSubnets(ctx, &kci.DescribeSubnetsRequest{Filters: filters})
		},
		func(s *kci.Subnet) (string, string, string) { return s.SubnetID, s.SubnetName, s.VpcID }}
	securityGroupKind = netKind[kci.SecurityGroup]{"security group", "security groups", "security-group", "SecurityGroupSet",
		func(ctx context.Context, c *kci.Client, filters []kci.Filter) ([]kci.SecurityGroup, error) {
			return c.ListSecurityGroups(ctx, &kci.DescribeSecurityGroupsRequest{Filters: filters})
		},
		func(g *kci.SecurityGroup) (string, string, string) {
			return g.SecurityGroupID, g.SecurityGroupName, g.VpcID
		}}
)

// pick finds ref among all by ID, then by name.
func (k netKind[T]) pick(ref string, all []T) (*T, error) {
	objs := make([]netObject, len(all))
	for i := range all {
		objs[i].id, objs[i].name, _ = k.ident(&all[i])
	}
	id, err := pickNetObject(k.kind, k.command+" list", ref, objs)
	if err != nil {
		return nil, err
	}
	for i := range objs {
		if objs[i].id == id {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("no %s has the ID %q", k.kind, id)
}

// idOf is the ID of the object of all that ref names (an ID or a name);
// a ref that names none is returned as it is, for the server to judge.
func (k netKind[T]) idOf(ref string, all []T) (string, error) {
	o, err := k.pick(ref, all)
	var none *noSuchObject
	if errors.As(err, &none) {
		return ref, nil
	}
	if err != nil {
		return "", err
	}
	id, _, _ := k.ident(o)
	return id, nil
}

// find is the account's object ref (an ID or a name).
func (k netKind[T]) find(ctx context.Context, c *kci.Client, ref string) (*T, error) {
	all, err := k.list(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	return k.pick(ref, all)
}

// resolve is kcictl's client and the account's object ref.
func (k netKind[T]) resolve(ctx context.Context, a *app, ref string) (*kci.Client, *T, error) {
	c, err := a.kci()
	if err != nil {
		return nil, nil, err
	}
	o, err := k.find(ctx, c, ref)
	return c, o, err
}

// object is what deleteEach reports of o.
func (k netKind[T]) object(o *T) netObject {
	id, name, _ := k.ident(o)
	return netObject{id, name}
}

// complete completes the names (unique ones) and IDs of the kind's
// objects, for the first argument only unless all is set.
func (k netKind[T]) complete(a *app, all bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !all {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := a.kci()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		objs, err := k.list(cmd.Context(), c, nil)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := map[string]int{}
		for i := range objs {
			_, name, _ := k.ident(&objs[i])
			names[name]++
		}
		var out []cobra.Completion
		for i := range objs {
			id, name, _ := k.ident(&objs[i])
			if name != "" && names[name] == 1 && strings.HasPrefix(name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(name, id))
			}
			if toComplete != "" && strings.HasPrefix(id, toComplete) {
				out = append(out, cobra.CompletionWithDesc(id, name))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// withCompletion sets the completion of a network command's arguments
// and of its --vpc flag.
func withCompletion[T any](a *app, cmd *cobra.Command, k netKind[T], all bool) *cobra.Command {
	cmd.ValidArgsFunction = k.complete(a, all)
	if cmd.Flags().Lookup("vpc") != nil {
		_ = cmd.RegisterFlagCompletionFunc("vpc", vpcKind.complete(a, true))
	}
	return cmd
}

// resolveVpc finds a VPC by ID or name; "" is the account's only VPC.
func (a *app) resolveVpc(ctx context.Context, c *kci.Client, ref string) (string, error) {
	if ref != "" {
		v, err := vpcKind.find(ctx, c, ref)
		if err != nil {
			return "", err
		}
		return v.VpcID, nil
	}
	vpcs, err := vpcKind.list(ctx, c, nil)
	if err != nil {
		return "", err
	}
	if len(vpcs) == 1 {
		return vpcs[0].VpcID, nil
	}
	var ids []string
	for _, v := range vpcs {
		ids = append(ids, v.VpcID)
	}
	return "", fmt.Errorf("the account has %d VPCs (%s): choose one with --vpc", len(vpcs), orNoneText(strings.Join(ids, ", ")))
}

// listCommand is the list command of a kind: every object, or those
// named; with vpcFlag, --vpc selects one VPC's.
func (k netKind[T]) listCommand(a *app, short, example string, vpcFlag bool, header []string, row func(*T) []string) *cobra.Command {
	var output, vpc string
	cmd := &cobra.Command{
		Use:     "list [ID|NAME...]",
		Aliases: []string{"ls", "get"},
		Short:   short,
		Example: example,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, output); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.kci()
			if err != nil {
				return err
			}
			var filters []kci.Filter
			if vpc != "" {
				v, err := vpcKind.find(ctx, c, vpc)
				if err != nil {
					return err
				}
				filters = []kci.Filter{{Name: kci.VPCFilterVpcID, Values: []string{v.VpcID}}}
			}
			all, err := k.list(ctx, c, filters)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				var chosen []T
				for _, ref := range args {
					o, err := k.pick(ref, all)
					if err != nil {
						return err
					}
					chosen = append(chosen, *o)
				}
				all = chosen
			}
			if all == nil {
				all = []T{}
			}
			switch output {
			case "json":
				return writeJSON(a.env.Stdout, map[string][]T{k.setName: all})
			case "id":
				for i := range all {
					id, _, _ := k.ident(&all[i])
					fmt.Fprintln(a.env.Stdout, id)
				}
				return nil
			}
			if len(all) == 0 {
				fmt.Fprintf(a.env.Stderr, "No %s.\n", k.plural)
				return nil
			}
			t := newTable(a.env.Stdout, header...)
			for i := range all {
				t.row(row(&all[i])...)
			}
			return t.flush()
		},
	}
	if vpcFlag {
		cmd.Flags().StringVar(&vpc, "vpc", "", "only the "+k.plural+" of this VPC (ID or name)")
	}
	outputFlag(cmd, &output)
	return withCompletion(a, cmd, k, true)
}

// deleteCommand is the delete command of a kind.
func (k netKind[T]) deleteCommand(a *app, short, example string, del func(ctx context.Context, c *kci.Client, id string) error) *cobra.Command {
	return withCompletion(a, &cobra.Command{
		Use:     "delete ID|NAME...",
		Aliases: []string{"rm"},
		Short:   short,
		Example: example,
		Args:    minArgs(1, "the "+k.kind+"'s ID or NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.kci()
			if err != nil {
				return err
			}
			all, err := k.list(ctx, c, nil)
			if err != nil {
				return err
			}
			return a.deleteEach(args, func(ref string) (netObject, error) {
				o, err := k.pick(ref, all)
				if err != nil {
					return netObject{}, err
				}
				return k.object(o), nil
			}, func(id string) error { return del(ctx, c, id) })
		},
	}, k, true)
}

// deleteEach resolves every reference first (so one that does not resolve
// deletes nothing), then deletes them in order.
func (a *app) deleteEach(refs []string, resolve func(string) (netObject, error), del func(id string) error) error {
	var objs []netObject
	for _, ref := range refs {
		o, err := resolve(ref)
		if err != nil {
			return err
		}
		objs = append(objs, o)
	}
	var errs []error
	for _, o := range objs {
		if err := del(o.id); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", describeObject(o), err))
			continue
		}
		fmt.Fprintf(a.env.Stdout, "Deleted %s\n", describeObject(o))
	}
	return errors.Join(errs...)
}

func describeObject(o netObject) string {
	if o.name == "" {
		return o.id
	}
	return fmt.Sprintf("%s (%s)", o.name, o.id)
}

// ---- vpc ----

func (a *app) vpcCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vpc",
		Aliases: []string{"vpcs"},
		Short:   "Create, list, rename and delete VPCs",
		Long: `A VPC is a virtual network of the account: its subnets hold container groups,
its security groups filter their traffic. Groups of different VPCs cannot
reach each other. On kcid a VPC's block overlaps no other VPC's on the host.`,
		Example: `  kcictl vpc create dev --cidr 10.60.0.0/16
  kcictl vpc list
  kcictl vpc rename dev staging
  kcictl vpc delete staging`,
	}
	cmd.AddCommand(a.vpcCreateCommand(), a.vpcListCommand(), withCompletion(a, a.vpcRenameCommand(), vpcKind, false), a.vpcDeleteCommand())
	return cmd
}

func (a *app) vpcCreateCommand() *cobra.Command {
	var cidr string
	cmd := &cobra.Command{
		Use:   "create NAME --cidr CIDR",
		Short: "Create a VPC (CreateVpc) and print its ID",
		Long: `create makes a VPC NAME with the IPv4 block CIDR (/8 to /28 on kcid) and prints
its ID. Give it subnets with 'kcictl subnet create' and security groups
with 'kcictl security-group create'.`,
		Example: `  kcictl vpc create dev --cidr 10.60.0.0/16
  VPC=$(kcictl vpc create ci --cidr 10.61.0.0/16)`,
		Args: exactArgs(1, "the VPC's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			block, err := parseBlock("cidr", cidr)
			if err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			c, err := a.kci()
			if err != nil {
				return err
			}
			out, err := c.CreateVpc(cmd.Context(), &kci.CreateVpcRequest{VpcName: args[0], CidrBlock: block})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, out.Vpc.VpcID)
			return nil
		},
	}
	cmd.Flags().StringVar(&cidr, "cidr", "", "the VPC's IPv4 block, such as 10.60.0.0/16 (required)")
	return cmd
}

func (a *app) vpcListCommand() *cobra.Command {
	return vpcKind.listCommand(a, "List the account's VPCs (DescribeVpcs)", `  kcictl vpc list
  kcictl vpc list dev -o json
  kcictl vpc list -o id`, false, []string{"NAME", "ID", "CIDR", "DEFAULT", "AGE"}, func(v *kci.Vpc) []string {
		return []string{orNoneText(v.VpcName), v.VpcID, v.CidrBlock, strconv.FormatBool(v.IsDefault), a.cloudAge(v.CreateTime)}
	})
}

func (a *app) vpcRenameCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rename ID|NAME NEW-NAME",
		Short:   "Rename a VPC (ModifyVpc)",
		Example: `  kcictl vpc rename dev staging`,
		Args:    exactArgs(2, "the VPC's ID or NAME and its NEW-NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.kci()
			if err != nil {
				return err
			}
			id, err := a.resolveVpc(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if _, err := c.ModifyVpc(cmd.Context(), &kci.ModifyVpcRequest{VpcID: id, VpcName: args[1]}); err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "Renamed %s to %s\n", id, args[1])
			return nil
		},
	}
}

func (a *app) vpcDeleteCommand() *cobra.Command {
	return vpcKind.deleteCommand(a, "Delete VPCs (DeleteVpc) that have no subnets or security groups left", `  kcictl vpc delete staging
  kcictl vpc delete 31e21dca-c92e-4b06-a8ce-000000000001 ci`, func(ctx context.Context, c *kci.Client, id string) error {
		_, err := c.DeleteVpc(ctx, &kci.DeleteVpcRequest{VpcID: id})
		return err
	})
}

// ---- subnet ----

func (a *app) subnetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "subnet",
		Aliases: []string{"subnets"},
		Short:   "Create, list, modify and delete subnets",
		Long: `A subnet is a block of a VPC in one availability zone: container groups created
in it (kcictl run --subnet) get their addresses from it, and its name
servers (--dns1, --dns2) when their own DNS names none.`,
		Example: `  kcictl subnet create dev-a --vpc dev --cidr 10.60.1.0/24 --dns1 10.60.1.53
  kcictl subnet list --vpc dev
  kcictl subnet modify dev-a --dns2 8.8.8.8
  kcictl subnet delete dev-a`,
	}
	cmd.AddCommand(a.subnetCreateCommand(), a.subnetListCommand(), withCompletion(a, a.subnetModifyCommand(), subnetKind, false), a.subnetDeleteCommand())
	return cmd
}

func (a *app) subnetCreateCommand() *cobra.Command {
	var vpc, cidr, zone, gateway, dns1, dns2 string
	cmd := &cobra.Command{
		Use:   "create NAME --cidr CIDR [--vpc ID|NAME]",
		Short: "Create a subnet (CreateSubnet) and print its ID",
		Long: `create makes a subnet NAME with the block CIDR inside a VPC (--vpc; left out,
the account's only VPC) and prints its ID. --zone defaults to the region's
first zone, --gateway to the block's first address. --dns1 and --dns2 are
the name servers of groups created in the subnet whose DNS names none.`,
		Example: `  kcictl subnet create dev-a --vpc dev --cidr 10.60.1.0/24
  kcictl subnet create dev-b --vpc dev --cidr 10.60.2.0/24 --zone cn-beijing-6b --dns1 10.60.2.53 --dns2 8.8.8.8`,
		Args: exactArgs(1, "the subnet's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &kci.CreateSubnetRequest{SubnetName: args[0], AvailabilityZone: zone, SubnetType: "Normal"}
			var err error
			if req.CidrBlock, err = parseBlock("cidr", cidr); err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			if gateway != "" {
				if ip, err := netip.ParseAddr(gateway); err != nil || !ip.Is4() {
					return usagef(cmd, "--gateway %q: want an IPv4 address inside --cidr", gateway)
				}
				req.GatewayIP = gateway
			}
			if req.Dns1, err = parseNameServer("dns1", dns1); err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			if req.Dns2, err = parseNameServer("dns2", dns2); err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			c, err := a.kci()
			if err != nil {
				return err
			}
			if req.VpcID, err = a.resolveVpc(cmd.Context(), c, vpc); err != nil {
				return err
			}
			out, err := c.CreateSubnet(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, out.Subnet.SubnetID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&vpc, "vpc", "", "the VPC, by ID or name (default: the account's only VPC)")
	f.StringVar(&cidr, "cidr", "", "the subnet's IPv4 block inside the VPC's, such as 10.60.1.0/24 (required)")
	f.StringVar(&zone, "zone", "", "availability zone (default: the region's first)")
	f.StringVar(&gateway, "gateway", "", "gateway address (default: the block's first address)")
	f.StringVar(&dns1, "dns1", "", "first name server (IPv4) of groups created in the subnet")
	f.StringVar(&dns2, "dns2", "", "second name server (IPv4)")
	_ = cmd.RegisterFlagCompletionFunc("vpc", vpcKind.complete(a, true))
	return cmd
}

func (a *app) subnetListCommand() *cobra.Command {
	return subnetKind.listCommand(a, "List the account's subnets (DescribeSubnets)", `  kcictl subnet list
  kcictl subnet list --vpc dev -o json
  kcictl subnet list dev-a`, true, []string{"NAME", "ID", "VPC", "CIDR", "ZONE", "DNS", "FREE IPS", "AGE"}, func(s *kci.Subnet) []string {
		return []string{orNoneText(s.SubnetName), s.SubnetID, s.VpcID, s.CidrBlock, s.AvailabilityZoneName,
			nameServers(s.Dns1, s.Dns2), s.AvailableIPNumber, a.cloudAge(s.CreateTime)}
	})
}

// nameServers is a subnet's name servers for a table, "<none>" for none.
func nameServers(dns1, dns2 string) string {
	var dns []string
	for _, d := range []string{dns1, dns2} {
		if d != "" {
			dns = append(dns, d)
		}
	}
	return orNoneText(strings.Join(dns, ","))
}

func (a *app) subnetModifyCommand() *cobra.Command {
	var name, dns1, dns2 string
	cmd := &cobra.Command{
		Use:   "modify ID|NAME [--name NEW-NAME] [--dns1 IP] [--dns2 IP]",
		Short: "Rename a subnet or change its name servers (ModifySubnet)",
		Long: `modify changes what its flags name and leaves the rest: --name renames the
subnet, --dns1 and --dns2 set its name servers, and --dns1 "" removes one.
Groups created in the subnet afterwards get the new name servers; groups
already in it keep theirs. Subnets of kcid's config cannot be changed here.`,
		Example: `  kcictl subnet modify dev-a --name dev-east
  kcictl subnet modify dev-a --dns1 10.60.1.53 --dns2 8.8.8.8
  kcictl subnet modify dev-a --dns2 ""`,
		Args: exactArgs(1, "the subnet's ID or NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &kci.ModifySubnetRequest{}
			f := cmd.Flags()
			if f.Changed("name") {
				if name == "" {
					return usagef(cmd, "--name: want a new name, not an empty one")
				}
				req.SubnetName = &name
			}
			for _, ns := range []struct {
				flag string
				val  *string
				dst  **string
			}{{"dns1", &dns1, &req.Dns1}, {"dns2", &dns2, &req.Dns2}} {
				if !f.Changed(ns.flag) {
					continue
				}
				addr, err := parseNameServer(ns.flag, *ns.val)
				if err != nil {
					return &usageError{cmd: cmd, err: err}
				}
				*ns.dst = &addr
			}
			if req.SubnetName == nil && req.Dns1 == nil && req.Dns2 == nil {
				return usagef(cmd, "nothing to change: give --name, --dns1 or --dns2")
			}
			c, s, err := subnetKind.resolve(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			req.SubnetID = s.SubnetID
			out, err := c.ModifySubnet(cmd.Context(), req)
			if err != nil {
				return err
			}
			m := out.Subnet
			fmt.Fprintf(a.env.Stdout, "Modified %s: name %s, name servers %s\n", m.SubnetID, orNoneText(m.SubnetName), nameServers(m.Dns1, m.Dns2))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the subnet's new name")
	f.StringVar(&dns1, "dns1", "", `first name server (IPv4); "" removes it`)
	f.StringVar(&dns2, "dns2", "", `second name server (IPv4); "" removes it`)
	return cmd
}

func (a *app) subnetDeleteCommand() *cobra.Command {
	return subnetKind.deleteCommand(a, "Delete subnets (DeleteSubnet) that no container group is in", `  kcictl subnet delete dev-a dev-b`,
		func(ctx context.Context, c *kci.Client, id string) error {
			_, err := c.DeleteSubnet(ctx, &kci.DeleteSubnetRequest{SubnetID: id})
			return err
		})
}
