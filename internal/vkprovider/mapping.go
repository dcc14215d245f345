package vkprovider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/openkci/openkci/pkg/kci"
)

// Labels the provider puts on every group it creates; a pod's group is
// found by them (DescribeContainerGroup's label filter), never by name.
const (
	LabelClusterID = "cluster-id"
	LabelNamespace = "namespace"
	LabelPodName   = "pod-name"
	LabelNodeName  = "node-name"
	// LabelPodUID tells a pod from a later pod of the same name
	// (a StatefulSet's replacement).
	LabelPodUID = "pod-uid"
)

// Refusal is a pod that cannot become a group: Field is the pod's field
// (spec.containers[0].livenessProbe) and Reason why. The pod is failed
// with reason UnsupportedPodSpec and an event carrying the message.
type Refusal struct {
	Field, Reason string
}

func (r *Refusal) Error() string { return r.Field + ": " + r.Reason }

func refuse(field, format string, args ...any) *Refusal {
	return &Refusal{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Sources gives the mapping what a pod refers to: ConfigMaps, Secrets
// and service-account tokens. Errors other than a Refusal are transient
// (the create is retried).
type Sources interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
	// Token returns a service-account token bound to the pod.
	Token(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error)
}

// NotFound is returned by Sources for a ConfigMap or Secret that does not
// exist; an optional reference then maps to nothing.
type NotFound struct{ Kind, Namespace, Name string }

func (e *NotFound) Error() string {
	return fmt.Sprintf("%s %s/%s not found", e.Kind, e.Namespace, e.Name)
}

// Mapping holds what the pod does not say: where groups go and what size
// a pod without resources gets.
type Mapping struct {
	ClusterID        string
	NodeName         string
	SubnetID         string
	SecurityGroupIDs []string
	// DefaultCPU (cores) and DefaultMemory (GiB) size a pod whose
	// containers name no CPU or memory.
	DefaultCPU, DefaultMemory float64
	// ClusterDNS, when set, serves dnsPolicy ClusterFirst: the group's
	// resolv.conf names it with the cluster's search domains.
	ClusterDNS    string
	ClusterDomain string
	// NoClientToken leaves ClientToken out of the requests, for a KCI
	// that ignores it (Kingsoft Cloud): the client then re-sends a create
	// only when the server did nothing (kci.Config.NoClientToken).
	NoClientToken bool
	// GPUResource is the extended resource (nvidia.com/gpu) whose whole
	// count in a container's limits becomes its Container.N.Gpu; empty
	// when the node offers no GPUs, and a pod asking for one is refused.
	GPUResource corev1.ResourceName
}

// GroupRequest maps a pod to a CreateContainerGroup request. original is
// the pod as stored in the cluster (before the pod controller resolved
// its environment), or nil; it tells fields resolved too early
// (status.podIP) from literal values. Any pod field the group cannot
// honour is a *Refusal.
func (m *Mapping) GroupRequest(ctx context.Context, pod, original *corev1.Pod, src Sources) (*kci.CreateContainerGroupRequest, error) {
	spec := &pod.Spec
	if err := m.checkPod(pod); err != nil {
		return nil, err
	}
	req := &kci.CreateContainerGroupRequest{
		ContainerGroupName: pod.Name, // at most 63 characters (checkPod)
		SubnetID:           m.SubnetID,
		SecurityGroupIDs:   slices.Clone(m.SecurityGroupIDs),
		RestartPolicy:      string(spec.RestartPolicy),
		HostPID:            spec.HostPID,

		Labels: []kci.Label{
			{Key: LabelClusterID, Value: m.ClusterID},
			{Key: LabelNamespace, Value: pod.Namespace},
			{Key: LabelPodName, Value: pod.Name},
			{Key: LabelNodeName, Value: m.NodeName},
			{Key: LabelPodUID, Value: string(pod.UID)},
		},
	}
	if !m.NoClientToken {
		req.ClientToken = string(pod.UID)
	}
	for i, h := range spec.HostAliases {
		if h.IP == "" {
			return nil, refuse(fmt.Sprintf("spec.hostAliases[%d].ip", i), "is empty")
		}
		req.HostAliases = append(req.HostAliases, kci.HostAlias{IP: h.IP, Hostnames: h.Hostnames})
	}
	dns, err := m.dnsConfig(pod)
	if err != nil {
		return nil, err
	}
	req.DNSConfig = dns
	req.ImageRegistryCredentials, err = pullCredentials(pod, src)
	if err != nil {
		return nil, err
	}
	req.Volumes, err = m.volumes(ctx, pod, src)
	if err != nil {
		return nil, err
	}
	var sum, initMax size
	for i := range spec.Containers {
		c := &spec.Containers[i]
		field := fmt.Sprintf("spec.containers[%d]", i)
		kc, sz, err := m.container(c, field, origContainer(original, c.Name, false))
		if err != nil {
			return nil, err
		}
		req.Containers = append(req.Containers, kc.Container)
		req.ContainerSpecs = append(req.ContainerSpecs, kc.spec)
		sum.cpu += sz.cpu
		sum.mem += sz.mem
		// The group holds its containers' GPUs: kcid checks that Gpu is
		// their sum, Kingsoft Cloud reads the group's count.
		req.GPU += kc.GPU
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		field := fmt.Sprintf("spec.initContainers[%d]", i)
		if c.RestartPolicy != nil {
			return nil, refuse(field+".restartPolicy", "sidecar init containers (restartPolicy %s) are not supported by KCI", *c.RestartPolicy)
		}
		kc, sz, err := m.container(c, field, origContainer(original, c.Name, true))
		if err != nil {
			return nil, err
		}
		if kc.GPU > 0 {
			return nil, refuse(field+".resources.limits["+string(m.GPUResource)+"]", "KCI gives init containers no GPUs; give them to the pod's containers")
		}
		if len(kc.Ports) > 0 {
			return nil, refuse(field+".ports", "KCI init containers have no ports")
		}
		if kc.LivenessProbe != nil || kc.ReadinessProbe != nil || kc.StartupProbe != nil {
			return nil, refuse(field, "KCI init containers have no probes")
		}
		req.InitContainers = append(req.InitContainers, kc.InitContainer)
		initMax.cpu = max(initMax.cpu, sz.cpu)
		initMax.mem = max(initMax.mem, sz.mem)
	}
	// The group is as large as its containers together, or its largest
	// init container; a pod that names nothing gets the defaults.
	req.CPU = roundUp(max(sum.cpu, initMax.cpu))
	req.Memory = roundUp(max(sum.mem, initMax.mem))
	if req.CPU == 0 {
		req.CPU = m.DefaultCPU
	}
	if req.Memory == 0 {
		req.Memory = m.DefaultMemory
	}
	// A container spec that says nothing is left out: kcid sizes such
	// containers from the group.
	if !slices.ContainsFunc(req.ContainerSpecs, func(s kci.ContainerSpec) bool { return s != kci.ContainerSpec{} }) {
		req.ContainerSpecs = nil
	}
	return req, nil
}

// checkPod refuses the pod-level fields a group cannot honour.
func (m *Mapping) checkPod(pod *corev1.Pod) error {
	spec := &pod.Spec
	for _, l := range []struct{ field, value string }{{"metadata.namespace", pod.Namespace}, {"metadata.name", pod.Name}} {
		// Label values hold at most 63 characters.
		if len(l.value) > 63 {
			return refuse(l.field, "%d characters; KCI labels, by which the provider finds the pod's group, hold at most 63", len(l.value))
		}
	}
	type unsupported struct {
		field string
		set   bool
		why   string
	}
	for _, u := range []unsupported{
		{"spec.hostNetwork", spec.HostNetwork, "a group has its own network namespace"},
		{"spec.hostIPC", spec.HostIPC, "a group cannot share the host's IPC namespace"},
		{"spec.shareProcessNamespace", spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace, "KCI has no shared process namespace"},
		{"spec.activeDeadlineSeconds", spec.ActiveDeadlineSeconds != nil, "KCI has no deadline for a group"},
		{"spec.runtimeClassName", spec.RuntimeClassName != nil && *spec.RuntimeClassName != "", "KCI has one runtime"},
		{"spec.readinessGates", len(spec.ReadinessGates) > 0, "nothing would set the gates' conditions"},
		{"spec.hostname", spec.Hostname != "", "KCI names the group's host itself"},
		{"spec.subdomain", spec.Subdomain != "", "KCI names the group's host itself"},
		{"spec.setHostnameAsFQDN", spec.SetHostnameAsFQDN != nil && *spec.SetHostnameAsFQDN, "KCI names the group's host itself"},
		{"spec.hostUsers", spec.HostUsers != nil && !*spec.HostUsers, "KCI has no user namespaces"},
		{"spec.resourceClaims", len(spec.ResourceClaims) > 0, "KCI has no dynamic resources"},
		{"spec.ephemeralContainers", len(spec.EphemeralContainers) > 0, "KCI cannot add containers to a running group"},
		{"spec.os", spec.OS != nil && spec.OS.Name != corev1.Linux, "KCI runs Linux containers"},
		{"spec.resources", spec.Resources != nil, "pod-level resources are not mapped; give each container its resources"},
	} {
		if u.set {
			return refuse(u.field, "%s", u.why)
		}
	}
	if sc := spec.SecurityContext; sc != nil && !isZero(sc) {
		return refuse("spec.securityContext", "KCI has no pod security settings (users, groups, fsGroup, sysctls, SELinux, seccomp)")
	}
	return nil
}

func isZero(sc *corev1.PodSecurityContext) bool {
	b, _ := json.Marshal(sc)
	return string(b) == "{}"
}

// dnsConfig maps dnsPolicy and dnsConfig to the group's resolv.conf.
func (m *Mapping) dnsConfig(pod *corev1.Pod) (*kci.DNSConfig, error) {
	spec := &pod.Spec
	var dns *kci.DNSConfig
	switch spec.DNSPolicy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, "":
		if m.ClusterDNS != "" {
			domain := m.ClusterDomain
			if domain == "" {
				domain = "cluster.local"
			}
			dns = &kci.DNSConfig{
				NameServers: []string{m.ClusterDNS},
				Searches:    []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain},
				Options:     []kci.DNSOption{{Name: "ndots", Value: "5"}},
			}
		}
		// Without --cluster-dns the group resolves with KCI's DNS, as
		// dnsPolicy Default would (docs/virtual-kubelet.md).
	case corev1.DNSDefault:
	case corev1.DNSNone:
		dns = &kci.DNSConfig{}
	default:
		return nil, refuse("spec.dnsPolicy", "%q is not a DNS policy", spec.DNSPolicy)
	}
	if c := spec.DNSConfig; c != nil {
		if dns == nil {
			dns = &kci.DNSConfig{}
		}
		dns.NameServers = append(dns.NameServers, c.Nameservers...)
		dns.Searches = append(dns.Searches, c.Searches...)
		for _, o := range c.Options {
			opt := kci.DNSOption{Name: o.Name}
			if o.Value != nil {
				opt.Value = *o.Value
			}
			dns.Options = append(dns.Options, opt)
		}
	}
	return dns, nil
}

