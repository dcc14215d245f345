package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/openkci/openkci/internal/app"
	"github.com/openkci/openkci/pkg/kci"
)

// kcid serves kcid's app, wired to the test cluster's runtime as kcid
// serve --runtime kubernetes wires it, behind a real HTTP listener, and
// returns a pkg/kci client of this run's account (its subnet-e2e and
// sg-e2e, the ones e.group uses).
func (e *e2eEnv) kcid(t *testing.T) *kci.Client {
	t.Helper()
	cfg := fmt.Sprintf(`
accounts:
  - {id: %q, keys: [{accessKeyId: AKLTkubee2e, secretAccessKey: kube-e2e-secret}]}
vpcs:
  - {id: vpc-e2e, name: e2e, account: %q, cidr: 10.250.0.0/16}
subnets:
  - {id: subnet-e2e, name: e2e, vpc: vpc-e2e, cidr: 10.250.1.0/24, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-e2e, name: e2e, vpc: vpc-e2e}
`, e2eRun, e2eRun)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{
		DataDir: t.TempDir(), ConfigPath: path, Runtime: e.rt, Groups: e.rt.Store(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); _ = a.Close() })
	c, err := kci.New(kci.Config{Endpoint: srv.URL, AccessKeyID: "AKLTkubee2e", SecretAccessKey: "kube-e2e-secret", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

func withNS(s *corev1.Secret, ns string) *corev1.Secret {
	c := s.DeepCopy()
	c.Namespace = ns
	c.Labels = nil
	return c
}

// writeManifest writes objects as one multi-document YAML file.
func writeManifest(t *testing.T, objs ...any) string {
	t.Helper()
	var docs [][]byte
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, bytes.Join(docs, []byte("---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// runKubectl runs kubectl on the test cluster, its discovery cache in a
// directory of this test process (never ~/.kube; TestMain removes it).
func runKubectl(ctx context.Context, kubectl string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cache := filepath.Join(os.TempDir(), "kci-kubectl-"+e2eRun) // warm after the first call, as a user's
	args = append([]string{"--kubeconfig", os.Getenv("KCI_K8S_KUBECONFIG"), "--cache-dir", cache}, args...)
	return exec.CommandContext(ctx, kubectl, args...).CombinedOutput()
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
