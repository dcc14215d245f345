package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/imagecache"
)

// Image caches on Kubernetes.
//
// A cache is a DaemonSet in its account's namespace whose pods run every
// cached image, so kubelet pulls them onto every node (imagePullPolicy
// Always, with the cache's pull Secret) and, the containers being in use,
// keeps them out of its image garbage collection. An image has no command
// kcid can rely on, so an init container of Config.ImageCacheHelper (an
// image with a static busybox at /bin/busybox) copies busybox into an
// emptyDir first, and each cached image runs it (sleep) as its command.
// The cache is Available once every scheduled pod is ready; a pull error
// of a node fails it. Sizes come from the nodes' status.images. Release
// deletes the DaemonSet and the Secret. Neither carries the managed-by
// label, so the group informers and the orphan sweep never see them.

const (
	// LabelImageCache marks a cache's DaemonSet, its pods and its Secret.
	LabelImageCache = prefix + "image-cache"
	// AnnotationImageCacheImages lists a cache's images (normalised,
	// newline-separated) on its DaemonSet.
	AnnotationImageCacheImages = prefix + "image-cache-images"
	cacheBinDir                = "/kci-image-cache"
)

var _ imagecache.Puller = (*Runtime)(nil)

// cacheName names a cache's DaemonSet and Secret.
func cacheName(id string) string { return "kci-" + labelValue(id) }

// Fill creates or updates the cache's DaemonSet and waits until every
// node has pulled its images.
func (r *Runtime) Fill(ctx context.Context, c *core.ImageCache, rep imagecache.Reporter) error {
	if r.cfg.ImageCacheHelper == "" {
		return errors.New("image caches need a helper image on Kubernetes: start kcid with --kube-image-cache-helper IMAGE (an image with a static busybox at /bin/busybox)")
	}
	ns := namespaceName(r.cfg.NamespacePrefix, c.AccountID)
	if err := r.ensureNamespace(ctx, ns, c.AccountID); err != nil {
		return err
	}
	var names []string
	for _, ref := range c.Images {
		n, err := imagecache.Normalize(ref)
		if err != nil {
			return err
		}
		names = append(names, n)
		rep.Pulling(ref)
	}
	ds, secret, err := r.cacheObjects(c, ns, names)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, ns, ds, secret); err != nil {
		return err
	}
	if err := r.waitPulled(ctx, ns, ds.Name, c.Images); err != nil {
		return err
	}
	// Nodes report their images with their status, every few seconds.
	var sizes map[string]int64
	for deadline := time.Now().Add(time.Minute); ; {
		var err error
		if sizes, err = r.nodeImageSizes(ctx); err != nil {
			return err
		}
		if !slices.ContainsFunc(names, func(n string) bool { return sizes[n] == 0 }) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	for i, ref := range c.Images {
		if err := rep.Pulled(core.CachedImage{Ref: ref, Name: names[i], Bytes: sizes[names[i]]}); err != nil {
			return err
		}
	}
	return nil
}

// cacheObjects builds the DaemonSet (and the pull Secret, if the cache has
// credentials) of a cache.
func (r *Runtime) cacheObjects(c *core.ImageCache, ns string, names []string) (*appsv1.DaemonSet, *corev1.Secret, error) {
	name := cacheName(c.ID)
	labels := map[string]string{LabelImageCache: labelValue(c.ID), LabelAccountID: labelValue(c.AccountID)}
	var secret *corev1.Secret
	var pullSecrets []corev1.LocalObjectReference
	if len(c.Credentials) > 0 {
		js, err := dockerConfigJSON(c.Credentials)
		if err != nil {
			return nil, nil, err
		}
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-pull", Namespace: ns, Labels: labels},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: js}}
		pullSecrets = []corev1.LocalObjectReference{{Name: secret.Name}}
	}
	small := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("4Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
	}
	mount := []corev1.VolumeMount{{Name: "bin", MountPath: cacheBinDir, ReadOnly: true}}
	var ctrs []corev1.Container
	for i, ref := range c.Images {
		ctrs = append(ctrs, corev1.Container{
			Name: fmt.Sprintf("image-%d", i), Image: ref, ImagePullPolicy: corev1.PullAlways,
			Command:   []string{cacheBinDir + "/busybox", "sleep", "2147483647"},
			Resources: small, VolumeMounts: mount,
		})
	}
	grace := int64(0)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{AnnotationImageCacheImages: strings.Join(names, "\n")}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelImageCache: labelValue(c.ID)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ImagePullSecrets:              pullSecrets,
					TerminationGracePeriodSeconds: &grace,
					AutomountServiceAccountToken:  new(false),
					Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Volumes:                       []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					InitContainers: []corev1.Container{{
						Name: "helper", Image: r.cfg.ImageCacheHelper, ImagePullPolicy: corev1.PullIfNotPresent,
						Command:      []string{"/bin/busybox", "cp", "/bin/busybox", cacheBinDir + "/busybox"},
						Resources:    small,
						VolumeMounts: []corev1.VolumeMount{{Name: "bin", MountPath: cacheBinDir}},
					}},
					Containers: ctrs,
				},
			},
		},
	}
	return ds, secret, nil
}