// size is a container's share of the group: cores and GiB.
type size struct{ cpu, mem float64 }

// mappedContainer is a container in KCI's terms with its ContainerSpec; an
// init container is its InitContainer part.
type mappedContainer struct {
	kci.Container
	spec kci.ContainerSpec
}

// origContainer is the container name of the pod as stored, or nil.
func origContainer(pod *corev1.Pod, name string, init bool) *corev1.Container {
	if pod == nil {
		return nil
	}
	list := pod.Spec.Containers
	if init {
		list = pod.Spec.InitContainers
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func (m *Mapping) container(c *corev1.Container, field string, orig *corev1.Container) (*mappedContainer, size, error) {
	type unsupported struct {
		name string
		set  bool
		why  string
	}
	for _, u := range []unsupported{
		{"lifecycle", c.Lifecycle != nil, "KCI has no postStart or preStop hooks"},
		{"stdin", c.Stdin, "KCI cannot attach to a container's stdin"},
		{"tty", c.TTY, "KCI containers have no terminal of their own"},
		{"volumeDevices", len(c.VolumeDevices) > 0, "KCI has no block devices"},
		{"envFrom", len(c.EnvFrom) > 0, "unresolved"},
		{"resources.claims", len(c.Resources.Claims) > 0, "KCI has no dynamic resources"},
		{"restartPolicy", c.RestartPolicy != nil && !strings.HasPrefix(field, "spec.initContainers"), "KCI has one restart policy per group"},
	} {
		if u.set {
			return nil, size{}, refuse(field+"."+u.name, "%s", u.why)
		}
	}
	if c.TerminationMessagePath != "" && c.TerminationMessagePath != corev1.TerminationMessagePathDefault {
		return nil, size{}, refuse(field+".terminationMessagePath", "KCI reads no termination message")
	}
	if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		return nil, size{}, refuse(field+".terminationMessagePolicy", "KCI reads no termination message")
	}
	mc := &mappedContainer{Container: kci.Container{InitContainer: kci.InitContainer{
		Name: c.Name, Image: c.Image, ImagePullPolicy: string(c.ImagePullPolicy),
		Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir,
	}}}
	if sc := c.SecurityContext; sc != nil {
		rest := *sc
		rest.Privileged = nil
		if b, _ := json.Marshal(rest); string(b) != "{}" {
			return nil, size{}, refuse(field+".securityContext", "KCI honours only privileged (users, groups, capabilities, read-only root, seccomp, SELinux and AppArmor are not mapped)")
		}
		if sc.Privileged != nil && *sc.Privileged {
			mc.SecurityContext = &kci.SecurityContext{Privileged: true}
		}
	}
	env, err := envVars(c, field, orig)
	if err != nil {
		return nil, size{}, err
	}
	mc.EnvironmentVars = env
	for _, pr := range []struct {
		name string
		in   *corev1.Probe
		out  **kci.Probe
	}{{"livenessProbe", c.LivenessProbe, &mc.LivenessProbe}, {"readinessProbe", c.ReadinessProbe, &mc.ReadinessProbe}, {"startupProbe", c.StartupProbe, &mc.StartupProbe}} {
		if *pr.out, err = probe(pr.in, field+"."+pr.name, c); err != nil {
			return nil, size{}, err
		}
	}
	for j, p := range c.Ports {
		pf := fmt.Sprintf("%s.ports[%d]", field, j)
		if p.HostPort != 0 {
			return nil, size{}, refuse(pf+".hostPort", "a group has no host ports")
		}
		if p.HostIP != "" {
			return nil, size{}, refuse(pf+".hostIP", "a group has no host ports")
		}
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		if proto != "TCP" && proto != "UDP" {
			return nil, size{}, refuse(pf+".protocol", "KCI ports are TCP or UDP, not %s", proto)
		}
		mc.Ports = append(mc.Ports, kci.Port{Port: int(p.ContainerPort), Protocol: proto})
	}
	for j, vm := range c.VolumeMounts {
		vf := fmt.Sprintf("%s.volumeMounts[%d]", field, j)
		switch {
		case vm.SubPath != "" || vm.SubPathExpr != "":
			return nil, size{}, refuse(vf+".subPath", "KCI mounts whole volumes")
		case vm.MountPropagation != nil && *vm.MountPropagation != corev1.MountPropagationNone:
			return nil, size{}, refuse(vf+".mountPropagation", "KCI has no mount propagation")
		case vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly != corev1.RecursiveReadOnlyDisabled:
			return nil, size{}, refuse(vf+".recursiveReadOnly", "KCI has no recursive read-only mounts")
		}
		mc.VolumeMounts = append(mc.VolumeMounts, kci.VolumeMount{Name: vm.Name, MountPath: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"limits", c.Resources.Limits}, {"requests", c.Resources.Requests}} {
		for _, name := range slices.Sorted(maps.Keys(kind.list)) {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && (name != m.GPUResource || m.GPUResource == "") {
				return nil, size{}, refuse(field+".resources."+kind.name+"["+string(name)+"]", "%s", m.unmappedResource())
			}
		}
	}
	if mc.GPU, err = m.gpus(c, field); err != nil {
		return nil, size{}, err
	}
	cores := func(q resource.Quantity) float64 { return float64(q.MilliValue()) / 1000 }
	gib := func(q resource.Quantity) float64 { return float64(q.Value()) / (1 << 30) }
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		mc.CPU = roundUp(cores(q))
		mc.spec.LimitCPU = mc.CPU
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		mc.Memory = roundUp(gib(q))
		mc.spec.LimitMem = mc.Memory
	}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		mc.spec.RequestCPU = roundUp(cores(q))
	}
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		mc.spec.RequestMem = roundUp(gib(q))
	}
	// The container's share of the group: its limit, else its request.
	sz := size{cpu: mc.CPU, mem: mc.Memory}
	if sz.cpu == 0 {
		sz.cpu = mc.spec.RequestCPU
	}
	if sz.mem == 0 {
		sz.mem = mc.spec.RequestMem
	}
	return mc, sz, nil
}

