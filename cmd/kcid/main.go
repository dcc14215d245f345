// Command kcid serves Kingsoft Cloud's KCI container-instance API
// (2020-07-02) and runs the container groups it is asked to run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/openkci/openkci/internal/version"
)

const usage = `kcid serves Kingsoft Cloud's KCI OpenAPI (version 2020-07-02) on this machine
and runs the container groups it is asked to run.

Usage:
  kcid serve [flags]    start the API server
  kcid version          print the version
  kcid help             show this help

Quick start:
  sudo kcid serve --data-dir /var/lib/kcid
    The first start prints a generated access key and the default network
    (VPC, subnet, security group). Point any KCI SDK, or curl, at
    http://127.0.0.1:8080 with that key, for example:

  curl --aws-sigv4 "aws:amz:cn-beijing-6:kci" --user "$AK:$SK" \
    "http://127.0.0.1:8080/?Action=DescribeContainerGroup&Version=2020-07-02"

Run "kcid serve --help" for every flag.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "kcid", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "kcid: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

type serveFlags struct {
	listen            string
	dataDir           string
	configPath        string
	insecure          bool
	containerdAddress string
	namespace         string
	runtime           string
	kubeconfig        string
	kubeNSPrefix      string
	kubeCacheHelper   string
	kubePodCIDRs      []netip.Prefix
	logLevel          string
	logFormat         string
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("kcid serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "`address` to serve the API on (host:port)")
	fs.StringVar(&f.dataDir, "data-dir", "/var/lib/kcid", "`directory` for state, logs and volumes")
	fs.StringVar(&f.configPath, "config", "", "YAML config `file` (accounts, keys, networks, disks, limits); see config.example.yaml")
	fs.BoolVar(&f.insecure, "insecure-no-auth", false, "accept unsigned requests as the default account (for local experiments only)")
	fs.StringVar(&f.containerdAddress, "containerd-address", "/run/containerd/containerd.sock", "containerd `socket`; if nothing answers there and containerd is on the PATH, kcid starts its own")
	fs.StringVar(&f.namespace, "containerd-namespace", "openkci", "containerd `namespace` of kcid's containers; two kcid on one host need different ones (the second refuses to start)")
	fs.StringVar(&f.runtime, "runtime", "containerd", "`engine` that runs groups: containerd (this machine) or kubernetes (a cluster; pods are then the only store of groups)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig `file` for --runtime kubernetes (default $KUBECONFIG, else the in-cluster service account)")
	fs.StringVar(&f.kubeNSPrefix, "kube-namespace-prefix", "kci-", "with --runtime kubernetes, an account's namespace is this `prefix` plus its account ID")
	fs.StringVar(&f.kubeCacheHelper, "kube-image-cache-helper", "", "with --runtime kubernetes, an `image` with a static busybox at /bin/busybox that image caches' pods run (without it image caches fail, saying so)")
	fs.Func("kube-pod-cidrs", "with --runtime kubernetes, the `CIDRs` (comma-separated) the cluster gives pods addresses from, kept out of security groups' ipBlocks so that VPCs stay apart (default: the nodes' spec.podCIDRs)", func(v string) error {
		for c := range strings.SplitSeq(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(c))
			if err != nil {
				return fmt.Errorf("%q is not a CIDR such as 10.244.0.0/16", c)
			}
			f.kubePodCIDRs = append(f.kubePodCIDRs, p.Masked())
		}
		return nil
	})
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `format`: text or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kcid serve [flags]

Serves the KCI API. Requests must be signed (AWS SigV4 with service "kci",
or Kingsoft's simplified signature) with an access key of an account:
  - KCID_ACCESS_KEY_ID and KCID_SECRET_ACCESS_KEY give the default account a key;
  - accounts and keys in --config add more;
  - with neither, the first start generates a key, prints it once and keeps it
    in DATA_DIR/credentials.

Examples:
  kcid serve
  KCID_ACCESS_KEY_ID=AKLTtest KCID_SECRET_ACCESS_KEY=secret123 kcid serve --listen 0.0.0.0:8080
  kcid serve --config /etc/kcid/config.yaml --data-dir /srv/kcid
  kcid serve --runtime kubernetes --kubeconfig ~/.kube/config --config /etc/kcid/config.yaml

With --runtime kubernetes, groups are pods of the cluster (docs/kubernetes.md);
the data dir keeps only settings, so several kcid can serve one cluster when
their keys and networks come from the same --config.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.runtime != "containerd" && f.runtime != "kubernetes" {
		return nil, fmt.Errorf("--runtime: %q is neither containerd nor kubernetes", f.runtime)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (kcid serve takes only flags)", fs.Arg(0))
	}
	return f, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
}

func serve(args []string, stdout, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kcid:", err)
		return 2
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "kcid:", err)
		return 2
	}
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		fmt.Fprintf(stderr, "kcid: listen on %s: %v\n", f.listen, err)
		return 1
	}
	if err := runServer(ctx, f, l, stdout, log); err != nil {
		fmt.Fprintln(stderr, "kcid:", err)
		return 1
	}
	return 0
}
