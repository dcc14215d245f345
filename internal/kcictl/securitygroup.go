package kcictl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

func (a *app) securityGroupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "security-group",
		Aliases: []string{"security-groups", "sg"},
		Short:   "Create, list, describe, rename and delete security groups; allow and revoke traffic",
		Long: `A security group filters the traffic of the container groups in it: what no
rule allows is dropped. Rules allow traffic in (to the groups, from a
source block) or out (from the groups, to a destination block); replies
always pass. A new security group allows everything out and nothing in.`,
		Example: `  kcictl security-group create web --vpc dev
  kcictl sg allow web --protocol tcp --port 80
  kcictl sg allow web --protocol icmp --cidr 10.60.0.0/16
  kcictl sg describe web
  kcictl sg revoke web --protocol tcp --port 80
  kcictl run nginx --image nginx:1.27 --security-group web`,
	}
	k := securityGroupKind
	cmd.AddCommand(a.sgCreateCommand(), a.sgListCommand(), withCompletion(a, a.sgDescribeCommand(), k, false),
		withCompletion(a, a.sgRenameCommand(), k, false), a.sgDeleteCommand(),
		withCompletion(a, a.sgAllowCommand(), k, false), withCompletion(a, a.sgRevokeCommand(), k, false))
	return cmd
}

func (a *app) sgCreateCommand() *cobra.Command {
	var vpc, description string
	cmd := &cobra.Command{
		Use:   "create NAME [--vpc ID|NAME]",
		Short: "Create a security group (CreateSecurityGroup) and print its ID",
		Long: `create makes a security group NAME in a VPC (--vpc; left out, the account's
only VPC) and prints its ID. It starts with one rule, everything out;
'kcictl security-group allow' lets traffic in.`,
		Example: `  kcictl security-group create web --vpc dev
  SG=$(kcictl sg create db --description "postgres only")`,
		Args: exactArgs(1, "the security group's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.kci()
			if err != nil {
				return err
			}
			vpcID, err := a.resolveVpc(cmd.Context(), c, vpc)
			if err != nil {
				return err
			}
			out, err := c.CreateSecurityGroup(cmd.Context(), &kci.CreateSecurityGroupRequest{VpcID: vpcID, SecurityGroupName: args[0], Description: description})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, out.SecurityGroup.SecurityGroupID)
			return nil
		},
	}
	cmd.Flags().StringVar(&vpc, "vpc", "", "the VPC, by ID or name (default: the account's only VPC)")
	cmd.Flags().StringVar(&description, "description", "", "what the group is for")
	_ = cmd.RegisterFlagCompletionFunc("vpc", vpcKind.complete(a, true))
	return cmd
}

func (a *app) sgListCommand() *cobra.Command {
	return securityGroupKind.listCommand(a, "List the account's security groups (DescribeSecurityGroups)", `  kcictl security-group list
  kcictl sg ls --vpc dev -o json`, true, []string{"NAME", "ID", "VPC", "RULES", "TYPE", "AGE"}, func(g *kci.SecurityGroup) []string {
		return []string{orNoneText(g.SecurityGroupName), g.SecurityGroupID, g.VpcID, strconv.Itoa(len(g.SecurityGroupEntrySet)),
			g.SecurityGroupType, a.cloudAge(g.CreateTime)}
	})
}

