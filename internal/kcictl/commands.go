package kcictl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/openkci/openkci/pkg/kci"
)

func (a *app) createCommand() *cobra.Command {
	var (
		file string
		f    flowOptions
	)
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create container groups from a YAML or JSON spec",
		Long: `create sends CreateContainerGroup for each document of FILE (YAML or JSON; "-"
reads standard input; YAML may hold several documents separated by ---) and
prints each new group's ID.

The spec mirrors the API's request: the parameter names of
CreateContainerGroup, with lists as YAML lists (Container, Port,
EnvironmentVar, Volume, ...) instead of .N suffixes. It is the JSON body kcid
accepts. Unknown fields are errors, so typos do not pass silently.

Left out, these get defaults: ChargeType (HourlyInstantSettlement), SubnetId
and SecurityGroupId (the account's only ones), Cpu and Memory (the sum of the
containers' when they all set them, else 1 CPU and 2 GiB). ConfigFile
Content is Base64, as in the API.

Example spec:

  ContainerGroupName: web
  RestartPolicy: Always          # Always, OnFailure or Never
  Cpu: 1
  Memory: 2                      # GiB
  Container:
    - Name: nginx
      Image: nginx:1.27
      Port:
        - {Port: 80, Protocol: TCP}
      EnvironmentVar:
        - {Key: MODE, Value: prod}
      VolumeMount:
        - {Name: conf, MountPath: /etc/nginx/conf.d, ReadOnly: true}
        - {Name: cache, MountPath: /var/cache/nginx}
    - Name: sidecar
      Image: busybox:1.36
      Command: [sh, -c]
      Arg: ["while true; do date; sleep 60; done"]
  Volume:
    - Name: conf
      Type: ConfigFileVolume
      ConfigFileVolume:
        ConfigFileToPath:
          - Path: default.conf
            Content: c2VydmVyIHsgbGlzdGVuIDgwOyB9Cg==   # base64 -w0 default.conf
    - Name: cache
      Type: EmptyDirVolume
  DnsConfig:
    NameServer: [10.0.0.53]
    Search: [svc.local]
    Option: [{Name: ndots, Value: "2"}]
  HostAliase:
    - {Ip: 10.0.0.9, Hostname: [db, db.local]}`,
		Example: `  kcictl create -f web.yaml
  kcictl create -f web.yaml --dry-run
  kcictl create -f web.json --wait
  cat web.yaml | kcictl create -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef(cmd, "-f FILE is required")
			}
			reqs, err := a.readSpecs(file)
			if err != nil {
				return err
			}
			for _, r := range reqs {
				if err := a.createFlow(cmd.Context(), r, f); err != nil {
					if len(reqs) > 1 {
						return fmt.Errorf("%s: %w", r.ContainerGroupName, err)
					}
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "spec file, YAML or JSON (- for standard input)")
	a.flowFlags(cmd, &f, false)
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// readSpecs reads the documents of a spec file into requests.
func (a *app) readSpecs(file string) ([]*kci.CreateContainerGroupRequest, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(a.env.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	reqs, err := parseSpecs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return reqs, nil
}

// parseSpecs decodes YAML (JSON is YAML) documents strictly into requests,
// by way of JSON so that the request's json tags (the wire names) apply.
func parseSpecs(data []byte) ([]*kci.CreateContainerGroupRequest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*kci.CreateContainerGroupRequest
	for i := 1; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if doc == nil {
			continue
		}
		doc = normalizeSpelling(doc)
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		jd := json.NewDecoder(bytes.NewReader(b))
		jd.DisallowUnknownFields()
		r := &kci.CreateContainerGroupRequest{}
		if err := jd.Decode(r); err != nil {
			return nil, fmt.Errorf("document %d: %s", i, strings.TrimPrefix(err.Error(), "json: "))
		}
		if r.ContainerGroupName == "" {
			return nil, fmt.Errorf("document %d: ContainerGroupName is required", i)
		}
		if len(r.Containers) == 0 {
			return nil, fmt.Errorf("document %d: at least one Container is required", i)
		}
		fillResources(r)
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no container group in the file")
	}
	return out, nil
}

// normalizeSpelling accepts the alternative spellings kcid accepts
// (HostAlias, ConfigFilePath, Mode) by renaming them to the canonical ones.
func normalizeSpelling(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			switch k {
			case "HostAlias":
				k = "HostAliase"
			case "ConfigFilePath":
				k = "ConfigFileToPath"
			case "Mode":
				k = "mode"
			}
			out[k] = normalizeSpelling(e)
		}
		return out
	case []any:
		for i := range t {
			t[i] = normalizeSpelling(t[i])
		}
	}
	return v
}

// fillResources defaults the group's Cpu and Memory.
func fillResources(r *kci.CreateContainerGroupRequest) {
	var cpu, mem float64
	cpuAll, memAll := true, true
	for _, c := range r.Containers {
		cpu += c.CPU
		mem += c.Memory
		cpuAll = cpuAll && c.CPU > 0
		memAll = memAll && c.Memory > 0
	}
	if r.CPU == 0 {
		r.CPU = defaultCPU
		if cpuAll {
			r.CPU = cpu
		}
	}
	if r.Memory == 0 {
		r.Memory = defaultMemory
		if memAll {
			r.Memory = mem
		}
	}
}

func (a *app) deleteCommand() *cobra.Command {
	var (
		wait    bool
		dryRun  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:     "delete ID|NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete container groups",
		Long: `delete deletes groups. Every argument is resolved first, so a name that does
not resolve deletes nothing. The groups' containers get SIGTERM, then SIGKILL
after the server's grace period, in the background; --wait waits until the
groups are no longer listed.`,
		Example: `  kcictl delete web
  kcictl delete web job-1 5f0c6a4e-1b7c-4a57-9d3e-2a8b6c1d9e00 --wait`,
		Args:              minArgs(1, "the container group ID or NAME"),
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.kci()
			if err != nil {
				return err
			}
			groups, err := a.resolveAll(ctx, args)
			if err != nil {
				return err
			}
			var errs []error
			var deleted []*kci.ContainerGroup
			for _, g := range groups {
				_, err := c.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: g.ContainerGroupID, DryRun: dryRun})
				switch {
				case dryRun && kci.IsDryRunOperation(err):
					fmt.Fprintf(a.env.Stdout, "Dry run: %s (%s) would be deleted.\n", g.ContainerGroupName, g.ContainerGroupID)
				case err != nil:
					errs = append(errs, fmt.Errorf("deleting %s (%s): %w", g.ContainerGroupName, g.ContainerGroupID, err))
				default:
					fmt.Fprintf(a.env.Stdout, "Deleted %s (%s)\n", g.ContainerGroupName, g.ContainerGroupID)
					deleted = append(deleted, g)
				}
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			if !wait || dryRun {
				return nil
			}
			tctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			for _, g := range deleted {
				_, err := a.newPoller(g, nil).until(tctx, func(*kci.ContainerGroup) (bool, error) { return false, nil })
				switch {
				case errors.Is(err, errGone):
				case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					return fmt.Errorf("timed out after %s: %s is still listed", timeout, g.ContainerGroupName)
				default:
					return err
				}
			}
			fmt.Fprintln(a.env.Stderr, "All gone.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the groups are no longer listed")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only check (the API's DryRun): nothing is deleted")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// Conditions of kcictl wait.
var waitConditions = []string{kci.StatusRunning, kci.StatusSucceeded, kci.StatusFailed, "Ended", "Deleted"}

func (a *app) waitCommand() *cobra.Command {
	var (
		cond    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait ID|NAME --for CONDITION",
		Short: "Wait until a container group is Running, Succeeded, Failed, Ended or Deleted",
		Long: `wait asks every second until the group reaches the condition, then prints
one line and exits 0. It exits 1 when the timeout passes first, or when the
group has ended in another way (say Failed while waiting for Succeeded), so
scripts can rely on the exit code.

Conditions: Running, Succeeded, Failed, Ended (Succeeded, Failed or
CreateError), Deleted.`,
		Example: `  kcictl wait web --for Running --timeout 60s
  kcictl wait job --for Succeeded --timeout 10m && echo done`,
		Args:              exactArgs(1, "the container group ID or NAME"),
		ValidArgsFunction: a.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			ok := false
			for _, c := range waitConditions {
				if strings.EqualFold(c, cond) {
					cond, ok = c, true
				}
			}
			if !ok {
				return usagef(cmd, "--for %q: want one of %s", cond, strings.Join(waitConditions, ", "))
			}
			ctx := cmd.Context()
			g, err := a.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			tctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			got, err := a.newPoller(g, nil).until(tctx, func(g *kci.ContainerGroup) (bool, error) {
				switch {
				case cond == "Deleted":
					return false, nil
				case g.Status == cond || cond == "Ended" && kci.IsFinalStatus(g.Status):
					return true, nil
				case kci.IsFinalStatus(g.Status):
					return false, fmt.Errorf("%s is %s, and will not be %s%s", g.ContainerGroupName, g.Status, cond, failure(g))
				}
				return false, nil
			})
			switch {
			case errors.Is(err, errGone) && cond == "Deleted":
				fmt.Fprintf(a.env.Stdout, "%s is deleted\n", g.ContainerGroupName)
				return nil
			case errors.Is(err, errGone):
				return fmt.Errorf("%s was deleted while waiting for %s", g.ContainerGroupName, cond)
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				status := "still listed"
				if got != nil {
					status = got.Status + failure(got)
				}
				return fmt.Errorf("timed out after %s waiting for %s to be %s: it is %s", timeout, g.ContainerGroupName, cond, status)
			case err != nil:
				return err
			}
			fmt.Fprintf(a.env.Stdout, "%s is %s\n", got.ContainerGroupName, got.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&cond, "for", "", "condition: "+strings.Join(waitConditions, ", ")+" (required)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	_ = cmd.RegisterFlagCompletionFunc("for", cobra.FixedCompletions(waitConditions, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) networkCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "network",
		Aliases: []string{"networks", "net"},
		Short:   "List the VPCs, subnets and security groups groups can use",
		Long: `network lists the account's VPCs, subnets and security groups in the region
(the VPC API), for --subnet and --security-group.`,
		Example: `  kcictl network
  kcictl network --region cn-shanghai-2`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.kci()
			if err != nil {
				return err
			}
			vpcs, err := c.ListVpcs(ctx, nil)
			if err != nil {
				return err
			}
			subnets, err := c.ListSubnets(ctx, nil)
			if err != nil {
				return err
			}
			sgs, err := c.ListSecurityGroups(ctx, nil)
			if err != nil {
				return err
			}
			w := a.env.Stdout
			t := newTable(w, "VPC", "NAME", "CIDR", "DEFAULT")
			for _, v := range vpcs {
				t.row(v.VpcID, v.VpcName, v.CidrBlock, fmt.Sprint(v.IsDefault))
			}
			t.flush()
			fmt.Fprintln(w)
			t = newTable(w, "SUBNET", "NAME", "VPC", "CIDR", "ZONE", "FREE IPS")
			for _, s := range subnets {
				t.row(s.SubnetID, s.SubnetName, s.VpcID, s.CidrBlock, s.AvailabilityZoneName, s.AvailableIPNumber)
			}
			t.flush()
			fmt.Fprintln(w)
			t = newTable(w, "SECURITY GROUP", "NAME", "VPC")
			for _, s := range sgs {
				t.row(s.SecurityGroupID, s.SecurityGroupName, s.VpcID)
			}
			return t.flush()
		},
	}
}

func (a *app) regionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "regions",
		Short:   "List the regions and availability zones served",
		Example: `  kcictl regions`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.kci()
			if err != nil {
				return err
			}
			out, err := c.DescribeRegions(cmd.Context(), nil)
			if err != nil {
				return err
			}
			t := newTable(a.env.Stdout, "REGION", "NAME", "ZONES")
			for _, r := range out.Regions {
				t.row(r.Region, r.RegionName, strings.Join(r.AvailabilityZones, ","))
			}
			return t.flush()
		},
	}
}
