package kube

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/record"
)

// Labels and annotations on everything this runtime creates. Labels carry
// what selectors need (group, account, zone, subnet, VPC, security groups);
// the annotation AnnotationGroup carries the whole group so that the
// cluster is the only store.
const (
	prefix = "kci.openkci.io/"

	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedByValue  = "openkci"
	LabelGroupID    = prefix + "group-id"
	LabelAccountID  = prefix + "account-id"
	LabelName       = prefix + "name"
	LabelRegion     = prefix + "region"
	LabelZone       = prefix + "zone"
	LabelSubnetID   = prefix + "subnet-id"
	LabelVpcID      = prefix + "vpc-id"
	LabelChargeType = prefix + "charge-type"
	// LabelSecurityGroupPrefix + ID = "true" for each security group.
	LabelSecurityGroupPrefix = "sg.kci.openkci.io/"
	// LabelUserSuffix ends the prefix of the pod label a group's own label
	// becomes (userLabelKey), so none can clash with kcid's labels.
	LabelUserSuffix = "label.kci.openkci.io"
	// LabelRole marks owned objects: "config-file", "pull-secret", "disk".
	LabelRole = prefix + "role"

	AnnotationGroup          = prefix + "group"
	AnnotationAccountID      = prefix + "account-id"
	AnnotationSecurityGroups = prefix + "security-group-ids"
	AnnotationDiskID         = prefix + "disk-id"
	AnnotationIngressBW      = "kubernetes.io/ingress-bandwidth"
	AnnotationEgressBW       = "kubernetes.io/egress-bandwidth"

	// FinalizerGroup is on every pod this runtime creates and is removed
	// only by Remove (DeleteContainerGroup): a pod deleted or evicted by
	// anyone else stays, terminating, and its group shows Failed with an
	// event instead of vanishing with it.
	FinalizerGroup = prefix + "group"

	roleConfigFile = "config-file"
	rolePullSecret = "pull-secret"
	roleDisk       = "disk"
)

// ResourceMode says how a group's CPU and memory become pod resources.
type ResourceMode string

const (
	// ResourcesAuto picks ResourcesPod on clusters from v1.34 (where
	// PodLevelResources is on by default), else ResourcesContainers.
	ResourcesAuto ResourceMode = ""
	// ResourcesPod sets the group's CPU/memory as the pod-level
	// spec.resources (requests = limits) and each container's own values as
	// container limits (requests = limits).
	ResourcesPod ResourceMode = "pod"
	// ResourcesContainers spreads the group's CPU/memory over the
	// containers: a container with its own value keeps it; the rest of the
	// group's total is shared equally by the containers without one. Every
	// container gets requests = limits.
	ResourcesContainers ResourceMode = "containers"
)

// mapping holds what the pod mapping depends on besides the group.
type mapping struct {
	namespacePrefix string
	grace           int64 // seconds
	resources       ResourceMode
	// gpuResource is Config.GPUResource.
	gpuResource corev1.ResourceName
}

// objects is what one group becomes: a pod and the objects it owns (created
// first, then given the pod as owner).
type objects struct {
	Pod     *corev1.Pod
	Secrets []*corev1.Secret
	Claims  []*corev1.PersistentVolumeClaim
}

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:10]
}

// podName is the pod of a group: the group ID when it is a DNS label (a
// UUID is), else "kci-" and a hash of it.
func podName(groupID string) string {
	if len(groupID) <= 63 && dns1123Label.MatchString(groupID) {
		return groupID
	}
	return "kci-" + shortHash(groupID)
}

// namespaceName is the namespace of an account: prefix + account ID when
// that is a valid DNS label, else prefix + a cleaned, shortened ID and a
// hash of the ID (so two IDs never share a namespace).
func namespaceName(prefix, accountID string) string {
	n := prefix + accountID
	if len(n) <= 63 && dns1123Label.MatchString(n) {
		return n
	}
	var b strings.Builder
	for _, r := range strings.ToLower(accountID) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	clean := strings.Trim(b.String(), "-")
	max := 63 - len(prefix) - 11
	if len(clean) > max {
		clean = clean[:max]
	}
	clean = strings.Trim(clean, "-")
	if clean != "" {
		clean += "-"
	}
	return prefix + clean + shortHash(accountID)
}

// labelValue returns v when it is a valid label value, else a hash of it.
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	return "h-" + shortHash(v)
}

// hostname is the pod's host name, as the containerd runtime chooses it:
// the group's Name when it is a DNS label, else its ID.
func hostname(g *core.Group) string {
	n := strings.ToLower(g.Name)
	if len(n) <= 63 && dns1123Label.MatchString(n) {
		return n
	}
	return podName(g.ID)
}

