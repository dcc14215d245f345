package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

// labeledParams is a create of Alice's (tenantsConfig) with labels.
func labeledParams(name string, kv ...string) url.Values {
	p := createParams(name)
	p.Set("SecurityGroupId.1", "sg-a")
	for i := 0; i < len(kv); i += 2 {
		p.Set(fmt.Sprintf("Label.%d.Key", i/2), kv[i])
		if kv[i+1] != "" { // the Go SDK leaves empty strings out
			p.Set(fmt.Sprintf("Label.%d.Value", i/2), kv[i+1])
		}
	}
	return p
}

func TestLabels(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, bob, _ := tenants(s)
	for i, g := range []struct {
		name string
		kv   []string
	}{
		{"vk-1", []string{"cluster-id", "c1", "namespace", "default", "pod-name", "web-1", "example.com/tier", "web"}},
		{"vk-2", []string{"cluster-id", "c1", "namespace", "kube-system", "pod-name", "dns-1"}},
		{"vk-3", []string{"cluster-id", "c2", "namespace", "default", "empty", ""}},
		{"plain", nil},
	} {
		// Every request style the clients use carries labels.
		alice.style = []style{stylePOSTForm, stylePOSTJSON, styleGET, stylePOSTJava}[i]
		mustOK(t, alice.do("CreateContainerGroup", labeledParams(g.name, g.kv...)))
	}
	alice.style = stylePOSTForm
	// Bob's group with Alice's label values is never Alice's.
	bp := createParams("bob")
	bp.Set("SecurityGroupId.1", "sg-b")
	bp.Set("SubnetId", "subnet-b")
	bp.Set("Label.1.Key", "cluster-id")
	bp.Set("Label.1.Value", "c1")
	mustOK(t, bob.do("CreateContainerGroup", bp))

	describe := func(c *client, params url.Values) []kci.ContainerGroup {
		t.Helper()
		return decodeAs[kci.DescribeContainerGroupResponse](t, c.do("DescribeContainerGroup", params)).ContainerGroups
	}
	names := func(gs []kci.ContainerGroup) string {
		var out []string
		for _, g := range gs {
			out = append(out, g.ContainerGroupName)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}

	// Describe returns them in the SDK's shape, in the order given.
	for _, g := range describe(alice, vals("Search", "vk-1")) {
		want := []kci.Label{{Key: "cluster-id", Value: "c1"}, {Key: "namespace", Value: "default"}, {Key: "pod-name", Value: "web-1"}, {Key: "example.com/tier", Value: "web"}}
		if fmt.Sprint(g.Labels) != fmt.Sprint(want) {
			t.Fatalf("labels: %v, want %v", g.Labels, want)
		}
	}
	if gs := describe(alice, vals("Search", "plain")); len(gs) != 1 || gs[0].Labels == nil || len(gs[0].Labels) != 0 {
		t.Fatalf("a group without labels: %+v", gs)
	}

	// The label:KEY filter: values ORed, filters ANDed, with the others.
	filters := []struct {
		name   string
		params url.Values
		want   string
	}{
		{"one value", vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1"), "vk-1,vk-2"},
		{"two values", vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1", "Filter.1.Value.2", "c2"), "vk-1,vk-2,vk-3"},
		{"two labels", vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1", "Filter.2.Name", "label:namespace", "Filter.2.Value.1", "default"), "vk-1"},
		{"prefixed key", vals("Filter.1.Name", "label:example.com/tier", "Filter.1.Value.1", "web"), "vk-1"},
		{"empty value", vals("Filter.0.Name", "label:empty", "Filter.0.Value.0", ""), "vk-3"},
		{"with subnet filter", vals("Filter.1.Name", "label:namespace", "Filter.1.Value.1", "default", "Filter.2.Name", "subnet-id", "Filter.2.Value.1", "subnet-a"), "vk-1,vk-3"},
		{"with search", vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1", "Search", "vk-2"), "vk-2"},
		{"no match", vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c9"), ""},
		{"unknown key", vals("Filter.1.Name", "label:nope", "Filter.1.Value.1", "c1"), ""},
	}
	for _, f := range filters {
		if got := names(describe(alice, f.params)); got != f.want {
			t.Errorf("%s: %q, want %q", f.name, got, f.want)
		}
	}
	if got := names(describe(bob, vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1"))); got != "bob" {
		t.Errorf("bob's label filter: %q", got)
	}
	// Paging over a label filter: TotalCount counts every match.
	r := decodeAs[kci.DescribeContainerGroupResponse](t, alice.do("DescribeContainerGroup", vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1", "MaxResults", "1")))
	if r.TotalCount != 2 || len(r.ContainerGroups) != 1 || r.Marker != 1 || r.ContainerGroups[0].ContainerGroupName != "vk-1" {
		t.Errorf("paged label filter: total %d, %d groups, marker %d", r.TotalCount, len(r.ContainerGroups), r.Marker)
	}

	// DescribeContainerGroupCount, in the SDK's shape.
	counts := []struct {
		name   string
		params url.Values
		want   string
	}{
		{"values given", vals("Label.Key", "cluster-id", "Label.Value.1", "c1", "Label.Value.2", "c2", "Label.Value.3", "c9"), "[{c1 2} {c2 1} {c9 0}]"},
		{"0-based", vals("Label.Key", "cluster-id", "Label.Value.0", "c2"), "[{c2 1}]"},
		{"every value", vals("Label.Key", "namespace"), "[{default 2} {kube-system 1}]"},
		{"key no group has", vals("Label.Key", "nope"), "[]"},
		{"value repeated", vals("Label.Key", "cluster-id", "Label.Value.1", "c1", "Label.Value.2", "c1"), "[{c1 2}]"},
	}
	for _, tc := range counts {
		got := decodeAs[kci.DescribeContainerGroupCountResponse](t, alice.do("DescribeContainerGroupCount", tc.params))
		if fmt.Sprint(got.ClusterPodCounts) != tc.want {
			t.Errorf("count %s: %v, want %s", tc.name, got.ClusterPodCounts, tc.want)
		}
	}
	if got := decodeAs[kci.DescribeContainerGroupCountResponse](t, bob.do("DescribeContainerGroupCount", vals("Label.Key", "cluster-id"))); fmt.Sprint(got.ClusterPodCounts) != "[{c1 1}]" {
		t.Errorf("bob's count: %v", got.ClusterPodCounts)
	}
	mustErr(t, alice.do("DescribeContainerGroupCount", nil), http.StatusBadRequest, "MissingParameter", "Label.Key")
	mustErr(t, alice.do("DescribeContainerGroupCount", vals("Label.Key", "a b")), http.StatusBadRequest, "InvalidParameterValue", "parameter Label.Key:")
	mustErr(t, alice.do("DescribeContainerGroupCount", vals("Label.Key", "k", "Label.Value.1", "-bad")), http.StatusBadRequest, "InvalidParameterValue", "parameter Label.Value.N:")

	// A deleted group leaves the filter and the count at once.
	id := describe(alice, vals("Search", "vk-2"))[0].ContainerGroupID
	mustOK(t, alice.do("DeleteContainerGroup", vals("ContainerGroupId", id)))
	if got := decodeAs[kci.DescribeContainerGroupCountResponse](t, alice.do("DescribeContainerGroupCount", vals("Label.Key", "cluster-id", "Label.Value.1", "c1"))); fmt.Sprint(got.ClusterPodCounts) != "[{c1 1}]" {
		t.Errorf("count after delete: %v", got.ClusterPodCounts)
	}
	if got := names(describe(alice, vals("Filter.1.Name", "label:cluster-id", "Filter.1.Value.1", "c1"))); got != "vk-1" {
		t.Errorf("filter after delete: %q", got)
	}
	// Labels survive a restart (the store's record, and its index).
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, _, _ = tenants(s)
	if got := decodeAs[kci.DescribeContainerGroupCountResponse](t, alice.do("DescribeContainerGroupCount", vals("Label.Key", "cluster-id"))); fmt.Sprint(got.ClusterPodCounts) != "[{c1 1} {c2 1}]" {
		t.Errorf("count after restart: %v", got.ClusterPodCounts)
	}
}

// Bad labels and label filters are refused naming the key as sent, and
// create nothing.
func TestLabelValidation(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig})
	alice, _, _ := tenants(s)
	long := strings.Repeat("a", 64)
	bad := []struct {
		name, param string
		kv          []string
	}{
		{"empty key", "Label.0.Key", []string{"", "v"}},
		{"key with blank", "Label.0.Key", []string{"a b", "v"}},
		{"key too long", "Label.0.Key", []string{long, "v"}},
		{"key starts with dash", "Label.0.Key", []string{"-a", "v"}},
		{"upper-case prefix", "Label.0.Key", []string{"Example.com/a", "v"}},
		{"empty prefix", "Label.0.Key", []string{"/a", "v"}},
		{"two slashes", "Label.0.Key", []string{"a/b/c", "v"}},
		{"value too long", "Label.0.Value", []string{"k", long}},
		{"value with slash", "Label.0.Value", []string{"k", "a/b"}},
		{"value ends with dot", "Label.0.Value", []string{"k", "a."}},
		{"key twice", "Label.1.Key", []string{"k", "1", "k", "2"}},
	}
	for _, tc := range bad {
		p := labeledParams("bad", tc.kv...)
		if tc.kv[0] == "" {
			p.Del("Label.0.Key")
		}
		code := "InvalidParameterValue"
		if tc.name == "empty key" {
			code = "MissingParameter"
		}
		mustErr(t, alice.do("CreateContainerGroup", p), http.StatusBadRequest, code, "parameter "+tc.param)
	}
	var many []string
	for i := range 65 {
		many = append(many, fmt.Sprintf("k%d", i), "v")
	}
	mustErr(t, alice.do("CreateContainerGroup", labeledParams("many", many...)), http.StatusBadRequest, "InvalidParameterValue", "at most 64 labels")
	if n := total(t, alice); n != 0 {
		t.Fatalf("refused creates left %d groups", n)
	}
	// The limits themselves are accepted.
	ok := labeledParams("ok", many[:128]...)
	ok.Set("Label.64.Key", "example.com/"+long[:63])
	ok.Set("Label.64.Value", long[:63])
	ok.Del("Label.63.Key")
	ok.Del("Label.63.Value")
	mustOK(t, alice.do("CreateContainerGroup", ok))

	for _, f := range []struct{ params url.Values }{
		{vals("Filter.1.Name", "label:", "Filter.1.Value.1", "x")},
		{vals("Filter.1.Name", "label:a b", "Filter.1.Value.1", "x")},
		{vals("Filter.1.Name", "tag:a", "Filter.1.Value.1", "x")},
	} {
		mustErr(t, alice.do("DescribeContainerGroup", f.params), http.StatusBadRequest, "InvalidParameterValue", "parameter Filter.1.Name:")
	}
	mustErr(t, alice.do("DescribeContainerGroup", vals("Filter.1.Name", "label:k", "Filter.1.Value.1", "a/b")), http.StatusBadRequest, "InvalidParameterValue", "parameter Filter.1.Value.N:")
}