// unmappedResource says which resources map to a group.
func (m *Mapping) unmappedResource() string {
	if m.GPUResource == "" {
		return "KCI sizes containers by CPU and memory only (this node offers no GPUs: start the provider with --gpus to offer them)"
	}
	return "KCI sizes containers by CPU, memory and GPUs (" + string(m.GPUResource) + ") only"
}

// gpus is how many of the node's GPUs a container asks for: its limit of
// GPUResource, a whole number (a request, when given, must equal it, as
// the cluster requires for extended resources).
func (m *Mapping) gpus(c *corev1.Container, field string) (int, error) {
	if m.GPUResource == "" {
		return 0, nil
	}
	limit, hasLimit := c.Resources.Limits[m.GPUResource]
	request, hasRequest := c.Resources.Requests[m.GPUResource]
	f := field + ".resources.limits[" + string(m.GPUResource) + "]"
	switch {
	case hasRequest && !hasLimit:
		return 0, refuse(field+".resources.requests["+string(m.GPUResource)+"]", "GPUs are asked for with a limit (the request defaults to it)")
	case !hasLimit:
		return 0, nil
	case hasRequest && request.Cmp(limit) != 0:
		return 0, refuse(field+".resources.requests["+string(m.GPUResource)+"]", "%s differs from the limit %s; KCI gives whole GPUs, not shares", request.String(), limit.String())
	}
	n := limit.Value()
	if limit.MilliValue()%1000 != 0 || n < 0 || n > math.MaxInt32 {
		return 0, refuse(f, "%s is not a whole number of GPUs; KCI gives whole GPUs, not shares", limit.String())
	}
	return int(n), nil
}