func configSecretName(pod, volume string) string { return pod + "-cfg-" + volume }
func pullSecretName(pod string) string           { return pod + "-pull" }
func claimName(pod, volume string) string        { return pod + "-" + volume }

// groupLabels are on the pod and on every object it owns.
func groupLabels(g *core.Group) map[string]string {
	l := map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelGroupID:   labelValue(g.ID),
		LabelAccountID: labelValue(g.AccountID),
	}
	return l
}

// podLabels adds what Describe filters select on.
func podLabels(g *core.Group) map[string]string {
	l := groupLabels(g)
	set := func(k, v string) {
		if v != "" {
			l[k] = labelValue(v)
		}
	}
	set(LabelName, g.Name)
	set(LabelRegion, g.Region)
	set(LabelZone, g.Zone)
	set(LabelSubnetID, g.Network.SubnetID)
	set(LabelVpcID, g.Network.VpcID)
	set(LabelChargeType, g.ChargeType)
	for _, ul := range g.Labels {
		l[userLabelKey(ul.Key)] = ul.Value // validated as a label value by the API
	}
	for _, sg := range g.Network.SecurityGroupIDs {
		k := LabelSecurityGroupPrefix + sg
		if len(validation.IsQualifiedName(k)) == 0 {
			l[k] = "true"
		}
	}
	return l
}

// userLabelKey is the pod label of a group's label key: "cluster-id"
// becomes "label.kci.openkci.io/cluster-id" and "example.com/tier"
// "example.com.label.kci.openkci.io/tier" (one-to-one, and never a key of
// kcid's own); a prefix too long for that is hashed.
func userLabelKey(key string) string {
	prefix, name, ok := strings.Cut(key, "/")
	if !ok {
		return LabelUserSuffix + "/" + key
	}
	if p := prefix + "." + LabelUserSuffix; len(p) <= 253 {
		return p + "/" + name
	}
	return "h-" + shortHash(prefix) + "." + LabelUserSuffix + "/" + name
}

// redacted is the group as kept in the pod's annotation: registry passwords
// and config file contents live only in the owned Secrets.
func redacted(g *core.Group) *core.Group {
	c := *g
	c.Credentials = nil
	for _, rc := range g.Credentials {
		rc.Password = ""
		c.Credentials = append(c.Credentials, rc)
	}
	c.Volumes = nil
	for _, v := range g.Volumes {
		v.ConfigFiles = slices.Clone(v.ConfigFiles)
		for i := range v.ConfigFiles {
			v.ConfigFiles[i].Content = nil
		}
		c.Volumes = append(c.Volumes, v)
	}
	return &c
}

// encodeGroup is the AnnotationGroup value: a record.GroupDoc of the
// redacted group (versions in docs/state.md).
func encodeGroup(g *core.Group) (string, error) {
	b, err := record.MarshalGroup(redacted(g), nil)
	return string(b), err
}

// decodeGroup reads a pod's group back from its annotation, of any record
// version this kcid knows.
func decodeGroup(p *corev1.Pod) (*core.Group, error) {
	s, ok := p.Annotations[AnnotationGroup]
	if !ok {
		return nil, fmt.Errorf("pod %s/%s has no %s annotation", p.Namespace, p.Name, AnnotationGroup)
	}
	g, err := record.UnmarshalGroup([]byte(s), nil)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: annotation %s: %w", p.Namespace, p.Name, AnnotationGroup, err)
	}
	return g, nil
}

func milliCPU(cores float64) int64 { return int64(math.Round(cores * 1000)) }
func memBytes(gib float64) int64   { return int64(math.Round(gib * (1 << 30))) }

func cpuQty(m int64) resource.Quantity { return *resource.NewMilliQuantity(m, resource.DecimalSI) }
func memQty(b int64) resource.Quantity { return *resource.NewQuantity(b, resource.BinarySI) }

func limits(mcpu, mem int64) corev1.ResourceRequirements {
	rl := corev1.ResourceList{}
	if mcpu > 0 {
		rl[corev1.ResourceCPU] = cpuQty(mcpu)
	}
	if mem > 0 {
		rl[corev1.ResourceMemory] = memQty(mem)
	}
	if len(rl) == 0 {
		return corev1.ResourceRequirements{}
	}
	return corev1.ResourceRequirements{Limits: rl, Requests: rl.DeepCopy()}
}

// bandwidth is an annotation value for Mbit/s: "10M".
func bandwidth(mbit int64) string { return strconv.FormatInt(mbit, 10) + "M" }

