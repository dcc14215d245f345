package vkprovider

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
)

// ClusterSources reads ConfigMaps and Secrets from the node's informer
// caches and asks the API server for service-account tokens bound to
// the pod (TokenRequest; the provider's credentials need create on
// serviceaccounts/token).
type ClusterSources struct {
	ConfigMaps corev1listers.ConfigMapLister
	Secrets    corev1listers.SecretLister
	Client     kubernetes.Interface
}

// ConfigMap implements Sources.
func (s *ClusterSources) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	cm, err := s.ConfigMaps.ConfigMaps(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, &NotFound{Kind: "configMap", Namespace: namespace, Name: name}
	}
	return cm, err
}

// Secret implements Sources.
func (s *ClusterSources) Secret(namespace, name string) (*corev1.Secret, error) {
	sec, err := s.Secrets.Secrets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, &NotFound{Kind: "secret", Namespace: namespace, Name: name}
	}
	return sec, err
}

// Token implements Sources: a token of the pod's service account, bound
// to the pod (it stops working when the pod is deleted).
func (s *ClusterSources) Token(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	out, err := s.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of service account %s/%s: %w", pod.Namespace, sa, err)
	}
	return out.Status.Token, nil
}
