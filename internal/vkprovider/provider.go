// Package vkprovider is kci-virtual-kubelet's provider: it runs the pods
// that Kubernetes schedules to a virtual node as KCI container groups,
// through the public client pkg/kci only, so the same provider serves
// kcid and Kingsoft Cloud. It owns the pod→group mapping (Mapping, and
// the table in docs/virtual-kubelet.md), the group→pod status mapping
// (PodStatus), finding a pod's group by its labels (cluster-id,
// namespace, pod-name, node-name, pod-uid), logs and exec, and the node's
// readiness from KCI's health (Node). It keeps nothing but caches: a
// restarted provider finds every group again by its labels.
package vkprovider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/openkci/openkci/pkg/kci"
)

// Config configures a Provider.
type Config struct {
	// Client talks to KCI (kcid or the cloud).
	Client *kci.Client
	// Mapping places and sizes the groups and labels them with the
	// cluster and node.
	Mapping Mapping
	// Pods lists the pods bound to the node as stored in the cluster.
	Pods corev1listers.PodLister
	// Sources reads ConfigMaps and Secrets and makes tokens.
	Sources Sources
	// Recorder records the pod events (refusals, the groups' events).
	Recorder record.EventRecorder
	// HostIP is the node's address, shown as the pods' hostIP.
	HostIP string
	// LogPollInterval is how often a followed log is read again
	// (default 1 s).
	LogPollInterval time.Duration
	Logger          *slog.Logger
}

// Provider implements virtual-kubelet's PodLifecycleHandler and the
// node API's logs and exec on KCI groups. It is safe for concurrent use.
type Provider struct {
	cfg   Config
	log   *slog.Logger
	start time.Time

	mu sync.Mutex
	// given holds the pods as CreatePod and UpdatePod last received them
	// (their environment resolved), by UID: GetPod returns them so that
	// the pod controller sees no change.
	given map[types.UID]*corev1.Pod
	// refused holds the pods that were failed without a group, by UID.
	refused map[types.UID]*corev1.Pod
	// eventsSeen is, per pod UID, the time of the last group event
	// recorded on the pod; events from before the provider started were
	// recorded by the one before it.
	eventsSeen map[types.UID]time.Time
}

// New returns a provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Client == nil || cfg.Pods == nil || cfg.Sources == nil || cfg.Recorder == nil {
		return nil, errors.New("vkprovider: Client, Pods, Sources and Recorder are required")
	}
	if cfg.Mapping.ClusterID == "" || cfg.Mapping.NodeName == "" {
		return nil, errors.New("vkprovider: the mapping needs the cluster ID and the node name")
	}
	if cfg.LogPollInterval <= 0 {
		cfg.LogPollInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Provider{
		cfg: cfg, log: cfg.Logger, start: time.Now(),
		given: map[types.UID]*corev1.Pod{}, refused: map[types.UID]*corev1.Pod{}, eventsSeen: map[types.UID]time.Time{},
	}, nil
}

// filters select the node's groups, and of those the pod's when
// namespace and name are given.
func (p *Provider) filters(namespace, name string) []kci.Filter {
	f := []kci.Filter{
		{Name: kci.FilterLabelPrefix + LabelClusterID, Values: []string{p.cfg.Mapping.ClusterID}},
		{Name: kci.FilterLabelPrefix + LabelNodeName, Values: []string{p.cfg.Mapping.NodeName}},
	}
	if name != "" {
		f = append(f,
			kci.Filter{Name: kci.FilterLabelPrefix + LabelNamespace, Values: []string{namespace}},
			kci.Filter{Name: kci.FilterLabelPrefix + LabelPodName, Values: []string{name}})
	}
	return f
}

// podGroups returns the groups labelled with the pod's namespace and name
// (of any pod UID).
func (p *Provider) podGroups(ctx context.Context, namespace, name string) ([]kci.ContainerGroup, error) {
	return p.cfg.Client.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: p.filters(namespace, name)})
}

func label(g *kci.ContainerGroup, key string) string {
	for _, l := range g.Labels {
		if l.Key == key {
			return l.Value
		}
	}
	return ""
}

