package kube

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

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