func (a *app) sgDescribeCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe ID|NAME",
		Short: "Show a security group and its rules",
		Example: `  kcictl security-group describe web
  kcictl sg describe web -o json`,
		Args: exactArgs(1, "the security group's ID or NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "table", "json":
			default:
				return usagef(cmd, "-o %q: want table or json", output)
			}
			_, g, err := securityGroupKind.resolve(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.env.Stdout, g)
			}
			w := a.env.Stdout
			f := fields{w: w, width: 12}
			f.add("Name", orNoneText(g.SecurityGroupName))
			f.add("ID", g.SecurityGroupID)
			f.add("VPC", g.VpcID)
			f.add("Type", g.SecurityGroupType)
			f.add("Description", orNoneText(g.Description))
			f.add("Created", g.CreateTime+" (UTC+8, "+a.cloudAge(g.CreateTime)+" ago)")
			if len(g.SecurityGroupEntrySet) == 0 {
				f.add("Rules", "<none>: nothing in or out")
				return nil
			}
			f.head("Rules")
			t := newTable(w, "  RULE ID", "DIRECTION", "PROTOCOL", "PORTS", "CIDR", "DESCRIPTION")
			for _, e := range g.SecurityGroupEntrySet {
				t.row("  "+e.SecurityGroupEntryID, e.Direction, e.Protocol, ruleTarget(e), e.CidrBlock, orNoneText(e.Description))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json (the API's fields)")
	return cmd
}

// ruleTarget is a rule's ports (TCP, UDP) or ICMP type and code, as
// kcictl's flags spell them.
func ruleTarget(e kci.SecurityGroupEntry) string {
	switch strings.ToUpper(e.Protocol) {
	case "TCP", "UDP":
		if e.PortRangeFrom == 1 && e.PortRangeTo == 65535 {
			return "all"
		}
		if e.PortRangeFrom == e.PortRangeTo {
			return strconv.Itoa(e.PortRangeFrom)
		}
		return fmt.Sprintf("%d-%d", e.PortRangeFrom, e.PortRangeTo)
	case "ICMP":
		if e.IcmpType == -1 {
			return "all"
		}
		code := "any"
		if e.IcmpCode != -1 {
			code = strconv.Itoa(e.IcmpCode)
		}
		return fmt.Sprintf("type %d code %s", e.IcmpType, code)
	}
	return "all"
}

func (a *app) sgRenameCommand() *cobra.Command {
	var description string
	cmd := &cobra.Command{
		Use:   "rename ID|NAME NEW-NAME [--description TEXT]",
		Short: "Rename a security group, or change its description (ModifySecurityGroup)",
		Example: `  kcictl security-group rename web frontend
  kcictl sg rename web web --description "public HTTP"`,
		Args: exactArgs(2, "the security group's ID or NAME and its NEW-NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, g, err := securityGroupKind.resolve(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			out, err := c.ModifySecurityGroup(cmd.Context(), &kci.ModifySecurityGroupRequest{SecurityGroupID: g.SecurityGroupID,
				SecurityGroupName: args[1], Description: description})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "Renamed %s to %s\n", g.SecurityGroupID, out.SecurityGroupName)
			return nil
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "a new description (left out: unchanged)")
	return cmd
}

func (a *app) sgDeleteCommand() *cobra.Command {
	return securityGroupKind.deleteCommand(a, "Delete security groups (DeleteSecurityGroup) that no container group is in", `  kcictl security-group delete web db`,
		func(ctx context.Context, c *kci.Client, id string) error {
			_, err := c.DeleteSecurityGroup(ctx, &kci.DeleteSecurityGroupRequest{SecurityGroupID: id})
			return err
		})
}

// ruleFlags are the flags of allow and revoke that describe a rule.
type ruleFlags struct {
	direction, protocol, port, cidr string
	// icmpType and icmpCode are "" when not given.
	icmpType, icmpCode string
	description        string
}

func (r *ruleFlags) register(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringVar(&r.direction, "direction", "in", "in (to the groups, from --cidr) or out (from the groups, to --cidr)")
	f.StringVar(&r.protocol, "protocol", "", "tcp, udp, icmp or ip (every protocol) (required)")
	f.StringVar(&r.port, "port", "", "for tcp and udp: a `PORT` or a range FROM-TO (default: every port)")
	f.StringVar(&r.cidr, "cidr", "0.0.0.0/0", "the IPv4 block "+what+" (source of in, destination of out)")
	f.StringVar(&r.icmpType, "icmp-type", "", "for icmp: the type, 0-255 (default: any)")
	f.StringVar(&r.icmpCode, "icmp-code", "", "for icmp: the code, 0-255 (default: any); needs --icmp-type")
	_ = cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"in", "out"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"tcp", "udp", "icmp", "ip"}, cobra.ShellCompDirectiveNoFileComp))
}