// pick is the group of the pod with UID uid (any UID when empty): the
// newest, should there be more than one.
func pick(groups []kci.ContainerGroup, uid types.UID) *kci.ContainerGroup {
	var best *kci.ContainerGroup
	for i := range groups {
		g := &groups[i]
		if uid != "" && label(g, LabelPodUID) != string(uid) {
			continue
		}
		if best == nil || g.CreateTime.After(best.CreateTime.Time) {
			best = g
		}
	}
	return best
}

// stored is the pod as stored in the cluster, if it is there with uid
// (any UID when empty).
func (p *Provider) stored(namespace, name string, uid types.UID) *corev1.Pod {
	pod, err := p.cfg.Pods.Pods(namespace).Get(name)
	if err != nil || uid != "" && pod.UID != uid {
		return nil
	}
	return pod
}

// CreatePod maps the pod to a group and creates it. A pod that cannot map,
// or whose group KCI refuses, is failed with an event, and CreatePod
// returns nil: trying again would not help. A group left by an earlier
// pod of the same name is deleted; one already made for this pod (a
// provider restart, a retried create) is adopted, never duplicated.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	log := p.log.With("namespace", pod.Namespace, "pod", pod.Name, "uid", pod.UID)
	groups, err := p.podGroups(ctx, pod.Namespace, pod.Name)
	if err != nil {
		return fmt.Errorf("look up the group of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	for _, g := range groups {
		if label(&g, LabelPodUID) != string(pod.UID) {
			log.Info("deleting the group of an earlier pod of this name", "group", g.ContainerGroupID, "uid", label(&g, LabelPodUID))
			if err := p.deleteGroup(ctx, g.ContainerGroupID); err != nil {
				return err
			}
		}
	}
	p.remember(pod)
	if g := pick(groups, pod.UID); g != nil {
		log.Info("pod already has a group", "group", g.ContainerGroupID)
		return nil
	}
	req, err := p.cfg.Mapping.GroupRequest(ctx, pod, p.stored(pod.Namespace, pod.Name, pod.UID), p.cfg.Sources)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		p.fail(pod, ReasonUnsupportedPodSpec, "KCI cannot run this pod: "+refusal.Error())
		return nil
	}
	if err != nil {
		return err
	}
	out, err := p.cfg.Client.CreateContainerGroup(ctx, req)
	var apiErr *kci.APIError
	// A refusal of the request fails the pod; a full KCI (capacity) or
	// a transient error is tried again.
	if errors.As(err, &apiErr) && !apiErr.Transient() && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && apiErr.Code != kci.CodeInsufficientResource {
		p.fail(pod, ReasonKCIRefused, fmt.Sprintf("KCI refused the group: %s: %s", apiErr.Code, apiErr.Message))
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the group of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	log.Info("created group", "group", out.ContainerGroupID)
	return nil
}

// remember keeps the pod as given, for GetPod.
func (p *Provider) remember(pod *corev1.Pod) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.given[pod.UID] = pod.DeepCopy()
}

// fail records a Warning event on the pod and keeps it as failed: GetPod
// answers with that status until the pod is deleted.
func (p *Provider) fail(pod *corev1.Pod, reason, message string) {
	p.log.Warn("pod refused", "namespace", pod.Namespace, "pod", pod.Name, "reason", reason, "message", message)
	p.cfg.Recorder.Event(pod, corev1.EventTypeWarning, reason, message)
	failed := pod.DeepCopy()
	failed.Status = failedStatus(reason, message)
	now := metav1.Now()
	for _, c := range pod.Spec.Containers {
		failed.Status.ContainerStatuses = append(failed.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: reason, Message: message, FinishedAt: now}},
		})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused[pod.UID] = failed
}

// ReasonImageChangeNotApplied is the Warning event of a pod update that
// changes an image.
const ReasonImageChangeNotApplied = "ImageChangeNotApplied"

