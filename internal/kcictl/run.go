package kcictl

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
)

// Defaults of run and create.
const (
	defaultCPU    = 1.0
	defaultMemory = 2.0 // GiB
)

type runOptions struct {
	image           string
	cpu, memory     float64
	env             []string
	ports           []string
	restart         string
	subnet          string
	securityGroups  []string
	volumes         []string
	dns             []string
	dnsSearch       []string
	dnsOptions      []string
	hostAliases     []string
	workdir         string
	pull            string
	entrypoint      string
	command         bool
	containerName   string
	credentials     []string
	imageCache      string
	labels          []string
	ingressMbps     int64
	egressMbps      int64
	flow            flowOptions
	restartExplicit bool
}

// flowOptions are what run and create do after sending the request.
type flowOptions struct {
	dryRun      bool
	wait        bool
	deleteAfter bool
	timeout     time.Duration
}

func (a *app) runCommand() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run NAME --image IMAGE [flags] [-- COMMAND [ARG...]]",
		Short: "Create a container group with one container, docker-run style",
		Long: `run creates a container group NAME with one container running IMAGE, and
prints the group's ID.

Words after NAME (put them after -- when they contain flags) replace the
image's command (CMD), as with docker run; --entrypoint replaces its
entrypoint, and --command makes the words the entrypoint and its arguments
(as kubectl run --command does).

Defaults: 1 CPU and 2 GiB; the account's subnet and security group when it
has only one of each; restart policy Always (Never with --delete-after).

Volumes (--volume, repeatable) are SOURCE:PATH[:OPTIONS]:
  /data                 an empty directory at /data
  cache:/data           an empty directory called cache
  ./conf:/etc/app:ro    the files of a local directory (or one file), sent in
                        the request (24 KiB per file at most)
  ebs:VOLUME_ID:/data   an EBS disk (OPTIONS fs=ext4|ext3|xfs, default ext4)
OPTIONS are comma-separated: ro, rw, fs=TYPE.

--wait waits until the group is Running (or has ended), showing its events as
they arrive. --delete-after runs a one-shot job: it waits for the container,
streams its log, deletes the group and exits with the container's exit code.`,
		Example: `  # A long-running group; prints its ID.
  kcictl run web --image nginx:1.27 --port 80 --memory 1

  # Wait for it, showing the events.
  kcictl run web --image nginx:1.27 --wait

  # A one-shot job: stream the log, delete the group, exit with its code.
  kcictl run job --image busybox:1.36 --delete-after -- sh -c 'echo hello; exit 3'

  # Environment, volumes, DNS and /etc/hosts entries.
  kcictl run app --image registry.example.com/app:2 -e MODE=prod -e TOKEN \
    --volume ./config:/etc/app:ro --volume /cache \
    --dns 10.0.0.53 --dns-search svc.local --host-alias 10.0.0.9=db,db.local`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "missing the container group NAME")
			}
			if cmd.ArgsLenAtDash() == 0 {
				return usagef(cmd, "missing the container group NAME before --")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.image == "" {
				return usagef(cmd, "--image is required")
			}
			o.restartExplicit = cmd.Flags().Changed("restart")
			req, err := o.request(args[0], args[1:], a.env.Getenv)
			if err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			if req.ImageCacheID != "" {
				ic, err := a.resolveImageCache(cmd.Context(), req.ImageCacheID)
				if err != nil {
					return err
				}
				req.ImageCacheID = ic.ImageCacheID
			}
			return a.createFlow(cmd.Context(), req, o.flow)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "container image (required)")
	f.Float64Var(&o.cpu, "cpu", defaultCPU, "CPU cores of the group")
	f.Float64Var(&o.memory, "memory", defaultMemory, "memory of the group in GiB")
	f.StringArrayVarP(&o.env, "env", "e", nil, "environment variable `K=V` (K alone: its value here); repeatable")
	f.StringArrayVarP(&o.ports, "port", "p", nil, "port the container listens on, `PORT[/tcp|udp]`; repeatable")
	f.StringVar(&o.restart, "restart", kci.RestartAlways, "restart policy: Always, OnFailure or Never")
	f.StringVar(&o.subnet, "subnet", "", "subnet ID or name (default: the account's only subnet)")
	f.StringArrayVar(&o.securityGroups, "security-group", nil, "security group ID or name, up to 3 (default: the VPC's only one); repeatable")
	_ = cmd.RegisterFlagCompletionFunc("subnet", subnetKind.complete(a, true))
	_ = cmd.RegisterFlagCompletionFunc("security-group", securityGroupKind.complete(a, true))
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "volume `SOURCE:PATH[:OPTIONS]` (see above); repeatable")
	f.StringArrayVar(&o.dns, "dns", nil, "DNS name server IP; repeatable")
	f.StringArrayVar(&o.dnsSearch, "dns-search", nil, "DNS search domain; repeatable")
	f.StringArrayVar(&o.dnsOptions, "dns-option", nil, "resolv.conf option `NAME[:VALUE]`; repeatable")
	f.StringArrayVar(&o.hostAliases, "host-alias", nil, "/etc/hosts entry `IP=HOST[,HOST...]`; repeatable")
	f.StringVar(&o.workdir, "workdir", "", "working directory in the container")
	f.StringVar(&o.pull, "pull", "", "image pull policy: Always, IfNotPresent or Never (default: Always for :latest, else IfNotPresent)")
	f.StringVar(&o.entrypoint, "entrypoint", "", "replace the image's entrypoint")
	f.BoolVar(&o.command, "command", false, "the words after NAME are the entrypoint and its arguments")
	f.StringVar(&o.containerName, "container-name", "", "name of the container (default: NAME)")
	f.StringArrayVar(&o.credentials, "registry-credential", nil, "registry login `USER:PASSWORD@SERVER`; repeatable")
	f.StringVar(&o.imageCache, "image-cache", "", "start from an image cache: its `ID|NAME`, or auto for the best match of the account's caches")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "label `KEY=VALUE` of the group (get -l selects on it); repeatable")
	f.Int64Var(&o.ingressMbps, "ingress-bandwidth", 0, "inbound limit in Mbit/s (0: none)")
	f.Int64Var(&o.egressMbps, "egress-bandwidth", 0, "outbound limit in Mbit/s (0: none)")
	a.flowFlags(cmd, &o.flow, true)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	_ = cmd.RegisterFlagCompletionFunc("restart", cobra.FixedCompletions([]string{"Always", "OnFailure", "Never"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("pull", cobra.FixedCompletions([]string{"Always", "IfNotPresent", "Never"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) flowFlags(cmd *cobra.Command, f *flowOptions, deleteAfter bool) {
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "only check the request (the API's DryRun): nothing is created")
	fl.BoolVar(&f.wait, "wait", false, "wait until the group is Running or has ended, showing its events")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long --wait and --delete-after wait for the container to start")
	if deleteAfter {
		fl.BoolVar(&f.deleteAfter, "delete-after", false, "one-shot job: stream the log, delete the group when it ends, exit with the container's exit code")
	}
}

var containerNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// request builds the CreateContainerGroup request from the flags.
func (o *runOptions) request(name string, words []string, getenv func(string) string) (*kci.CreateContainerGroupRequest, error) {
	restart := o.restart
	if o.flow.deleteAfter && !o.restartExplicit {
		restart = kci.RestartNever
	}
	switch restart {
	case kci.RestartAlways, kci.RestartOnFailure, kci.RestartNever:
	default:
		return nil, fmt.Errorf("--restart %q: want Always, OnFailure or Never", restart)
	}
	cname := o.containerName
	if cname == "" {
		cname = strings.ReplaceAll(name, ".", "-")
		if !containerNameRe.MatchString(cname) {
			cname = "main"
		}
	}
	ctr := kci.Container{InitContainer: kci.InitContainer{Name: cname, Image: o.image, ImagePullPolicy: o.pull, WorkingDir: o.workdir}}
	switch {
	case o.command:
		if len(words) == 0 {
			return nil, errors.New("--command needs a command after NAME")
		}
		if o.entrypoint != "" {
			return nil, errors.New("give either --entrypoint or --command, not both")
		}
		ctr.Command, ctr.Args = words[:1], words[1:]
	case o.entrypoint != "":
		ctr.Command, ctr.Args = []string{o.entrypoint}, words
	default:
		ctr.Args = words
	}
	if len(ctr.Args) == 0 {
		ctr.Args = nil
	}
	for _, e := range o.env {
		k, v, ok := strings.Cut(e, "=")
		if !ok { // docker's -e K: the value kcictl sees
			if v = getenv(k); v == "" {
				return nil, fmt.Errorf("--env %s: no value given and %s is not set here", e, k)
			}
		}
		if k == "" {
			return nil, fmt.Errorf("--env %q: want K=V", e)
		}
		ctr.EnvironmentVars = append(ctr.EnvironmentVars, kci.EnvironmentVar{Key: k, Value: v})
	}
	for _, p := range o.ports {
		port, err := parsePort(p)
		if err != nil {
			return nil, err
		}
		ctr.Ports = append(ctr.Ports, port)
	}
	req := &kci.CreateContainerGroupRequest{
		ContainerGroupName: name,
		SubnetID:           o.subnet,
		SecurityGroupIDs:   o.securityGroups,
		CPU:                o.cpu,
		Memory:             o.memory,
		RestartPolicy:      restart,
		IngressBandwidth:   o.ingressMbps,
		EgressBandwidth:    o.egressMbps,
	}
	for i, spec := range o.volumes {
		vol, mount, err := parseVolume(spec, i+1)
		if err != nil {
			return nil, err
		}
		req.Volumes = append(req.Volumes, vol)
		ctr.VolumeMounts = append(ctr.VolumeMounts, mount)
	}
	if len(o.dns)+len(o.dnsSearch)+len(o.dnsOptions) > 0 {
		d := &kci.DNSConfig{NameServers: o.dns, Searches: o.dnsSearch}
		for _, opt := range o.dnsOptions {
			n, v, _ := strings.Cut(opt, ":")
			d.Options = append(d.Options, kci.DNSOption{Name: n, Value: v})
		}
		req.DNSConfig = d
	}
	for _, h := range o.hostAliases {
		ip, hosts, ok := strings.Cut(h, "=")
		if _, err := netip.ParseAddr(ip); !ok || err != nil || hosts == "" {
			return nil, fmt.Errorf("--host-alias %q: want IP=HOST[,HOST...]", h)
		}
		req.HostAliases = append(req.HostAliases, kci.HostAlias{IP: ip, Hostnames: strings.Split(hosts, ",")})
	}
	for _, l := range o.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", l)
		}
		req.Labels = append(req.Labels, kci.Label{Key: k, Value: v})
	}
	creds, err := parseCredentials(o.credentials)
	if err != nil {
		return nil, err
	}
	req.ImageRegistryCredentials = creds
	switch o.imageCache {
	case "":
	case "auto":
		req.AutoMatchImageCache = true
	default:
		req.ImageCacheID = o.imageCache
	}
	req.Containers = []kci.Container{ctr}
	return req, nil
}

// parseCredentials reads --registry-credential USER:PASSWORD@SERVER values.
func parseCredentials(specs []string) ([]kci.ImageRegistryCredential, error) {
	var out []kci.ImageRegistryCredential
	for _, c := range specs {
		at := strings.LastIndex(c, "@")
		user, pass, ok := strings.Cut(c[:max(at, 0)], ":")
		if at < 0 || !ok || user == "" || at == len(c)-1 {
			return nil, fmt.Errorf("--registry-credential: want USER:PASSWORD@SERVER")
		}
		out = append(out, kci.ImageRegistryCredential{Server: c[at+1:], Username: user, Password: pass})
	}
	return out, nil
}

func parsePort(s string) (kci.Port, error) {
	num, proto, _ := strings.Cut(s, "/")
	if strings.Contains(num, ":") {
		return kci.Port{}, fmt.Errorf("--port %q: there is no port mapping: a group has its own IP; give the container's port, e.g. 80/tcp", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return kci.Port{}, fmt.Errorf("--port %q: want PORT[/tcp|udp] with PORT 1-65535", s)
	}
	proto = strings.ToUpper(proto)
	if proto == "" {
		proto = "TCP"
	}
	if proto != "TCP" && proto != "UDP" {
		return kci.Port{}, fmt.Errorf("--port %q: protocol must be tcp or udp", s)
	}
	return kci.Port{Port: n, Protocol: proto}, nil
}

// maxConfigFile is the API's limit on one config file.
const maxConfigFile = 24 << 10

// parseVolume reads one --volume SOURCE:PATH[:OPTIONS]; i numbers the
// volume for a generated name.
func parseVolume(spec string, i int) (kci.Volume, kci.VolumeMount, error) {
	bad := func(format string, args ...any) (kci.Volume, kci.VolumeMount, error) {
		return kci.Volume{}, kci.VolumeMount{}, fmt.Errorf("--volume %q: "+format, append([]any{spec}, args...)...)
	}
	var source, path, opts string
	ebs := strings.HasPrefix(spec, "ebs:")
	parts := strings.Split(strings.TrimPrefix(spec, "ebs:"), ":")
	switch {
	case ebs && (len(parts) == 2 || len(parts) == 3):
		source, path = parts[0], parts[1]
		if len(parts) == 3 {
			opts = parts[2]
		}
	case ebs:
		return bad("want ebs:VOLUME_ID:PATH[:OPTIONS]")
	case len(parts) == 1:
		path = parts[0]
	case len(parts) == 2 && strings.HasPrefix(parts[1], "/"):
		source, path = parts[0], parts[1]
	case len(parts) == 2:
		path, opts = parts[0], parts[1]
	case len(parts) == 3:
		source, path, opts = parts[0], parts[1], parts[2]
	default:
		return bad("want SOURCE:PATH[:OPTIONS]")
	}
	if !strings.HasPrefix(path, "/") || path == "/" {
		return bad("the mount path must be absolute and not /")
	}
	mount := kci.VolumeMount{MountPath: path}
	fsType := "ext4"
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "":
		case o == "ro":
			mount.ReadOnly = true
		case o == "rw":
			mount.ReadOnly = false
		case strings.HasPrefix(o, "fs=") && ebs:
			fsType = strings.TrimPrefix(o, "fs=")
		default:
			return bad("unknown option %q (ro, rw, fs=TYPE for ebs)", o)
		}
	}
	var vol kci.Volume
	switch {
	case ebs:
		if source == "" {
			return bad("missing the EBS volume ID")
		}
		vol = kci.Volume{Name: fmt.Sprintf("ebs-%d", i), Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: source, FsType: fsType}}
	case source == "":
		vol = kci.Volume{Name: fmt.Sprintf("vol-%d", i), Type: kci.VolumeEmptyDir}
	case strings.ContainsAny(source, "/~") || strings.HasPrefix(source, "."):
		files, err := configFiles(source)
		if err != nil {
			return bad("%v", err)
		}
		vol = kci.Volume{Name: fmt.Sprintf("config-%d", i), Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{Files: files}}
	default:
		if !containerNameRe.MatchString(source) {
			return bad("a volume name is up to 63 of a-z, 0-9 and -, starting and ending with a letter or digit")
		}
		vol = kci.Volume{Name: source, Type: kci.VolumeEmptyDir}
	}
	mount.Name = vol.Name
	return vol, mount, nil
}

