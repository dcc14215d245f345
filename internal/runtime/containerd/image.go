package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/openkci/openkci/internal/core"
)

// Pull policies, as in Kubernetes.
const (
	pullAlways       = "Always"
	pullIfNotPresent = "IfNotPresent"
	pullNever        = "Never"
)

// errNeverPull: the policy is Never and the image is not present.
var errNeverPull = errors.New("image not present and pull policy is Never")

// images pulls images into the runtime's namespace. Images are shared by
// every group; concurrent pulls of one reference are serialised so that the
// second finds the first's result.
type images struct {
	client      *containerd.Client
	snapshotter string
	insecure    map[string]bool

	mu    sync.Mutex
	locks map[string]*refLock // guarded by mu; only references in use
}

// refLock is one reference's token and how many callers hold or wait for
// it: the entry goes when the last leaves, so that tenants choosing names
// cannot grow the map.
type refLock struct {
	token chan struct{}
	users int // guarded by images.mu
}

// lock takes the reference's token, giving up when ctx ends (a Remove must
// not wait for another group's slow pull).
func (im *images) lock(ctx context.Context, ref string) (func(), error) {
	im.mu.Lock()
	if im.locks == nil {
		im.locks = map[string]*refLock{}
	}
	l := im.locks[ref]
	if l == nil {
		l = &refLock{token: make(chan struct{}, 1)}
		im.locks[ref] = l
	}
	l.users++
	im.mu.Unlock()
	leave := func() {
		im.mu.Lock()
		if l.users--; l.users == 0 {
			delete(im.locks, ref)
		}
		im.mu.Unlock()
	}
	select {
	case l.token <- struct{}{}:
		return func() { <-l.token; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// normalize turns a user's reference (nginx) into containerd's
// (docker.io/library/nginx:latest).
func normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return n.String(), nil
}

// pullPolicy applies Kubernetes' default: Always for :latest or no tag,
// IfNotPresent otherwise.
func pullPolicy(policy, ref string) string {
	switch policy {
	case pullAlways, pullIfNotPresent, pullNever:
		return policy
	}
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return pullAlways
	}
	if _, ok := n.(reference.Digested); ok {
		return pullIfNotPresent
	}
	if t, ok := n.(reference.Tagged); ok && t.Tag() != "latest" {
		return pullIfNotPresent
	}
	return pullAlways
}

// present returns the image if it is stored and unpacked.
func (im *images) present(ctx context.Context, ref string) (containerd.Image, bool) {
	img, err := im.client.GetImage(ctx, ref)
	if err != nil {
		return nil, false
	}
	ok, err := img.IsUnpacked(ctx, im.snapshotter)
	if err != nil || !ok {
		return img, false
	}
	return img, true
}

// labelAccountPrefix + account marks an image as pulled by that account
// with its own credentials.
const labelAccountPrefix = labelPrefix + "account."

// ensure returns the image, pulling it when the policy says so. pulling is
// called just before a pull starts (for the event).
//
// Images are shared by every account, but an account may only use an
// image it could pull itself: each pull labels the image with the puller's
// account, and an image present for other accounts only is pulled again
// with the caller's credentials (the manifest is fetched with them; layers
// already present are not downloaded again), so that a denied pull fails
// with ErrImagePull as it would on an empty machine. Under Never such an
// image counts as not present. An image no account pulled (the operator
// imported it, e.g. with `ctr images import`) belongs to the machine and
// serves every account.
func (im *images) ensure(ctx context.Context, ref, policy, account string, creds []core.RegistryCredential, pulling func()) (containerd.Image, bool, error) {
	name, err := normalize(ref)
	if err != nil {
		return nil, false, err
	}
	policy = pullPolicy(policy, ref)
	// An image present for the account is used without the reference's
	// lock: only pulls are serialised, so groups starting at once from a
	// cached image do not check it one after another.
	if policy != pullAlways {
		if img, ok := im.present(ctx, name); ok && usableBy(img, account) {
			return img, false, nil
		}
	}
	unlock, err := im.lock(ctx, name)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	img, ok := im.present(ctx, name)
	mine := img != nil && usableBy(img, account)
	switch {
	case ok && mine && policy != pullAlways:
		return img, false, nil
	case policy == pullNever:
		if mine {
			if err := img.Unpack(ctx, im.snapshotter); err == nil {
				return img, false, nil
			}
		}
		return nil, false, errNeverPull
	}
	// The pull replaces the image record, labels included: keep those of
	// the accounts that pulled it before.
	labels := map[string]string{}
	if img != nil {
		for k, v := range img.Labels() {
			labels[k] = v
		}
	}
	labels[labelAccountPrefix+account] = "pulled"
	pulling()
	img, err = im.client.Pull(ctx, name,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(im.snapshotter),
		containerd.WithPullLabels(labels),
		containerd.WithResolver(im.resolver(creds)))
	if err != nil {
		return nil, false, err
	}
	return img, true, nil
}

// usableBy reports whether account may use the stored image without
// pulling it: it pulled the image itself, or no account did (the
// operator imported it).
func usableBy(img containerd.Image, account string) bool {
	return img.Labels()[labelAccountPrefix+account] != "" || !pulledByAnyAccount(img.Labels())
}

// pulledByAnyAccount reports whether kcid pulled the image for some account.
func pulledByAnyAccount(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, labelAccountPrefix) {
			return true
		}
	}
	return false
}

func (im *images) resolver(creds []core.RegistryCredential) remotes.Resolver {
	auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(host string) (string, string, error) {
		for _, c := range creds {
			if sameRegistry(c.Server, host) {
				return c.Username, c.Password, nil
			}
		}
		return "", "", nil
	}))
	hosts := docker.ConfigureDefaultRegistries(
		docker.WithAuthorizer(auth),
		docker.WithPlainHTTP(im.plainHTTP),
	)
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}

// plainHTTP: loopback registries on a port other than 443 speak plain HTTP
// (containerd's and nerdctl's default for localhost), others only when
// configured insecure.
func (im *images) plainHTTP(host string) (bool, error) {
	if im.insecure[host] {
		return true, nil
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = strings.Trim(host, "[]"), ""
	}
	if im.insecure[h] {
		return true, nil
	}
	return docker.IsLocalhost(h) && port != "" && port != "443", nil
}

// registryHost reduces a credential's Server ("https://index.docker.io/v1/",
// "registry.example.com:5000") to the host a resolver asks about.
func registryHost(server string) string {
	s := server
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			s = u.Host
		}
	}
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "registry-1.docker.io"
	}
	return s
}

func sameRegistry(server, host string) bool {
	return registryHost(server) == registryHost(host)
}

// isNotFound reports containerd's not-found class.
func isNotFound(err error) bool { return errdefs.IsNotFound(err) }