// UpdatePod takes what KCI need not know (labels, annotations,
// tolerations). A new image cannot be applied (a group's containers
// cannot be changed): it is announced with a Warning event, and the
// pod's status keeps showing the image that runs. Returning an error
// instead would make the pod controller mark a running pod Pending and
// try again at every resync.
func (p *Provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	groups, err := p.podGroups(ctx, pod.Namespace, pod.Name)
	if err != nil {
		return err
	}
	if g := pick(groups, pod.UID); g != nil {
		for _, c := range pod.Spec.Containers {
			for _, gc := range g.Containers {
				if gc.Name == c.Name && gc.Image != c.Image {
					p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, ReasonImageChangeNotApplied,
						"container %s: KCI cannot change the image of a running group (%s stays, %s is not applied); delete the pod to have it re-created", c.Name, gc.Image, c.Image)
				}
			}
		}
	}
	p.remember(pod)
	return nil
}

// DeletePod deletes the pod's group (every group of the pod's UID). It
// may be called more than once.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	groups, err := p.podGroups(ctx, pod.Namespace, pod.Name)
	if err != nil {
		return fmt.Errorf("look up the group of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	for _, g := range groups {
		if pod.UID != "" && label(&g, LabelPodUID) != string(pod.UID) {
			continue
		}
		if err := p.deleteGroup(ctx, g.ContainerGroupID); err != nil {
			return err
		}
		p.log.Info("deleted group", "namespace", pod.Namespace, "pod", pod.Name, "group", g.ContainerGroupID)
	}
	p.mu.Lock()
	delete(p.given, pod.UID)
	delete(p.refused, pod.UID)
	delete(p.eventsSeen, pod.UID)
	p.mu.Unlock()
	return nil
}

func (p *Provider) deleteGroup(ctx context.Context, id string) error {
	_, err := p.cfg.Client.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: id})
	var apiErr *kci.APIError
	if errors.As(err, &apiErr) && apiErr.Code == kci.CodeContainerGroupNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

// GetPod returns the pod with the status of its group, or a NotFound
// error when it has none.
func (p *Provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	stored := p.stored(namespace, name, "")
	if stored != nil {
		p.mu.Lock()
		failed := p.refused[stored.UID]
		p.mu.Unlock()
		if failed != nil {
			return failed.DeepCopy(), nil
		}
	}
	groups, err := p.podGroups(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	var uid types.UID
	if stored != nil {
		uid = stored.UID
	}
	g := pick(groups, uid)
	if g == nil {
		return nil, errdefs.NotFoundf("pod %s/%s has no KCI group", namespace, name)
	}
	return p.podOf(g, stored), nil
}

// podOf is the pod of group g with the group's status: the pod as given
// or as stored when known, else made from the group's labels.
func (p *Provider) podOf(g *kci.ContainerGroup, stored *corev1.Pod) *corev1.Pod {
	uid := types.UID(label(g, LabelPodUID))
	p.mu.Lock()
	given := p.given[uid]
	p.mu.Unlock()
	var pod *corev1.Pod
	switch {
	case given != nil:
		pod = given.DeepCopy()
	case stored != nil && stored.UID == uid:
		pod = stored.DeepCopy()
	default:
		pod = &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: label(g, LabelNamespace), Name: label(g, LabelPodName), UID: uid},
			Spec:       corev1.PodSpec{NodeName: p.cfg.Mapping.NodeName},
		}
		for _, c := range g.Containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
		}
	}
	qos := pod.Status.QOSClass // the API server's, kept
	pod.Status = PodStatus(g, p.cfg.HostIP)
	pod.Status.QOSClass = qos
	p.recordEvents(pod, g)
	return pod
}

// recordEvents records the group's events newer than the last recorded
// as events of the pod.
func (p *Provider) recordEvents(pod *corev1.Pod, g *kci.ContainerGroup) {
	p.mu.Lock()
	since, ok := p.eventsSeen[pod.UID]
	if !ok {
		// Event times may be whole seconds: an event of the second the
		// provider started in is recorded (again, after a restart).
		since = p.start.Truncate(time.Second).Add(-time.Nanosecond)
	}
	latest := since
	var fresh []kci.Event
	for _, e := range g.Events {
		t := e.LastTimestamp
		if e.LastTimestampMs > 0 {
			t = time.UnixMilli(e.LastTimestampMs)
		}
		if t.After(since) {
			fresh = append(fresh, e)
			if t.After(latest) {
				latest = t
			}
		}
	}
	p.eventsSeen[pod.UID] = latest
	p.mu.Unlock()
	for _, e := range fresh {
		typ := corev1.EventTypeNormal
		if e.Type == corev1.EventTypeWarning {
			typ = corev1.EventTypeWarning
		}
		p.cfg.Recorder.Event(pod, typ, e.Reason, e.Message)
	}
}