// configFiles reads a local file, or the regular files under a directory,
// into config files with their permissions.
func configFiles(source string) ([]kci.ConfigFile, error) {
	if strings.HasPrefix(source, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		source = filepath.Join(home, source[2:])
	}
	st, err := os.Stat(source)
	if err != nil {
		return nil, err
	}
	read := func(path, rel string, mode fs.FileMode) (kci.ConfigFile, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return kci.ConfigFile{}, err
		}
		if len(b) > maxConfigFile {
			return kci.ConfigFile{}, fmt.Errorf("%s is %d bytes; config files hold at most %d", path, len(b), maxConfigFile)
		}
		return kci.ConfigFile{Path: filepath.ToSlash(rel), Content: base64.StdEncoding.EncodeToString(b), Mode: fmt.Sprintf("0%o", mode.Perm())}, nil
	}
	if !st.IsDir() {
		f, err := read(source, filepath.Base(source), st.Mode())
		if err != nil {
			return nil, err
		}
		return []kci.ConfigFile{f}, nil
	}
	var files []kci.ConfigFile
	err = filepath.WalkDir(source, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(source, path)
		if err != nil {
			return err
		}
		f, err := read(path, rel, info.Mode())
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no files", source)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// createFlow sends a create and then does what the flow options ask.
func (a *app) createFlow(ctx context.Context, req *kci.CreateContainerGroupRequest, f flowOptions) error {
	c, err := a.kci()
	if err != nil {
		return err
	}
	if err := a.defaultNetwork(ctx, req); err != nil {
		return err
	}
	if f.dryRun {
		r := *req
		r.DryRun = true
		_, err := c.CreateContainerGroup(ctx, &r)
		if kci.IsDryRunOperation(err) {
			fmt.Fprintf(a.env.Stdout, "Dry run: container group %s would be created (subnet %s, security group %s).\n",
				req.ContainerGroupName, req.SubnetID, strings.Join(req.SecurityGroupIDs, ","))
			return nil
		}
		if err == nil {
			return errors.New("dry run: the server did not answer DryRunOperation; it may have created the group")
		}
		return err
	}
	out, err := c.CreateContainerGroup(ctx, req)
	if err != nil {
		return err
	}
	g := &kci.ContainerGroup{ContainerGroupID: out.ContainerGroupID, ContainerGroupName: req.ContainerGroupName}
	if f.deleteAfter {
		return a.runOnce(ctx, g, req.Containers[0].Name, f.timeout)
	}
	fmt.Fprintln(a.env.Stdout, out.ContainerGroupID)
	if !f.wait {
		return nil
	}
	return a.waitStarted(ctx, g, f.timeout)
}

// waitStarted waits for Running or an end, showing events.
func (a *app) waitStarted(ctx context.Context, g *kci.ContainerGroup, timeout time.Duration) error {
	show := a.newProgress(g.ContainerGroupName)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got, err := a.newPoller(g, show).until(tctx, func(g *kci.ContainerGroup) (bool, error) {
		return g.Status == kci.StatusRunning || kci.IsFinalStatus(g.Status), nil
	})
	show.close()
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("timed out after %s: %s is %s%s", timeout, g.ContainerGroupName, got.Status, failure(got))
	case err != nil:
		return err
	}
	switch got.Status {
	case kci.StatusRunning:
		fmt.Fprintf(a.env.Stderr, "%s is Running (IP %s)\n", got.ContainerGroupName, got.PrivateIP())
	case kci.StatusSucceeded:
		fmt.Fprintf(a.env.Stderr, "%s has Succeeded\n", got.ContainerGroupName)
	default:
		return fmt.Errorf("%s is %s%s", got.ContainerGroupName, got.Status, failure(got))
	}
	return nil
}