// probe maps a container's probe (nil for none): an exec, HTTP GET or
// TCP handler with Kubernetes' timings, which kcid runs with Kubernetes'
// semantics.
func probe(p *corev1.Probe, field string, c *corev1.Container) (*kci.Probe, error) {
	if p == nil {
		return nil, nil
	}
	if p.TerminationGracePeriodSeconds != nil {
		return nil, refuse(field+".terminationGracePeriodSeconds", "KCI has no grace period per probe")
	}
	kp := &kci.Probe{
		InitialDelaySeconds: int(p.InitialDelaySeconds), PeriodSeconds: int(p.PeriodSeconds), TimeoutSeconds: int(p.TimeoutSeconds),
		SuccessThreshold: int(p.SuccessThreshold), FailureThreshold: int(p.FailureThreshold),
	}
	var err error
	switch h := p.ProbeHandler; {
	case h.Exec != nil:
		kp.Exec = &kci.ExecAction{Command: h.Exec.Command}
	case h.HTTPGet != nil:
		switch {
		case h.HTTPGet.Host != "":
			return nil, refuse(field+".httpGet.host", "KCI probes the group's own address")
		case len(h.HTTPGet.HTTPHeaders) > 0:
			return nil, refuse(field+".httpGet.httpHeaders", "KCI's HTTP probes send no headers")
		}
		kp.HTTPGet = &kci.HTTPGetAction{Path: h.HTTPGet.Path, Scheme: string(h.HTTPGet.Scheme)}
		kp.HTTPGet.Port, err = probePort(h.HTTPGet.Port, c, field+".httpGet.port")
	case h.TCPSocket != nil:
		if h.TCPSocket.Host != "" {
			return nil, refuse(field+".tcpSocket.host", "KCI probes the group's own address")
		}
		kp.TCPSocket = &kci.TCPSocketAction{}
		kp.TCPSocket.Port, err = probePort(h.TCPSocket.Port, c, field+".tcpSocket.port")
	case h.GRPC != nil:
		return nil, refuse(field+".grpc", "KCI has no gRPC probes")
	default:
		return nil, refuse(field, "a probe needs exec, httpGet or tcpSocket")
	}
	if err != nil {
		return nil, err
	}
	return kp, nil
}