// apply creates or replaces the cache's objects.
func (r *Runtime) apply(ctx context.Context, ns string, ds *appsv1.DaemonSet, secret *corev1.Secret) error {
	if secret != nil {
		_, err := r.cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = r.cs.CoreV1().Secrets(ns).Update(ctx, secret, metav1.UpdateOptions{})
		}
		if err != nil {
			return classify("image cache secret "+secret.Name, err)
		}
	}
	dss := r.cs.AppsV1().DaemonSets(ns)
	_, err := dss.Create(ctx, ds, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var old *appsv1.DaemonSet
		if old, err = dss.Get(ctx, ds.Name, metav1.GetOptions{}); err == nil {
			ds.ResourceVersion = old.ResourceVersion
			_, err = dss.Update(ctx, ds, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return classify("image cache daemonset "+ds.Name, err)
	}
	return nil
}

// waitPulled polls the DaemonSet's pods until every scheduled one is ready
// with the current template; a container waiting on a pull error fails.
func (r *Runtime) waitPulled(ctx context.Context, ns, name string, refs []string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	deadline := time.NewTimer(cacheFillTimeout)
	defer deadline.Stop()
	for {
		done, err := r.pulledEverywhere(ctx, ns, name, refs)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the images are not on every node after %s: see daemonset %s/%s and its pods", cacheFillTimeout, ns, name)
		case <-t.C:
		}
	}
}

// cacheFillTimeout bounds how long a fill waits for the nodes.
const cacheFillTimeout = 15 * time.Minute

func (r *Runtime) pulledEverywhere(ctx context.Context, ns, name string, refs []string) (bool, error) {
	ds, err := r.cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, classify("get image cache daemonset "+name, err)
	}
	pods, err := r.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelImageCache + "=" + ds.Labels[LabelImageCache]})
	if err != nil {
		return false, classify("list image cache pods", err)
	}
	for _, p := range pods.Items {
		for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if w := st.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "InvalidImageName") {
				img := st.Image
				if i := indexOfContainer(st.Name); i >= 0 && i < len(refs) {
					img = refs[i]
				}
				return false, fmt.Errorf("node %s cannot pull image %s: %s: %s", p.Spec.NodeName, img, w.Reason, w.Message)
			}
		}
	}
	s := ds.Status
	return ds.Generation == s.ObservedGeneration && s.DesiredNumberScheduled > 0 &&
		s.UpdatedNumberScheduled == s.DesiredNumberScheduled && s.NumberReady == s.DesiredNumberScheduled, nil
}

// indexOfContainer is N of a cache container named image-N, else -1.
func indexOfContainer(name string) int {
	var i int
	if _, err := fmt.Sscanf(name, "image-%d", &i); err != nil {
		return -1
	}
	return i
}

// nodeImageSizes maps image names to the largest size a node reports.
func (r *Runtime) nodeImageSizes(ctx context.Context) (map[string]int64, error) {
	nodes, err := r.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, classify("list nodes", err)
	}
	out := map[string]int64{}
	for _, n := range nodes.Items {
		for _, img := range n.Status.Images {
			for _, name := range img.Names {
				if n, err := imagecache.Normalize(name); err == nil && img.SizeBytes > out[n] {
					out[n] = img.SizeBytes
				}
			}
		}
	}
	return out, nil
}

// Release deletes the cache's DaemonSet (its pods go with it) and Secret.
func (r *Runtime) Release(ctx context.Context, id string) error {
	sel := LabelImageCache + "=" + labelValue(id)
	list, err := r.cs.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return classify("list image cache daemonsets", err)
	}
	bg := metav1.DeletePropagationBackground
	for _, ds := range list.Items {
		if !r.ours(ds.Namespace) {
			continue
		}
		err := r.cs.AppsV1().DaemonSets(ds.Namespace).Delete(ctx, ds.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			return classify("delete image cache daemonset "+ds.Name, err)
		}
		secrets, err := r.cs.CoreV1().Secrets(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return classify("list image cache secrets", err)
		}
		for _, s := range secrets.Items {
			if err := r.cs.CoreV1().Secrets(ds.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return classify("delete image cache secret "+s.Name, err)
			}
		}
	}
	return nil
}