// dockerConfigJSON is the .dockerconfigjson of a group's credentials.
func dockerConfigJSON(creds []core.RegistryCredential) ([]byte, error) {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	auths := map[string]entry{}
	for _, c := range creds {
		auths[c.Server] = entry{c.Username, c.Password,
			base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))}
	}
	return json.Marshal(map[string]any{"auths": auths})
}

func fileMode(m uint32) *int32 {
	v := int32(m & 0o7777)
	return &v
}

// build maps a group to its pod and the objects the pod owns. It does no
// I/O; the result is deterministic (golden-tested).
func (m mapping) build(g *core.Group) (*objects, error) {
	name := podName(g.ID)
	ns := namespaceName(m.namespacePrefix, g.AccountID)
	enc, err := encodeGroup(g)
	if err != nil {
		return nil, err
	}
	ann := map[string]string{
		AnnotationGroup:     enc,
		AnnotationAccountID: g.AccountID,
	}
	if len(g.Network.SecurityGroupIDs) > 0 {
		ann[AnnotationSecurityGroups] = strings.Join(g.Network.SecurityGroupIDs, ",")
	}
	if g.IngressBandwidth > 0 {
		ann[AnnotationIngressBW] = bandwidth(g.IngressBandwidth)
	}
	if g.EgressBandwidth > 0 {
		ann[AnnotationEgressBW] = bandwidth(g.EgressBandwidth)
	}
	f := false
	grace := m.grace
	restart := corev1.RestartPolicyAlways
	switch g.RestartPolicy {
	case core.RestartNever:
		restart = corev1.RestartPolicyNever
	case core.RestartOnFailure:
		restart = corev1.RestartPolicyOnFailure
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: podLabels(g), Annotations: ann,
			Finalizers: []string{FinalizerGroup},
		},
		Spec: corev1.PodSpec{
			Hostname:                      hostname(g),
			HostPID:                       g.HostPID,
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &f,
			EnableServiceLinks:            &f,
			DNSPolicy:                     corev1.DNSDefault,
		},
	}
	out := &objects{Pod: pod}
	owned := func(role string) metav1.ObjectMeta {
		l := groupLabels(g)
		l[LabelRole] = role
		return metav1.ObjectMeta{Namespace: ns, Labels: l}
	}

	if g.DNS != nil {
		// Without name servers the kubelet merges the searches and options
		// into the node's resolv.conf (dnsPolicy None needs a name server).
		if len(g.DNS.NameServers) > 0 {
			pod.Spec.DNSPolicy = corev1.DNSNone
		}
		dc := &corev1.PodDNSConfig{
			Nameservers: slices.Clone(g.DNS.NameServers),
			Searches:    slices.Clone(g.DNS.Searches),
		}
		for _, o := range g.DNS.Options {
			opt := corev1.PodDNSConfigOption{Name: o.Name}
			if o.Value != "" {
				v := o.Value
				opt.Value = &v
			}
			dc.Options = append(dc.Options, opt)
		}
		pod.Spec.DNSConfig = dc
	}
	for _, a := range g.HostAliases {
		pod.Spec.HostAliases = append(pod.Spec.HostAliases, corev1.HostAlias{IP: a.IP, Hostnames: slices.Clone(a.Hostnames)})
	}
	if len(g.Credentials) > 0 {
		data, err := dockerConfigJSON(g.Credentials)
		if err != nil {
			return nil, err
		}
		meta := owned(rolePullSecret)
		meta.Name = pullSecretName(name)
		out.Secrets = append(out.Secrets, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta,
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: data},
		})
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: meta.Name}}
	}

	for _, v := range g.Volumes {
		vol := corev1.Volume{Name: v.Name}
		switch v.Type {
		case core.VolumeEmptyDir:
			vol.EmptyDir = &corev1.EmptyDirVolumeSource{}
		case core.VolumeConfigFile:
			def := v.DefaultMode
			if def == 0 {
				def = 0o644
			}
			meta := owned(roleConfigFile)
			meta.Name = configSecretName(name, v.Name)
			sec := &corev1.Secret{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: meta,
				Type:       corev1.SecretTypeOpaque,
				Data:       map[string][]byte{},
			}
			src := &corev1.SecretVolumeSource{SecretName: meta.Name, DefaultMode: fileMode(def)}
			for i, cf := range v.ConfigFiles {
				key := "file-" + strconv.Itoa(i)
				sec.Data[key] = cf.Content
				mode := cf.Mode
				if mode == 0 {
					mode = def
				}
				src.Items = append(src.Items, corev1.KeyToPath{Key: key, Path: cf.Path, Mode: fileMode(mode)})
			}
			out.Secrets = append(out.Secrets, sec)
			vol.Secret = src
		case core.VolumeEBS:
			if v.EBS == nil {
				return nil, fmt.Errorf("volume %q: EBSVolume without a disk", v.Name)
			}
			if v.EBS.OnDemand() {
				// Its own claim, made and kept by Runtime (disks.go).
				cn, err := diskClaimName(v.EBS.VolumeID)
				if err != nil {
					return nil, fmt.Errorf("volume %q: %w", v.Name, err)
				}
				vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: cn}
				break
			}
			meta := owned(roleDisk)
			meta.Name = claimName(name, v.Name)
			meta.Annotations = map[string]string{AnnotationDiskID: v.EBS.VolumeID}
			// Bound to the disk's pre-created PV (see Runtime.diskPV); the
			// size and access mode are filled in from the PV at Start.
			out.Claims = append(out.Claims, diskClaim(meta, new(""), 0))
			vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: meta.Name}
		case core.VolumeNFS:
			if v.NFS == nil {
				return nil, fmt.Errorf("volume %q: NFSVolume without an export", v.Name)
			}
			// Mounted by the kubelet with the node's NFS client.
			vol.NFS = &corev1.NFSVolumeSource{Server: v.NFS.Server, Path: v.NFS.Path, ReadOnly: v.NFS.ReadOnly}
		case core.VolumeHostPath:
			// The node's path as it is (type unset: a file or a directory,
			// not created), as KCI's HostPathVolume; the prefix was checked
			// by the service, lexically (kcid does not see the nodes).
			vol.HostPath = &corev1.HostPathVolumeSource{Path: v.HostPath}
		default:
			return nil, fmt.Errorf("volume %q: unknown type %q", v.Name, v.Type)
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, vol)
	}

	// Resources. Explicit container values are container limits; the group's
	// total is the pod's (pod-level resources) or spread over the others.
	var setCPU, setMem int64
	var unsetCPU, unsetMem int
	for _, c := range g.Containers {
		if c.CPU > 0 {
			setCPU += milliCPU(c.CPU)
		} else {
			unsetCPU++
		}
		if c.Memory > 0 {
			setMem += memBytes(c.Memory)
		} else {
			unsetMem++
		}
	}
	var shareCPU, shareMem int64
	switch m.resources {
	case ResourcesContainers:
		if unsetCPU > 0 {
			shareCPU = max(0, milliCPU(g.CPU)-setCPU) / int64(unsetCPU)
		}
		if unsetMem > 0 {
			shareMem = max(0, memBytes(g.Memory)-setMem) / int64(unsetMem)
		}
	default:
		if r := limits(milliCPU(g.CPU), memBytes(g.Memory)); r.Limits != nil {
			pod.Spec.Resources = &r
		}
	}

	// An init container runs alone, so one without Cpu or Memory may use
	// the whole group's (pod-level resources bound it anyway).
	initCPU, initMem := shareCPU, shareMem
	if m.resources == ResourcesContainers {
		initCPU, initMem = milliCPU(g.CPU), memBytes(g.Memory)
	}
	for _, c := range g.InitContainers {
		ctr, err := m.container(g, c, initCPU, initMem)
		if err != nil {
			return nil, err
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, ctr)
	}
	for _, c := range g.Containers {
		ctr, err := m.container(g, c, shareCPU, shareMem)
		if err != nil {
			return nil, err
		}
		pod.Spec.Containers = append(pod.Spec.Containers, ctr)
	}
	return out, nil
}