// runOnce is --delete-after: wait for the container, stream its log until
// the group ends, delete it (also on interrupt or error) and return the
// container's exit code.
func (a *app) runOnce(ctx context.Context, g *kci.ContainerGroup, ctrName string, timeout time.Duration) (err error) {
	c, err := a.kci()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "Created %s (%s)\n", g.ContainerGroupName, g.ContainerGroupID)
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, derr := c.DeleteContainerGroup(dctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: g.ContainerGroupID})
		switch {
		case derr == nil:
			fmt.Fprintf(a.env.Stderr, "Deleted %s (%s)\n", g.ContainerGroupName, g.ContainerGroupID)
		case kci.IsNotFound(derr):
		case err == nil:
			err = fmt.Errorf("deleting %s: %w", g.ContainerGroupID, derr)
		default:
			fmt.Fprintf(a.env.Stderr, "Error: deleting %s: %v\n", g.ContainerGroupID, derr)
		}
	}()

	show := a.newProgress(g.ContainerGroupName)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	started, err := a.newPoller(g, show).until(tctx, func(g *kci.ContainerGroup) (bool, error) {
		if kci.IsFinalStatus(g.Status) || g.Status == kci.StatusRunning {
			return true, nil
		}
		ct := container(g, ctrName)
		return ct != nil && ct.CurrentState != nil && ct.CurrentState.State != kci.StateWaiting, nil
	})
	cancel()
	show.close()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("timed out after %s waiting for %s to start: it is %s%s", timeout, g.ContainerGroupName, started.Status, failure(started))
	}
	if err != nil {
		return err
	}
	end, err := a.follow(ctx, g.ContainerGroupID, ctrName, -1, func(g *kci.ContainerGroup) bool {
		return kci.IsFinalStatus(g.Status)
	})
	if err != nil {
		return err
	}
	code := 0
	if ct := container(end, ctrName); ct != nil && ct.CurrentState != nil && ct.CurrentState.ExitCode != nil {
		code = *ct.CurrentState.ExitCode
	} else if end.Status != kci.StatusSucceeded {
		code = 1
	}
	fmt.Fprintf(a.env.Stderr, "%s %s, exit code %d\n", g.ContainerGroupName, end.Status, code)
	if code != 0 {
		return exitCode(code)
	}
	return nil
}