// Held lists the caches that have a DaemonSet in the runtime's namespaces.
func (r *Runtime) Held(ctx context.Context) ([]string, error) {
	list, err := r.cs.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: LabelImageCache})
	if err != nil {
		return nil, classify("list image cache daemonsets", err)
	}
	var out []string
	for _, ds := range list.Items {
		if r.ours(ds.Namespace) {
			out = append(out, ds.Labels[LabelImageCache])
		}
	}
	return out, nil
}

// cachedImages returns the normalised images the group's cache holds in
// its namespace (nil if it has none, or no cache).
func (r *Runtime) cachedImages(ctx context.Context, g *core.Group, ns string) map[string]bool {
	if g.ImageCacheID == "" {
		return nil
	}
	ds, err := r.cs.AppsV1().DaemonSets(ns).Get(ctx, cacheName(g.ImageCacheID), metav1.GetOptions{})
	if err != nil || ds.Labels[LabelImageCache] != labelValue(g.ImageCacheID) || ds.Labels[LabelAccountID] != labelValue(g.AccountID) {
		return nil
	}
	out := map[string]bool{}
	for _, n := range strings.Split(ds.Annotations[AnnotationImageCacheImages], "\n") {
		if n != "" {
			out[n] = true
		}
	}
	return out
}

// foreignCachedImages maps the normalised images that caches of accounts
// other than accountID hold on the nodes to the holding cache's ID.
func (r *Runtime) foreignCachedImages(ctx context.Context, accountID string) (map[string]string, error) {
	list, err := r.cs.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: LabelImageCache})
	if err != nil {
		return nil, classify("list image cache daemonsets", err)
	}
	out := map[string]string{}
	for _, ds := range list.Items {
		if !r.ours(ds.Namespace) || ds.Labels[LabelAccountID] == labelValue(accountID) {
			continue
		}
		for _, n := range strings.Split(ds.Annotations[AnnotationImageCacheImages], "\n") {
			if n != "" {
				out[n] = ds.Labels[LabelImageCache]
			}
		}
	}
	return out, nil
}

// ReasonForeignImageCache is the reason of the event that says a
// container's image is pulled (Always) because another account's cache
// holds it on the nodes.
const ReasonForeignImageCache = "ImagePullForced"

// useCache sets the pull policy of the pod's containers whose images a
// cache holds on the nodes. The group's own cache's images (own) are used
// as kubelet finds them (IfNotPresent): the cache's pods keep them there,
// pulled with the account's credentials. An image only another account's
// cache holds (foreign) is pulled Always, so the registry checks this
// account's credentials: kubelet would otherwise start another account's
// private image from the node's store without asking (IfNotPresent,
// Never). It returns what it forced, one line per container, for an event.
func useCache(p *corev1.Pod, own map[string]bool, foreign map[string]string) []string {
	var forced []string
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			n, err := imagecache.Normalize(list[i].Image)
			switch {
			case err != nil:
			case own[n]:
				list[i].ImagePullPolicy = corev1.PullIfNotPresent
			case foreign[n] != "":
				if pullPolicyName(list[i]) != corev1.PullAlways {
					forced = append(forced, fmt.Sprintf("container %s: image %s is pulled Always (was %s): another account's image cache holds it on the nodes, so the registry must check this account's credentials",
						list[i].Name, list[i].Image, pullPolicyName(list[i])))
				}
				list[i].ImagePullPolicy = corev1.PullAlways
			}
		}
	}
	return forced
}

// pullPolicyName is a container's pull policy as kubelet applies it
// (unset: Always for :latest or no tag, else IfNotPresent).
func pullPolicyName(c corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(ref, ":"); i < 0 || strings.Contains(ref[i:], "/") || ref[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// recordForcedPulls records a Normal event on the pod for each pull policy
// useCache forced.
func (r *Runtime) recordForcedPulls(ctx context.Context, p *corev1.Pod, forced []string) {
	now := metav1.NewTime(r.cfg.Clock.Now())
	for _, msg := range forced {
		ev := &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace,
				Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name,
				UID: p.UID, ResourceVersion: p.ResourceVersion},
			Type: corev1.EventTypeNormal, Reason: ReasonForeignImageCache, Message: msg,
			Source: corev1.EventSource{Component: "kcid"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
			ReportingController: "kcid",
		}
		if _, err := r.cs.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			r.log.Warn("record a forced image pull", "namespace", p.Namespace, "pod", p.Name, "err", err)
		}
	}
}
