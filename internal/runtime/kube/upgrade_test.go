package kube

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/openkci/openkci/internal/core/coretest"
	"github.com/openkci/openkci/internal/record"
)

// TestUpgradeFromVersion1Annotations serves the pods the release before
// versioned state made (testdata/v1/pods.json, from coretest.Groups) and
// finds every group intact (as redacted for the annotation), with its IP
// and deletion mark; new pods carry version 2.
func TestUpgradeFromVersion1Annotations(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "v1", "pods.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	if err := json.Unmarshal(b, &pods); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, p := range pods {
		objs = append(objs, p)
	}
	r, _ := fakeRuntime(t, objs...)
	st := r.Store()
	want := coretest.Groups()
	waitFor(t, "pods in the cache", func() bool { gs, _ := st.Groups(context.Background()); return len(gs) == len(want) })
	for _, w := range want {
		g, err := st.Group(context.Background(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, redacted(w)) {
			t.Errorf("group %s from its version 1 pod:\n got %+v\nwant %+v", w.ID, g, redacted(w))
		}
	}

	o, err := mapping{namespacePrefix: "kci-", grace: 30}.build(want[1])
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Version int }
	if err := json.Unmarshal([]byte(o.Pod.Annotations[AnnotationGroup]), &head); err != nil || head.Version != record.GroupVersion {
		t.Fatalf("new pod's annotation version %d (%v)", head.Version, err)
	}
	back, err := decodeGroup(o.Pod)
	if err != nil || !reflect.DeepEqual(back, redacted(want[1])) {
		t.Fatalf("version 2 annotation round trip: %v\n got %+v\nwant %+v", err, back, redacted(want[1]))
	}
}
