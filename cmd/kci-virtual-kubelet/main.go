// Command kci-virtual-kubelet registers a virtual node in a Kubernetes
// cluster and runs the pods scheduled to it as KCI container groups, on
// kcid or on Kingsoft Cloud (docs/virtual-kubelet.md).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/openkci/openkci/internal/version"
	"github.com/openkci/openkci/internal/vkprovider"
	"github.com/openkci/openkci/pkg/kci"
	"github.com/openkci/openkci/pkg/kciconfig"
)

// options are the command's flags.
type options struct {
	src kciconfig.Sources

	kubeconfig, nodeName, clusterID string
	subnetID                        string
	securityGroupIDs                []string
	cpu, memory                     float64
	pods, gpus                      int64
	gpuResource                     string
	defaultCPU, defaultMemory       float64
	clusterDNS, clusterDomain       string
	listen, nodeIP                  string
	certFile, keyFile, clientCAFile string
	insecureNoAuth, noClientToken   bool
	healthInterval                  time.Duration
	workers                         int
	logLevel                        string
}

func main() {
	if err := command().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func command() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "kci-virtual-kubelet --subnet-id ID --security-group-id ID [flags]",
		Short: "A virtual Kubernetes node whose pods run as KCI container groups",
		Long: `kci-virtual-kubelet registers a node in a Kubernetes cluster and runs the pods
scheduled to it as KCI container groups, through the KCI OpenAPI: on OpenKCI's
kcid or on Kingsoft Cloud.

The node is labelled type=virtual-kubelet and tainted
virtual-kubelet.io/provider=kci:NoSchedule, so only pods that ask for it land
there:

  spec:
    nodeSelector: {type: virtual-kubelet}
    tolerations:
    - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}

KCI connection (the same settings as kcictl, highest precedence first): the
--endpoint, --region, --credentials-file and --profile flags; the environment
KCI_ENDPOINT, KCI_REGION, KCI_ACCESS_KEY_ID + KCI_SECRET_ACCESS_KEY,
KCI_CREDENTIALS_FILE, KCI_PROFILE, KCI_CONFIG_FILE; the profile in
~/.kci/config ('kcictl configure' writes it); kcid's own
/var/lib/kcid/credentials on kcid's machine.

Pods go to the subnet and security groups given here. Each group carries the
labels cluster-id, namespace, pod-name, node-name and pod-uid, by which the
provider finds it again after a restart; nothing else is kept.

The cluster: --kubeconfig (default $KUBECONFIG, else in-cluster). The API
server reaches this node's kubelet API (logs, exec) at --node-ip and the
port of --listen; it must present a client certificate signed by
--client-ca-file (the cluster CA), and each request is authorized with a
SubjectAccessReview on nodes/proxy, as kubelet's webhook mode does.

What maps from a pod to a group, and what is refused with an event and a
Failed pod: docs/virtual-kubelet.md.`,
		Example: `  # kcid on this machine, its generated key, the default network:
  kcictl network                       # shows the subnet and security group IDs
  kci-virtual-kubelet --kubeconfig ~/.kube/config \
      --subnet-id SUBNET_ID --security-group-id SG_ID \
      --client-ca-file /etc/kubernetes/pki/ca.crt

  # Kingsoft Cloud, with a kcictl profile:
  kci-virtual-kubelet --profile prod --nodename kci-beijing --no-client-token \
      --subnet-id SUBNET_ID --security-group-id SG_ID --cpu 200 --memory 800 \
      --client-ca-file ca.crt --tls-cert-file node.crt --tls-private-key-file node.key`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.src.Profile, "profile", "", "profile of ~/.kci/config (default $KCI_PROFILE or \"default\")")
	f.StringVar(&o.src.Endpoint, "endpoint", "", "KCI endpoint (default $KCI_ENDPOINT, the profile's, or http://127.0.0.1:8080)")
	f.StringVar(&o.src.Region, "region", "", "region (default $KCI_REGION, the profile's, or cn-beijing-6)")
	f.StringVar(&o.src.CredentialsFile, "credentials-file", "", "file of KCI_ACCESS_KEY_ID=/KCI_SECRET_ACCESS_KEY= lines, such as kcid's /var/lib/kcid/credentials")
	f.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG, else in-cluster)")
	f.StringVar(&o.nodeName, "nodename", "kci-virtual-kubelet", "name of the node")
	f.StringVar(&o.clusterID, "cluster-id", "", "the cluster-id label of the groups (default: the UID of the cluster's kube-system namespace)")
	f.StringVar(&o.subnetID, "subnet-id", "", "subnet of the pods (required; 'kcictl network' lists them)")
	f.StringSliceVar(&o.securityGroupIDs, "security-group-id", nil, "security group of the pods; repeat or separate with commas (required)")
	f.Float64Var(&o.cpu, "cpu", 100, "CPU cores the node offers: the account's quota")
	f.Float64Var(&o.memory, "memory", 400, "memory (GiB) the node offers: the account's quota")
	f.Int64Var(&o.pods, "pods", 500, "pods the node takes: the account's group quota")
	f.Int64Var(&o.gpus, "gpus", 0, "GPUs the node offers as --gpu-resource (0: none, and pods asking for GPUs are refused); each container's whole limit becomes its Container.N.Gpu")
	f.StringVar(&o.gpuResource, "gpu-resource", "nvidia.com/gpu", "extended resource by which pods ask for GPUs (with --gpus)")
	f.Float64Var(&o.defaultCPU, "default-cpu", 1, "cores of a pod whose containers name no CPU")
	f.Float64Var(&o.defaultMemory, "default-memory", 2, "GiB of a pod whose containers name no memory")
	f.StringVar(&o.clusterDNS, "cluster-dns", "", "cluster DNS address for dnsPolicy ClusterFirst pods (default: none; they resolve with KCI's DNS)")
	f.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "cluster domain, for the search path with --cluster-dns")
	f.StringVar(&o.listen, "listen", ":10250", "address of the kubelet API (logs, exec)")
	f.StringVar(&o.nodeIP, "node-ip", "", "address the API server reaches the kubelet API at (default: this host's source address towards the outside; never loopback, which the API server refuses to proxy to)")
	f.StringVar(&o.certFile, "tls-cert-file", "", "serving certificate of the kubelet API (default: a self-signed one made at start)")
	f.StringVar(&o.keyFile, "tls-private-key-file", "", "key of --tls-cert-file")
	f.StringVar(&o.clientCAFile, "client-ca-file", "", "CA of the client certificates the API server presents (required unless --insecure-no-auth)")
	f.BoolVar(&o.noClientToken, "no-client-token", false, "send creates without ClientToken (for a KCI that ignores it, such as Kingsoft Cloud; a create is then re-sent only when the server did nothing)")
	f.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "serve logs and exec to anyone who reaches the kubelet API (tests only)")
	f.DurationVar(&o.healthInterval, "health-interval", 5*time.Second, "how often KCI's health is checked (a failure marks the node NotReady)")
	f.IntVar(&o.workers, "pod-sync-workers", 4, "pods handled at once")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func run(ctx context.Context, o *options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	vklog.L = vkslog.FromSlog(logger)
	switch {
	case o.subnetID == "":
		return errors.New("--subnet-id is required: the subnet of the pods ('kcictl network' lists them)")
	case len(o.securityGroupIDs) == 0:
		return errors.New("--security-group-id is required: the security group of the pods ('kcictl network' lists them)")
	case o.clientCAFile == "" && !o.insecureNoAuth:
		return errors.New("--client-ca-file is required (the cluster CA, which signs the API server's kubelet client certificate); --insecure-no-auth serves logs and exec to anyone")
	case (o.certFile == "") != (o.keyFile == ""):
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	case o.gpus < 0:
		return fmt.Errorf("--gpus %d: give the number of GPUs the KCI account can hold, or 0 for none", o.gpus)
	}
	if err := vkprovider.CheckGPUResource(o.gpuResource); err != nil {
		return fmt.Errorf("--gpu-resource: %w", err)
	}
	var gpuResource corev1.ResourceName
	if o.gpus > 0 {
		gpuResource = corev1.ResourceName(o.gpuResource)
	}
	o.src.KcidCredentialsFile = kciconfig.DefaultKcidCredentialsFile
	settings, err := kciconfig.Load(o.src)
	if err != nil {
		return err
	}
	kcfg := settings.Config()
	kcfg.UserAgent = "kci-virtual-kubelet/" + version.String()
	kcfg.NoClientToken = o.noClientToken
	client, err := kci.New(kcfg)
	if err != nil {
		return err
	}
	kube, err := nodeutil.ClientsetFromEnv(o.kubeconfig)
	if err != nil {
		return fmt.Errorf("cluster: %w (give --kubeconfig, or run in a pod)", err)
	}
	if o.clusterID == "" {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read the kube-system namespace for the default --cluster-id: %w", err)
		}
		o.clusterID = string(ns.UID)
	}
	host, portStr, err := net.SplitHostPort(o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("--listen: port %q: %w", portStr, err)
	}
	if o.nodeIP == "" {
		o.nodeIP = host
		if ip := net.ParseIP(host); host == "" || ip == nil || ip.IsUnspecified() {
			if o.nodeIP, err = outboundIP(); err != nil {
				return fmt.Errorf("find the node's address: %w (give --node-ip)", err)
			}
		}
	}
	tlsCert, err := servingCert(o)
	if err != nil {
		return err
	}

	eb := record.NewBroadcaster()
	eb.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: kube.CoreV1().Events(corev1.NamespaceAll)})
	defer eb.Shutdown()
	recorder := eb.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kci-virtual-kubelet", Host: o.nodeName})

	var nodeProvider *vkprovider.Node
	mux := http.NewServeMux()
	newProvider := func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		*pc.Node = vkprovider.NodeSpec(vkprovider.NodeConfig{
			Name: o.nodeName, InternalIP: o.nodeIP, Port: int32(port),
			CPU: o.cpu, MemoryGiB: o.memory, Pods: o.pods, GPUs: o.gpus, GPUResource: gpuResource,
			Version: "v0.0.0-kci-virtual-kubelet-" + version.String(),
		})
		p, err := vkprovider.New(vkprovider.Config{
			Client: client,
			Mapping: vkprovider.Mapping{
				ClusterID: o.clusterID, NodeName: o.nodeName, SubnetID: o.subnetID, SecurityGroupIDs: o.securityGroupIDs,
				DefaultCPU: o.defaultCPU, DefaultMemory: o.defaultMemory, ClusterDNS: o.clusterDNS, ClusterDomain: o.clusterDomain,
				NoClientToken: o.noClientToken, GPUResource: gpuResource,
			},
			Pods:     pc.Pods,
			Sources:  &vkprovider.ClusterSources{ConfigMaps: pc.ConfigMaps, Secrets: pc.Secrets, Client: kube},
			Recorder: recorder,
			HostIP:   o.nodeIP,
			Logger:   logger,
		})
		if err != nil {
			return nil, nil, err
		}
		nodeProvider = vkprovider.NewNode(client, o.clusterID, pc.Node, o.healthInterval, logger)
		return p, nodeProvider, nil
	}
	n, err := nodeutil.NewNode(o.nodeName, newProvider,
		nodeutil.WithClient(kube),
		func(c *nodeutil.NodeConfig) error {
			c.HTTPListenAddr = o.listen
			c.Handler = mux
			c.EventRecorder = recorder
			c.NumWorkers = o.workers
			c.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{tlsCert}, ClientAuth: tls.RequestClientCert}
			return nil
		},
		withAuth(kube, o),
		nodeutil.AttachProviderRoutes(mux),
	)
	if err != nil {
		return err
	}
	logger.Info("starting", "node", o.nodeName, "cluster-id", o.clusterID, "kci", client.Endpoint(), "key-from", settings.Source[kciconfig.KeyAccessKeyID],
		"kubelet-api", net.JoinHostPort(o.nodeIP, portStr), "subnet", o.subnetID, "security-groups", o.securityGroupIDs, "gpus", o.gpus, "gpu-resource", gpuResource)
	go func() {
		if err := n.WaitReady(ctx, 0); err == nil {
			logger.Info("node registered", "node", o.nodeName)
		}
	}()
	err = n.Run(ctx)
	if ctx.Err() != nil {
		logger.Info("stopped", "node", o.nodeName)
		return nil
	}
	return err
}