// probePort is a probe's port: a number, or the name of a port of the
// container.
func probePort(p intstr.IntOrString, c *corev1.Container, field string) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, refuse(field, "no port of the container is named %q", p.StrVal)
}

// roundUp rounds up to kcid's 0.01 steps of cores and GiB.
func roundUp(v float64) float64 {
	return math.Ceil(v*100-1e-9) / 100
}

// envVars maps the environment. The pod controller resolved every
// reference before CreatePod except those KCI resolves itself at start:
// status.podIP(s), which it resolved too early (to ""), so they are
// taken from the pod as stored.
func envVars(c *corev1.Container, field string, orig *corev1.Container) ([]kci.EnvironmentVar, error) {
	late := map[string]string{}
	if orig != nil {
		for _, e := range orig.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				switch p := e.ValueFrom.FieldRef.FieldPath; p {
				case kci.FieldPodIP, kci.FieldPodIPs:
					late[e.Name] = p
				case "status.hostIP", "status.hostIPs":
					return nil, refuse(field+".env["+e.Name+"]", "KCI does not tell a group its host's address (%s)", p)
				}
			}
		}
	}
	var out []kci.EnvironmentVar
	for _, e := range c.Env {
		if p, ok := late[e.Name]; ok {
			out = append(out, kci.EnvironmentVar{Key: e.Name, ValueFrom: &kci.ValueFrom{FieldRef: &kci.FieldRef{FieldPath: p}}})
			continue
		}
		if e.ValueFrom != nil {
			if f := e.ValueFrom.FieldRef; f != nil && (f.FieldPath == kci.FieldPodIP || f.FieldPath == kci.FieldPodIPs) {
				out = append(out, kci.EnvironmentVar{Key: e.Name, ValueFrom: &kci.ValueFrom{FieldRef: &kci.FieldRef{FieldPath: f.FieldPath}}})
				continue
			}
			return nil, refuse(field+".env["+e.Name+"].valueFrom", "was not resolved before the create")
		}
		out = append(out, kci.EnvironmentVar{Key: e.Name, Value: e.Value})
	}
	// The pod controller hands the environment over as a map: sort it so
	// that the same pod always makes the same request.
	slices.SortFunc(out, func(a, b kci.EnvironmentVar) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// pullCredentials maps imagePullSecrets (kubernetes.io/dockerconfigjson
// or dockercfg) to registry credentials.
func pullCredentials(pod *corev1.Pod, src Sources) ([]kci.ImageRegistryCredential, error) {
	var out []kci.ImageRegistryCredential
	for i, ref := range pod.Spec.ImagePullSecrets {
		field := fmt.Sprintf("spec.imagePullSecrets[%d]", i)
		s, err := src.Secret(pod.Namespace, ref.Name)
		if err != nil {
			var nf *NotFound
			if errors.As(err, &nf) {
				// kubelet pulls without a missing pull secret, and so does
				// this provider (the pull fails if the registry needs it).
				continue
			}
			return nil, err
		}
		var auths map[string]dockerAuth
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			var cfg struct {
				Auths map[string]dockerAuth `json:"auths"`
			}
			if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, refuse(field, "secret %s: %s is not JSON: %v", ref.Name, corev1.DockerConfigJsonKey, err)
			}
			auths = cfg.Auths
		case corev1.SecretTypeDockercfg:
			if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths); err != nil {
				return nil, refuse(field, "secret %s: %s is not JSON: %v", ref.Name, corev1.DockerConfigKey, err)
			}
		default:
			return nil, refuse(field, "secret %s is of type %s, not %s", ref.Name, s.Type, corev1.SecretTypeDockerConfigJson)
		}
		servers := make([]string, 0, len(auths))
		for server := range auths {
			servers = append(servers, server)
		}
		slices.Sort(servers)
		for _, server := range servers {
			a := auths[server]
			user, pass := a.Username, a.Password
			if a.Auth != "" {
				raw, err := base64.StdEncoding.DecodeString(a.Auth)
				u, p, ok := strings.Cut(string(raw), ":")
				if err != nil || !ok {
					return nil, refuse(field, "secret %s: the auth of %s is not base64 of user:password", ref.Name, server)
				}
				user, pass = u, p
			}
			host := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
			host = strings.TrimSuffix(host, "/")
			out = append(out, kci.ImageRegistryCredential{Server: host, Username: user, Password: pass})
		}
	}
	return out, nil
}