// GetPodStatus is GetPod's status.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns the pods of every group of this node and cluster, and
// the pods failed without a group.
func (p *Provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	groups, err := p.cfg.Client.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: p.filters("", "")})
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for i := range groups {
		g := &groups[i]
		pods = append(pods, p.podOf(g, p.stored(label(g, LabelNamespace), label(g, LabelPodName), types.UID(label(g, LabelPodUID)))))
	}
	p.mu.Lock()
	for _, pod := range p.refused {
		pods = append(pods, pod.DeepCopy())
	}
	p.mu.Unlock()
	return pods, nil
}

// groupOf is the group of a pod that is in the cluster now.
func (p *Provider) groupOf(ctx context.Context, namespace, name string) (*kci.ContainerGroup, error) {
	var uid types.UID
	if stored := p.stored(namespace, name, ""); stored != nil {
		uid = stored.UID
	}
	groups, err := p.podGroups(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	g := pick(groups, uid)
	if g == nil {
		return nil, errdefs.NotFoundf("pod %s/%s has no KCI group", namespace, name)
	}
	return g, nil
}

// maxLogTail is the most lines DescribeContainerLog returns.
const maxLogTail = 2000

// GetContainerLogs reads a container's log through DescribeContainerLog:
// the last opts.Tail lines (at most 2000, all of them when unset), and
// with Follow the lines added after, read again every LogPollInterval
// until the container ends or the caller leaves.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	switch {
	case opts.Previous:
		return nil, errdefs.InvalidInput("KCI keeps one log per container, across its restarts: --previous is not served")
	case opts.Timestamps:
		return nil, errdefs.InvalidInput("KCI's log lines carry no timestamps: --timestamps is not served")
	case opts.SinceSeconds > 0 || !opts.SinceTime.IsZero():
		return nil, errdefs.InvalidInput("KCI's log lines carry no timestamps: --since and --since-time are not served")
	}
	g, err := p.groupOf(ctx, namespace, podName)
	if err != nil {
		return nil, err
	}
	tail := opts.Tail
	if tail <= 0 || tail > maxLogTail {
		tail = maxLogTail
	}
	read := func(ctx context.Context, n int) (string, error) {
		out, err := p.cfg.Client.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: g.ContainerGroupID, ContainerName: containerName, Tail: n})
		if err != nil {
			return "", err
		}
		return out.Content, nil
	}
	first, err := read(ctx, tail)
	if err != nil {
		return nil, err
	}
	if !opts.Follow {
		return io.NopCloser(limit(strings.NewReader(first), opts.LimitBytes)), nil
	}
	pr, pw := io.Pipe()
	go p.follow(ctx, pw, g.ContainerGroupID, containerName, first, read)
	return struct {
		io.Reader
		io.Closer
	}{limit(pr, opts.LimitBytes), pr}, nil
}

func limit(r io.Reader, n int) io.Reader {
	if n > 0 {
		return io.LimitReader(r, int64(n))
	}
	return r
}

// follow writes first, then the lines each later read adds, until the
// container has ended and a last read added nothing, or the reader left.
func (p *Provider) follow(ctx context.Context, w *io.PipeWriter, groupID, container, first string, read func(context.Context, int) (string, error)) {
	if _, err := io.WriteString(w, first); err != nil {
		return
	}
	seen := lines(first)
	t := time.NewTicker(p.cfg.LogPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.CloseWithError(ctx.Err())
			return
		case <-t.C:
		}
		ended := p.containerEnded(ctx, groupID, container)
		content, err := read(ctx, maxLogTail)
		if err != nil {
			var apiErr *kci.APIError
			if errors.As(err, &apiErr) && apiErr.Code == kci.CodeContainerGroupNotFound {
				w.Close()
				return
			}
			p.log.Debug("log follow: read failed; trying again", "group", groupID, "err", err)
			continue
		}
		now := lines(content)
		added := newLines(seen, now)
		if len(added) > 0 {
			if _, err := io.WriteString(w, strings.Join(added, "")); err != nil {
				return
			}
		}
		seen = now
		if ended && len(added) == 0 {
			w.Close()
			return
		}
	}
}