// container maps a container or init container; shareCPU (millicores)
// and shareMem (bytes) are its limits when it gives none.
func (m mapping) container(g *core.Group, c core.Container, shareCPU, shareMem int64) (corev1.Container, error) {
	ctr := corev1.Container{
		Name:       c.Name,
		Image:      c.Image,
		Command:    slices.Clone(c.Command),
		Args:       slices.Clone(c.Args),
		WorkingDir: c.WorkingDir,
		// kubelet's default; stated so the manifest says it.
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	switch c.ImagePullPolicy {
	case "Always":
		ctr.ImagePullPolicy = corev1.PullAlways
	case "IfNotPresent":
		ctr.ImagePullPolicy = corev1.PullIfNotPresent
	case "Never":
		ctr.ImagePullPolicy = corev1.PullNever
	}
	for _, e := range c.Env {
		ev, err := envVar(g, e)
		if err != nil {
			return ctr, fmt.Errorf("container %q: %w", c.Name, err)
		}
		ctr.Env = append(ctr.Env, ev)
	}
	for _, p := range c.Ports {
		proto := corev1.ProtocolTCP
		if strings.EqualFold(p.Protocol, "UDP") {
			proto = corev1.ProtocolUDP
		}
		ctr.Ports = append(ctr.Ports, corev1.ContainerPort{ContainerPort: int32(p.Port), Protocol: proto})
	}
	for _, vm := range c.VolumeMounts {
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	if c.Privileged {
		privileged := true
		ctr.SecurityContext = &corev1.SecurityContext{Privileged: &privileged}
	}
	ctr.LivenessProbe, ctr.ReadinessProbe, ctr.StartupProbe = probe(c.LivenessProbe), probe(c.ReadinessProbe), probe(c.StartupProbe)
	mc, mm := milliCPU(c.CPU), memBytes(c.Memory)
	if c.CPU <= 0 {
		mc = shareCPU
	}
	if c.Memory <= 0 {
		mm = shareMem
	}
	// Requests (ContainerSpec) replace the requests = limits default; a
	// shared limit below a request is raised to it (the cluster
	// refuses requests above limits). Without a limit, only requests.
	if mc > 0 {
		mc = max(mc, milliCPU(c.RequestCPU))
	}
	if mm > 0 {
		mm = max(mm, memBytes(c.RequestMemory))
	}
	ctr.Resources = limits(mc, mm)
	if c.RequestCPU > 0 || c.RequestMemory > 0 {
		if ctr.Resources.Requests == nil {
			ctr.Resources.Requests = corev1.ResourceList{}
		}
		if c.RequestCPU > 0 {
			ctr.Resources.Requests[corev1.ResourceCPU] = cpuQty(milliCPU(c.RequestCPU))
		}
		if c.RequestMemory > 0 {
			ctr.Resources.Requests[corev1.ResourceMemory] = memQty(memBytes(c.RequestMemory))
		}
	}
	if c.GPU > 0 {
		// An extended resource: the scheduler places the pod on a node
		// with that many free, and the device plugin hands them out;
		// requests default to (and must equal) limits.
		if m.gpuResource == "" {
			return ctr, fmt.Errorf("container %s asks for %d GPUs but this runtime has no GPU resource to ask the cluster for (config node.gpus.kubernetesResource)", c.Name, c.GPU)
		}
		if ctr.Resources.Limits == nil {
			ctr.Resources.Limits = corev1.ResourceList{}
		}
		ctr.Resources.Limits[m.gpuResource] = *resource.NewQuantity(int64(c.GPU), resource.DecimalSI)
	}
	return ctr, nil
}

// probe maps a probe to the pod's own, which the kubelet runs (the API
// filled in every default, so the manifest states them all).
func probe(p *core.Probe) *corev1.Probe {
	if p == nil {
		return nil
	}
	out := &corev1.Probe{
		InitialDelaySeconds: int32(p.InitialDelaySeconds),
		PeriodSeconds:       int32(p.PeriodSeconds),
		TimeoutSeconds:      int32(p.TimeoutSeconds),
		SuccessThreshold:    int32(p.SuccessThreshold),
		FailureThreshold:    int32(p.FailureThreshold),
	}
	switch {
	case p.Exec != nil:
		out.Exec = &corev1.ExecAction{Command: slices.Clone(p.Exec)}
	case p.HTTPGet != nil:
		out.HTTPGet = &corev1.HTTPGetAction{Port: intstr.FromInt32(int32(p.HTTPGet.Port)), Path: p.HTTPGet.Path,
			Scheme: corev1.URIScheme(p.HTTPGet.Scheme)}
	case p.TCPSocket != nil:
		out.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(p.TCPSocket.Port))}
	}
	return out
}

// envVar maps an environment variable. The group's name and ID are not the
// pod's (the pod is named after the group ID and has a UID of its own), so
// metadata.name and metadata.uid become literal values; so do the group's
// labels (the pod carries them under other keys, and they never change);
// the address and the node are the pod's, so they stay field references
// kubelet resolves.
func envVar(g *core.Group, e core.EnvVar) (corev1.EnvVar, error) {
	ev := corev1.EnvVar{Name: e.Key, Value: e.Value}
	ref := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	switch e.FieldPath {
	case "":
	case core.FieldPodIP, core.FieldPodIPs, core.FieldNodeName:
		ev.ValueFrom = ref(e.FieldPath)
	default:
		v, ok := g.FieldValue(e.FieldPath, "")
		if !ok {
			return ev, fmt.Errorf("environment variable %s: field path %q is not supported", e.Key, e.FieldPath)
		}
		ev.Value = v
	}
	return ev, nil
}