type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// volumes maps the pod's volumes: emptyDir to EmptyDirVolume;
// configMap, secret, downwardAPI and projected to ConfigFileVolume with
// the files as they are now (never updated).
func (m *Mapping) volumes(ctx context.Context, pod *corev1.Pod, src Sources) ([]kci.Volume, error) {
	var out []kci.Volume
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		field := fmt.Sprintf("spec.volumes[%d]", i)
		switch {
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium != corev1.StorageMediumDefault {
				return nil, refuse(field+".emptyDir.medium", "KCI empty dirs are on disk, not %s", v.EmptyDir.Medium)
			}
			if v.EmptyDir.SizeLimit != nil {
				return nil, refuse(field+".emptyDir.sizeLimit", "KCI empty dirs have no size limit")
			}
			out = append(out, kci.Volume{Name: v.Name, Type: kci.VolumeEmptyDir})
		case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
			files, mode, err := m.files(ctx, pod, v, field, src)
			if err != nil {
				return nil, err
			}
			out = append(out, kci.Volume{Name: v.Name, Type: kci.VolumeConfigFile,
				ConfigFileVolume: &kci.ConfigFileVolume{Files: files, DefaultMode: mode}})
		default:
			return nil, refuse(field, "volume %s: only emptyDir, configMap, secret, downwardAPI and projected volumes map to KCI", v.Name)
		}
	}
	return out, nil
}

