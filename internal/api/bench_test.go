package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/service"
)

const benchConfig = `
vpcs:
  - {id: vpc-bench, cidr: 10.80.0.0/16}
subnets:
  - {id: subnet-bench, vpc: vpc-bench, cidr: 10.80.0.0/18, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-bench, vpc: vpc-bench}
node: {cpu: 100000, memory: 100000}
rateLimit:
  readPerSecond: 1000000000
  readBurst: 1000000000
`

// benchServer holds n groups, created through the service (not HTTP) to
// keep set-up short.
func benchServer(b *testing.B, n int) *server {
	b.Helper()
	return benchServerWith(b, n, nil)
}

// benchServerWith is benchServer with labels(i) on the i-th group.
func benchServerWith(b *testing.B, n int, labels func(i int) []core.Label) *server {
	b.Helper()
	t := &testing.T{}
	s := startServerTB(b, t, serverOpts{config: benchConfig})
	ctx := context.Background()
	s.app.Store().SetNoSync(true)
	defer s.app.Store().SetNoSync(false)
	for i := 0; i < n; i++ {
		_, err := s.app.Service().CreateGroup(ctx, service.CreateRequest{
			AccountID: "2000000001", Region: testRegion, SubnetID: "subnet-bench", SecurityGroupIDs: []string{"sg-bench"},
			Group: core.Group{Name: fmt.Sprintf("bench-%05d", i), ChargeType: "HourlyInstantSettlement", CPU: 1, Memory: 1,
				RestartPolicy: core.RestartAlways,
				Containers:    []core.Container{{Name: "app", Image: "nginx", Ports: []core.Port{{Port: 80, Protocol: "TCP"}}}},
				Labels:        labelsOf(labels, i)},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func labelsOf(labels func(int) []core.Label, i int) []core.Label {
	if labels == nil {
		return nil
	}
	return labels(i)
}

// signedRequest builds a POST form request signed like the Go SDK does.
func signedRequest(b *testing.B, params url.Values) (*http.Request, []byte) {
	body := []byte(params.Encode())
	req := httptest.NewRequest(http.MethodPost, "http://kci.api.ksyun.com/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK},
		req, hex.EncodeToString(sum[:]), "kci", testRegion, time.Now()); err != nil {
		b.Fatal(err)
	}
	return req, body
}

// BenchmarkRequestPath measures decode + verify signature + describe over
// 10,000 stored groups, through the full handler (no network).
func BenchmarkRequestPath(b *testing.B) {
	s := benchServer(b, 10000)
	h := s.app.Handler()
	cases := []struct {
		name   string
		params url.Values
	}{
		{"DescribeByID", vals("Action", "DescribeContainerGroup", "Version", "2020-07-02", "ContainerGroupId.0", firstID(b, s))},
		{"DescribePage100", vals("Action", "DescribeContainerGroup", "Version", "2020-07-02", "MaxResults", "100", "Marker", "5000")},
		{"DescribeSearch", vals("Action", "DescribeContainerGroup", "Version", "2020-07-02", "Search", "bench-0999")},
		{"DescribeStatusFilter", vals("Action", "DescribeContainerGroup", "Version", "2020-07-02", "Filter.0.Name", "status", "Filter.0.Value.0", "Running", "MaxResults", "20")},
		{"DescribeLog", vals("Action", "DescribeContainerLog", "Version", "2020-07-02", "ContainerGroupId", firstID(b, s), "ContainerName", "app", "Tail", "10")},
	}
	for _, tc := range cases {
		benchRequest(b, h, tc.name, tc.params, "")
	}
}

// benchRequest runs one signed request through h b.N times; each answer
// must be 200 and contain want.
func benchRequest(b *testing.B, h http.Handler, name string, params url.Values, want string) {
	b.Run(name, func(b *testing.B) {
		req, body := signedRequest(b, params)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req.Body = nopCloser{bytes.NewReader(body)}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(want)) {
				b.Fatalf("%d: %.300s, want %s", w.Code, w.Body.String(), want)
			}
		}
	})
}

// BenchmarkLabels measures DescribeContainerGroupCount and the label:KEY
// filter over 10,000 groups labelled as virtual-kubelet labels pods: 10
// clusters of 1,000 groups, 100 namespaces of 100, one pod name each.
func BenchmarkLabels(b *testing.B) {
	s := benchServerWith(b, 10000, func(i int) []core.Label {
		return []core.Label{
			{Key: "cluster-id", Value: fmt.Sprintf("c%d", i%10)},
			{Key: "namespace", Value: fmt.Sprintf("ns%d", i%100)},
			{Key: "pod-name", Value: fmt.Sprintf("p%05d", i)},
		}
	})
	h := s.app.Handler()
	describe := func(kv ...string) url.Values {
		return vals(append([]string{"Action", "DescribeContainerGroup", "Version", "2020-07-02"}, kv...)...)
	}
	count := func(kv ...string) url.Values {
		return vals(append([]string{"Action", "DescribeContainerGroupCount", "Version", "2020-07-02"}, kv...)...)
	}
	cases := []struct {
		name   string
		params url.Values
		want   string // in the answer
	}{
		{"CountOneCluster", count("Label.Key", "cluster-id", "Label.Value.0", "c3"), `{"ClusterId":"c3","Count":1000}`},
		{"CountEveryCluster", count("Label.Key", "cluster-id"), `{"ClusterId":"c9","Count":1000}`},
		{"CountEveryNamespace", count("Label.Key", "namespace"), `{"ClusterId":"ns99","Count":100}`},
		{"FilterOnePod", describe("Filter.0.Name", "label:pod-name", "Filter.0.Value.0", "p04242"), `"TotalCount":1,`},
		{"FilterCluster20", describe("Filter.0.Name", "label:cluster-id", "Filter.0.Value.0", "c3", "MaxResults", "20"), `"TotalCount":1000,`},
		{"FilterClusterAndNamespace", describe("Filter.0.Name", "label:cluster-id", "Filter.0.Value.0", "c3", "Filter.1.Name", "label:namespace", "Filter.1.Value.0", "ns13"), `"TotalCount":100,`},
	}
	for _, tc := range cases {
		benchRequest(b, h, tc.name, tc.params, tc.want)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func firstID(b *testing.B, s *server) string {
	views, _, err := s.app.Service().DescribeGroups(context.Background(), service.DescribeQuery{AccountID: "2000000001", Offset: 4242, Limit: 1})
	if err != nil || len(views) != 1 {
		b.Fatal(err)
	}
	return views[0].Group.ID
}