// changed reports whether any flag of the rule was given.
func (r *ruleFlags) changed(cmd *cobra.Command) bool {
	for _, f := range []string{"direction", "protocol", "port", "cidr", "icmp-type", "icmp-code"} {
		if cmd.Flags().Changed(f) {
			return true
		}
	}
	return false
}

// entry is the rule the flags describe, as AuthorizeSecurityGroupEntry
// takes it; errors name the flag.
func (r *ruleFlags) entry() (*kci.AuthorizeSecurityGroupEntryRequest, error) {
	e := &kci.AuthorizeSecurityGroupEntryRequest{Description: r.description}
	switch d := strings.ToLower(r.direction); d {
	case "in", "out":
		e.Direction = d
	default:
		return nil, fmt.Errorf("--direction %q: want in or out", r.direction)
	}
	switch p := strings.ToLower(r.protocol); p {
	case "tcp", "udp", "icmp", "ip":
		e.Protocol = strings.ToUpper(p)
	case "":
		return nil, errors.New("--protocol is required: tcp, udp, icmp or ip (every protocol)")
	default:
		return nil, fmt.Errorf("--protocol %q: want tcp, udp, icmp or ip (every protocol)", r.protocol)
	}
	block, err := parseBlock("cidr", r.cidr)
	if err != nil {
		return nil, err
	}
	e.CidrBlock = block
	if r.port != "" && e.Protocol != "TCP" && e.Protocol != "UDP" {
		return nil, fmt.Errorf("--port is for tcp and udp, not %s", strings.ToLower(e.Protocol))
	}
	if (r.icmpType != "" || r.icmpCode != "") && e.Protocol != "ICMP" {
		return nil, fmt.Errorf("--icmp-type and --icmp-code are for icmp, not %s", strings.ToLower(e.Protocol))
	}
	switch e.Protocol {
	case "TCP", "UDP":
		e.PortRangeFrom, e.PortRangeTo = 1, 65535
		if r.port != "" {
			if e.PortRangeFrom, e.PortRangeTo, err = parsePortRange(r.port); err != nil {
				return nil, err
			}
		}
	case "ICMP":
		typ, code := -1, -1
		if r.icmpType != "" {
			if typ, err = parseICMP("icmp-type", r.icmpType); err != nil {
				return nil, err
			}
		}
		if r.icmpCode != "" {
			if r.icmpType == "" {
				return nil, errors.New("--icmp-code needs --icmp-type")
			}
			if code, err = parseICMP("icmp-code", r.icmpCode); err != nil {
				return nil, err
			}
		}
		e.IcmpType, e.IcmpCode = &typ, &code
	}
	return e, nil
}

func parsePortRange(s string) (from, to int, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	from, err1 := strconv.Atoi(lo)
	to, err2 := from, error(nil)
	if isRange {
		to, err2 = strconv.Atoi(hi)
	}
	switch {
	case err1 != nil || err2 != nil || from < 1 || to > 65535 || to < 1 || from > 65535:
		return 0, 0, fmt.Errorf("--port %q: want a port from 1 to 65535, or a range such as 8000-8100", s)
	case to < from:
		return 0, 0, fmt.Errorf("--port %q: the range ends below its start", s)
	}
	return from, to, nil
}

func parseICMP(flag, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("--%s %q: want a number from 0 to 255", flag, s)
	}
	return n, nil
}

// matches reports whether an existing rule is the one e describes.
func matches(x kci.SecurityGroupEntry, e *kci.AuthorizeSecurityGroupEntryRequest) bool {
	if !strings.EqualFold(x.Direction, e.Direction) || !strings.EqualFold(x.Protocol, e.Protocol) {
		return false
	}
	if p, err := netip.ParsePrefix(x.CidrBlock); err != nil || p.Masked().String() != e.CidrBlock {
		return false
	}
	switch e.Protocol {
	case "TCP", "UDP":
		return x.PortRangeFrom == e.PortRangeFrom && x.PortRangeTo == e.PortRangeTo
	case "ICMP":
		return x.IcmpType == *e.IcmpType && x.IcmpCode == *e.IcmpCode
	}
	return true
}