// fileSet collects the files of one ConfigFile volume.
type fileSet struct {
	files []kci.ConfigFile
}

func (s *fileSet) add(p string, content []byte, mode *int32) {
	f := kci.ConfigFile{Path: p, Content: base64.StdEncoding.EncodeToString(content)}
	if mode != nil {
		f.Mode = octal(*mode)
	}
	s.files = append(s.files, f)
}

func octal(m int32) string { return "0" + strconv.FormatInt(int64(m)&0o777, 8) }

// addKeys adds a ConfigMap's or Secret's keys: every key, or the items.
func (s *fileSet) addKeys(field string, data map[string][]byte, items []corev1.KeyToPath, optional bool, what string) error {
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s.add(k, data[k], nil)
		}
		return nil
	}
	for j, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return refuse(fmt.Sprintf("%s.items[%d].key", field, j), "%s has no key %q", what, it.Key)
		}
		s.add(it.Path, b, it.Mode)
	}
	return nil
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data
}

func (m *Mapping) files(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, field string, src Sources) ([]kci.ConfigFile, string, error) {
	var set fileSet
	var defaultMode *int32
	optional := func(b *bool) bool { return b != nil && *b }
	addConfigMap := func(f string, name string, items []corev1.KeyToPath, opt *bool) error {
		cm, err := src.ConfigMap(pod.Namespace, name)
		if err != nil {
			return missingSource(f, err, optional(opt))
		}
		return set.addKeys(f, configMapData(cm), items, optional(opt), "configMap "+name)
	}
	addSecret := func(f string, name string, items []corev1.KeyToPath, opt *bool) error {
		s, err := src.Secret(pod.Namespace, name)
		if err != nil {
			return missingSource(f, err, optional(opt))
		}
		return set.addKeys(f, s.Data, items, optional(opt), "secret "+name)
	}
	addDownward := func(f string, items []corev1.DownwardAPIVolumeFile) error {
		for j, it := range items {
			if it.FieldRef == nil {
				return refuse(fmt.Sprintf("%s.items[%d].resourceFieldRef", f, j), "only fieldRef of metadata maps to a file")
			}
			val, ok := podField(pod, it.FieldRef.FieldPath)
			if !ok {
				return refuse(fmt.Sprintf("%s.items[%d].fieldRef", f, j), "%s is not known when the group is made", it.FieldRef.FieldPath)
			}
			set.add(it.Path, []byte(val), it.Mode)
		}
		return nil
	}
	var err error
	switch {
	case v.ConfigMap != nil:
		defaultMode = v.ConfigMap.DefaultMode
		err = addConfigMap(field+".configMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
	case v.Secret != nil:
		defaultMode = v.Secret.DefaultMode
		err = addSecret(field+".secret", v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
	case v.DownwardAPI != nil:
		defaultMode = v.DownwardAPI.DefaultMode
		err = addDownward(field+".downwardAPI", v.DownwardAPI.Items)
	case v.Projected != nil:
		defaultMode = v.Projected.DefaultMode
	sources:
		for j, ps := range v.Projected.Sources {
			f := fmt.Sprintf("%s.projected.sources[%d]", field, j)
			switch {
			case ps.ConfigMap != nil:
				err = addConfigMap(f+".configMap", ps.ConfigMap.Name, ps.ConfigMap.Items, ps.ConfigMap.Optional)
			case ps.Secret != nil:
				err = addSecret(f+".secret", ps.Secret.Name, ps.Secret.Items, ps.Secret.Optional)
			case ps.DownwardAPI != nil:
				err = addDownward(f+".downwardAPI", ps.DownwardAPI.Items)
			case ps.ServiceAccountToken != nil:
				t := ps.ServiceAccountToken
				exp := int64(3600)
				if t.ExpirationSeconds != nil {
					exp = *t.ExpirationSeconds
				}
				var tok string
				tok, err = src.Token(ctx, pod, t.Audience, exp)
				if err == nil {
					set.add(t.Path, []byte(tok), nil)
				}
			default:
				err = refuse(f, "only configMap, secret, downwardAPI and serviceAccountToken sources map to files")
			}
			if err != nil {
				break sources
			}
		}
	}
	if err != nil {
		return nil, "", err
	}
	for _, f := range set.files {
		if p := path.Clean(f.Path); p != f.Path || strings.HasPrefix(p, "../") || path.IsAbs(p) {
			return nil, "", refuse(field, "file path %q is not a clean relative path", f.Path)
		}
	}
	mode := ""
	if defaultMode != nil {
		mode = octal(*defaultMode)
	}
	return set.files, mode, nil
}

// missingSource is the answer to a ConfigMap or Secret that could not be
// read: nothing when it is missing and optional, else an error that makes
// the create be tried again (kubelet, too, waits for a missing volume
// source; it may just not be in the cache yet).
func missingSource(field string, err error, optional bool) error {
	var nf *NotFound
	if errors.As(err, &nf) && optional {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

// podField is a downward-API field of the pod known before it runs.
func podField(pod *corev1.Pod, p string) (string, bool) {
	switch p {
	case "metadata.name":
		return pod.Name, true
	case "metadata.namespace":
		return pod.Namespace, true
	case "metadata.uid":
		return string(pod.UID), true
	case "spec.nodeName":
		return pod.Spec.NodeName, true
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, true
	case "metadata.labels", "metadata.annotations":
		m := pod.Labels
		if p == "metadata.annotations" {
			m = pod.Annotations
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q\n", k, m[k])
		}
		return b.String(), true
	}
	if k, ok := strings.CutPrefix(p, "metadata.labels['"); ok {
		v := pod.Labels[strings.TrimSuffix(k, "']")]
		return v, true
	}
	if k, ok := strings.CutPrefix(p, "metadata.annotations['"); ok {
		v := pod.Annotations[strings.TrimSuffix(k, "']")]
		return v, true
	}
	return "", false
}