// containerEnded reports whether the container has terminated for good:
// its group is in a final status.
func (p *Provider) containerEnded(ctx context.Context, groupID, container string) bool {
	out, err := p.cfg.Client.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{groupID}})
	if err != nil || len(out.ContainerGroups) == 0 {
		return err == nil // gone
	}
	return kci.IsFinalStatus(out.ContainerGroups[0].Status)
}

// lines splits a log into complete lines, each with its newline; a last
// line without one is left out (it is not finished yet).
func lines(s string) []string {
	out := strings.SplitAfter(s, "\n")
	if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
		out = out[:n-1]
	}
	return out
}

// newLines returns the lines of now (a log's last lines) that come after
// those of before (its last lines earlier): the latest place in now that
// ends with before (or, when now starts within it, with its end) is
// where the new lines start. Repeated identical lines can make it write
// too little, never the same line twice; no overlap at all (more lines
// came than one read holds) makes every line of now new.
func newLines(before, now []string) []string {
	if len(before) == 0 {
		return now
	}
	for j := len(now); j > 0; j-- {
		m := min(len(before), j)
		if slices.Equal(before[len(before)-m:], now[j-m:j]) {
			return now[j:]
		}
	}
	return now
}

// exitError carries a command's exit code to the exec stream.
type exitError struct{ code int }

func (e exitError) Error() string   { return fmt.Sprintf("command terminated with exit code %d", e.code) }
func (e exitError) String() string  { return e.Error() }
func (e exitError) Exited() bool    { return true }
func (e exitError) ExitStatus() int { return e.code }

// RunInContainer runs cmd in the container through ExecContainerCommand
// and its WebSocket (Kubernetes' v5 channel protocol).
func (p *Provider) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	g, err := p.groupOf(ctx, namespace, podName)
	if err != nil {
		return err
	}
	stdin := attach.Stdin() != nil
	out, err := p.cfg.Client.ExecContainerCommand(ctx, &kci.ExecContainerCommandRequest{
		ContainerGroupID: g.ContainerGroupID, ContainerName: containerName, Command: cmd, TTY: attach.TTY(), Stdin: &stdin,
	})
	if err != nil {
		return err
	}
	streams := kci.ExecStreams{Stdin: attach.Stdin()}
	if w := attach.Stdout(); w != nil {
		streams.Stdout = w
	}
	if w := attach.Stderr(); w != nil {
		streams.Stderr = w
	}
	if rs := attach.Resize(); rs != nil {
		ch := make(chan kci.TermSize)
		go func() {
			defer close(ch)
			for {
				select {
				case sz, ok := <-rs:
					if !ok {
						return
					}
					p.log.Debug("exec terminal resized", "namespace", namespace, "pod", podName, "container", containerName, "width", sz.Width, "height", sz.Height)
					select {
					case ch <- kci.TermSize{Width: sz.Width, Height: sz.Height}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
		streams.Resize = ch
	}
	code, err := kci.StreamExec(ctx, out.WebSocketURI, streams)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// AttachToContainer is refused: KCI has no attach.
func (p *Provider) AttachToContainer(ctx context.Context, namespace, podName, containerName string, attach api.AttachIO) error {
	return errdefs.InvalidInput("KCI cannot attach to a container's process; use kubectl exec")
}

// PortForward is refused: KCI has no port forwarding.
func (p *Provider) PortForward(ctx context.Context, namespace, pod string, port int32, stream io.ReadWriteCloser) error {
	return errdefs.InvalidInput("KCI has no port forwarding; reach the pod at its IP")
}