func (a *app) sgAllowCommand() *cobra.Command {
	var r ruleFlags
	cmd := &cobra.Command{
		Use:   "allow ID|NAME --protocol tcp|udp|icmp|ip [--port P[-Q]] [--cidr CIDR] [--direction in|out]",
		Short: "Add a rule that lets traffic in or out (AuthorizeSecurityGroupEntry)",
		Long: `allow adds one rule to the security group and prints its ID. By default the
rule lets traffic in (--direction in) from anywhere (--cidr 0.0.0.0/0) to
every port of the protocol; --port and --cidr narrow it. A rule that is
there already is refused, naming its ID.`,
		Example: `  kcictl sg allow web --protocol tcp --port 80
  kcictl sg allow web --protocol tcp --port 8000-8100 --cidr 10.60.0.0/16
  kcictl sg allow web --protocol icmp --icmp-type 8          # ping
  kcictl sg allow web --protocol udp --port 53 --direction out --cidr 10.60.1.53/32
  kcictl sg allow db --protocol ip --cidr 10.60.1.0/24 --description "the app subnet"`,
		Args: exactArgs(1, "the security group's ID or NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := r.entry()
			if err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			c, g, err := securityGroupKind.resolve(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			e.SecurityGroupID = g.SecurityGroupID
			out, err := c.AuthorizeSecurityGroupEntry(cmd.Context(), e)
			if err != nil {
				return err
			}
			for _, id := range out.SecurityGroupEntryIDSet {
				fmt.Fprintln(a.env.Stdout, id)
			}
			return nil
		},
	}
	r.register(cmd, "the traffic comes from or goes to")
	cmd.Flags().StringVar(&r.description, "description", "", "what the rule is for")
	return cmd
}

func (a *app) sgRevokeCommand() *cobra.Command {
	var r ruleFlags
	cmd := &cobra.Command{
		Use:   "revoke ID|NAME (RULE-ID... | --protocol ... [--port ...] [--cidr ...] [--direction ...])",
		Short: "Remove rules (RevokeSecurityGroupEntry), by rule ID or by the flags allow took",
		Long: `revoke removes rules from the security group: those whose IDs follow the
group ('kcictl security-group describe' shows them), or the one rule the
flags describe, with allow's defaults (--direction in, --cidr 0.0.0.0/0,
every port). Connections already established go on until they end.`,
		Example: `  kcictl sg revoke web --protocol tcp --port 80
  kcictl sg revoke web 6f1c0d2e-8b1a-4e55-9d0c-3c2b1a0f9e8d`,
		Args: minArgs(1, "the security group's ID or NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := args[1:]
			var e *kci.AuthorizeSecurityGroupEntryRequest
			switch {
			case len(ids) > 0 && r.changed(cmd):
				return usagef(cmd, "give rule IDs or --protocol and the rule's flags, not both")
			case len(ids) == 0:
				var err error
				if e, err = r.entry(); err != nil {
					return &usageError{cmd: cmd, err: fmt.Errorf("%w (or give the rule IDs 'kcictl security-group describe' shows)", err)}
				}
			}
			c, g, err := securityGroupKind.resolve(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			if e != nil {
				for _, x := range g.SecurityGroupEntrySet {
					if matches(x, e) {
						ids = append(ids, x.SecurityGroupEntryID)
					}
				}
				if len(ids) == 0 {
					return fmt.Errorf("security group %s has no such rule ('kcictl security-group describe %s' lists its rules)", g.SecurityGroupID, args[0])
				}
			}
			for _, id := range ids {
				if _, err := c.RevokeSecurityGroupEntry(cmd.Context(), &kci.RevokeSecurityGroupEntryRequest{SecurityGroupID: g.SecurityGroupID, SecurityGroupEntryID: id}); err != nil {
					return fmt.Errorf("revoking rule %s: %w", id, err)
				}
				fmt.Fprintf(a.env.Stdout, "Revoked %s\n", id)
			}
			return nil
		},
	}
	r.register(cmd, "of the rule")
	return cmd
}