// withAuth puts authentication (client certificates of --client-ca-file,
// bearer tokens through TokenReview) and authorization
// (SubjectAccessReview on nodes/proxy) in front of the kubelet API.
func withAuth(kube kubernetes.Interface, o *options) nodeutil.NodeOpt {
	return func(c *nodeutil.NodeConfig) error {
		if o.insecureNoAuth {
			slog.Warn("--insecure-no-auth: logs and exec are served to anyone who reaches " + o.listen)
			c.Handler = api.InstrumentHandler(nodeutil.WithAuth(nodeutil.NoAuth(), c.Handler))
			return nil
		}
		auth, err := nodeutil.WebhookAuth(kube, o.nodeName, func(w *nodeutil.WebhookAuthConfig) error {
			var err error
			w.AuthnConfig.ClientCertificateCAContentProvider, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca", o.clientCAFile)
			return err
		})
		if err != nil {
			return fmt.Errorf("--client-ca-file: %w", err)
		}
		c.Handler = api.InstrumentHandler(nodeutil.WithAuth(auth, c.Handler))
		return nil
	}
}

// servingCert loads the kubelet API's certificate, or makes a
// self-signed one for the node's address and name (the API server does
// not check kubelets' certificates unless told to with
// --kubelet-certificate-authority).
func servingCert(o *options) (tls.Certificate, error) {
	if o.certFile != "" {
		return tls.LoadX509KeyPair(o.certFile, o.keyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.nodeName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{o.nodeName},
	}
	if ip := net.ParseIP(o.nodeIP); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// outboundIP is the host's source address towards the outside (no packet
// is sent).
func outboundIP() (string, error) {
	c, err := net.Dial("udp4", "192.0.2.255:9")
	if err != nil {
		return "", err
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	if ip.IsLoopback() {
		return "", errors.New("the only address is loopback")
	}
	return ip.String(), nil
}
