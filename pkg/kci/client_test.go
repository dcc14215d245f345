package kci_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/kcictl/kcidtest"
	"github.com/openkci/openkci/pkg/kci"
)

func newClient(t *testing.T, url string, mod ...func(*kci.Config)) *kci.Client {
	t.Helper()
	cfg := kci.Config{
		Endpoint: url, Region: kcidtest.Region,
		AccessKeyID: kcidtest.AccessKeyID, SecretAccessKey: kcidtest.SecretAccessKey,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := kci.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fullRequest() *kci.CreateContainerGroupRequest {
	return &kci.CreateContainerGroupRequest{
		ContainerGroupName: "full",
		SubnetID:           kcidtest.SubnetID,
		SecurityGroupIDs:   []string{kcidtest.SecurityGroupID},
		CPU:                2,
		Memory:             1.5,
		RestartPolicy:      kci.RestartOnFailure,
		IngressBandwidth:   10,
		EgressBandwidth:    20,
		ImageRegistryCredentials: []kci.ImageRegistryCredential{
			{Server: "registry.example.com", Username: "u", Password: "p"},
		},
		Containers: []kci.Container{{
			InitContainer: kci.InitContainer{
				Name: "app", Image: "registry.example.com/app:1", ImagePullPolicy: kci.PullIfNotPresent,
				Command: []string{"sh", "-c"}, Args: []string{"echo hi; sleep 1"},
				EnvironmentVars: []kci.EnvironmentVar{{Key: "A", Value: "1"}, {Key: "B", Value: "two words"},
					{Key: "IP", ValueFrom: &kci.ValueFrom{FieldRef: &kci.FieldRef{FieldPath: kci.FieldPodIP}}}},
				CPU: 1, Memory: 1, WorkingDir: "/srv",
				VolumeMounts: []kci.VolumeMount{{Name: "cfg", MountPath: "/etc/app", ReadOnly: true}, {Name: "scratch", MountPath: "/tmp/x"}},
			},
			Ports: []kci.Port{{Port: 80}, {Port: 53, Protocol: "UDP"}},
		}, {
			InitContainer: kci.InitContainer{Name: "sidecar", Image: "busybox:1.36"},
		}},
		Volumes: []kci.Volume{
			{Name: "cfg", Type: kci.VolumeConfigFile, ConfigFileVolume: &kci.ConfigFileVolume{
				DefaultMode: "0644",
				Files: []kci.ConfigFile{
					{Path: "app.conf", Content: base64.StdEncoding.EncodeToString([]byte("a=1\n"))},
					{Path: "secret/key", Content: base64.StdEncoding.EncodeToString([]byte("k")), Mode: "0600"},
				},
			}},
			{Name: "scratch", Type: kci.VolumeEmptyDir},
		},
		DNSConfig: &kci.DNSConfig{
			NameServers: []string{"10.0.0.53"}, Searches: []string{"svc.local"},
			Options: []kci.DNSOption{{Name: "ndots", Value: "2"}, {Name: "rotate"}},
		},
		HostAliases: []kci.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}},
		Labels:      []kci.Label{{Key: "cluster-id", Value: "c1"}, {Key: "example.com/tier", Value: "web"}, {Key: "empty"}},
	}
}

// TestRoundTrip sends every field of a create through kcid and reads it
// back with Describe, then uses every other action.
func TestRoundTrip(t *testing.T) {
	clock := clock.NewFake(kcidtest.Epoch)
	s := kcidtest.Start(t, kcidtest.Options{Clock: clock})
	c := newClient(t, s.URL, func(c *kci.Config) { c.Clock = clock.Now })
	ctx := context.Background()

	created, err := c.CreateContainerGroup(ctx, fullRequest())
	if err != nil {
		t.Fatal(err)
	}
	if created.RequestID == "" || created.ContainerGroupID == "" {
		t.Fatalf("create answer %+v", created)
	}
	id := created.ContainerGroupID
	s.Runtime.SetLog(id, "app", "one\ntwo\nthree\n")

	page, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if page.TotalCount != 1 || len(page.ContainerGroups) != 1 {
		t.Fatalf("describe: %+v", page)
	}
	g := page.ContainerGroups[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID", g.ContainerGroupID, id},
		{"Name", g.ContainerGroupName, "full"},
		{"Zone", g.AvailabilityZone, kcidtest.Zone},
		{"ChargeType", g.ChargeType, kci.ChargeHourlyInstantSettlement},
		{"Cpu", g.CPU, 2.0},
		{"Memory", g.Memory, 1.5},
		{"RestartPolicy", g.RestartPolicy, "OnFailure"},
		{"Status", g.Status, kci.StatusRunning},
		{"CreateTime", g.CreateTime.UTC(), kcidtest.Epoch},
		{"SucceededTime", g.SucceededTime == nil, true},
		{"IP", g.PrivateIP(), "10.0.1.2"},
		{"Subnet", g.PrimaryInterface().SubnetID, kcidtest.SubnetID},
		{"Vpc", g.PrimaryInterface().VpcID, kcidtest.VpcID},
		{"SG", g.PrimaryInterface().SecurityGroups[0].SecurityGroupID, kcidtest.SecurityGroupID},
		{"Volumes", len(g.Volumes), 2},
		{"Config file paths", fmt.Sprint(g.Volumes[0].ConfigFileVolume.ConfigFileToPaths), "[{app.conf} {secret/key}]"},
		{"DNS", fmt.Sprint(g.DNSConfig.NameServers, g.DNSConfig.Searches, g.DNSConfig.Options[0].Name, *g.DNSConfig.Options[0].Value), "[10.0.0.53] [svc.local]ndots2"},
		{"DNS option without value", g.DNSConfig.Options[1].Value == nil, true},
		{"HostAliases", fmt.Sprint(g.HostAliases), "[{[db db.local] 10.0.0.9}]"},
		{"Containers", len(g.Containers), 2},
		{"Command", fmt.Sprint(g.Containers[0].Commands, g.Containers[0].Args), "[sh -c] [echo hi; sleep 1]"},
		{"Env", fmt.Sprint(g.Containers[0].EnvironmentVars[:2]), "[{A 1 <nil>} {B two words <nil>}]"},
		{"Env from field", g.Containers[0].EnvironmentVars[2].Key + "=" + g.Containers[0].EnvironmentVars[2].ValueFrom.FieldRef.FieldPath, "IP=status.podIP"},
		{"Container Cpu", *g.Containers[0].CPU, 1.0},
		{"WorkingDir", *g.Containers[0].WorkingDir, "/srv"},
		{"Ports", fmt.Sprint(g.Containers[0].Ports), "[{TCP 80} {UDP 53}]"},
		{"Mounts", fmt.Sprint(g.Containers[0].VolumeMounts), "[{cfg /etc/app true} {scratch /tmp/x false}]"},
		{"Sidecar Cpu unset", g.Containers[1].CPU == nil, true},
		{"State", g.Containers[0].CurrentState.State, kci.StateRunning},
		{"StartTime", g.Containers[0].CurrentState.StartTime.Equal(kcidtest.Epoch), true},
		{"Events", len(g.Events), 8},
		{"Event", g.Events[0].Reason + " " + g.Events[0].Message, "Pulling Pulling image `registry.example.com/app:1`"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	logs, err := c.DescribeContainerLog(ctx, &kci.DescribeContainerLogRequest{ContainerGroupID: id, ContainerName: "app", Tail: 2})
	if err != nil {
		t.Fatal(err)
	}
	if logs.Content != "two\nthree\n" {
		t.Errorf("log = %q", logs.Content)
	}

	regions, err := c.DescribeRegions(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(regions.Regions) == 0 || regions.Regions[0].Region != kcidtest.Region {
		t.Errorf("regions = %+v", regions.Regions)
	}

	vpcs, err := c.ListVpcs(ctx, nil)
	if err != nil || len(vpcs) != 1 || vpcs[0].VpcID != kcidtest.VpcID || vpcs[0].CidrBlock != "10.0.0.0/16" {
		t.Errorf("vpcs = %+v, %v", vpcs, err)
	}
	subnets, err := c.ListSubnets(ctx, &kci.DescribeSubnetsRequest{Filters: []kci.Filter{{Name: kci.VPCFilterVpcID, Values: []string{kcidtest.VpcID}}}})
	if err != nil || len(subnets) != 1 || subnets[0].SubnetID != kcidtest.SubnetID || subnets[0].AvailabilityZoneName != kcidtest.Zone {
		t.Errorf("subnets = %+v, %v", subnets, err)
	}
	sgs, err := c.ListSecurityGroups(ctx, &kci.DescribeSecurityGroupsRequest{SecurityGroupIDs: []string{kcidtest.SecurityGroupID}})
	if err != nil || len(sgs) != 1 || sgs[0].SecurityGroupID != kcidtest.SecurityGroupID {
		t.Errorf("security groups = %+v, %v", sgs, err)
	}
	// Page by page, as the raw action.
	sp, err := c.DescribeSubnets(ctx, &kci.DescribeSubnetsRequest{MaxResults: 1})
	if err != nil || len(sp.SubnetSet) != 1 || sp.NextToken != "" {
		t.Errorf("subnet page = %+v, %v", sp, err)
	}
	vp, err := c.DescribeVpcs(ctx, &kci.DescribeVpcsRequest{VpcIDs: []string{"vpc-nope"}})
	if err != nil || len(vp.VpcSet) != 0 {
		t.Errorf("unknown vpc = %+v, %v", vp, err)
	}
	gp, err := c.DescribeSecurityGroups(ctx, nil)
	if err != nil || len(gp.SecurityGroupSet) != 1 {
		t.Errorf("security group page = %+v, %v", gp, err)
	}

	if _, err := c.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: id, DryRun: true}); !kci.IsDryRunOperation(err) {
		t.Errorf("dry-run delete: %v", err)
	}
	del, err := c.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: id})
	if err != nil || del.RequestID == "" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.DeleteContainerGroup(ctx, &kci.DeleteContainerGroupRequest{ContainerGroupID: id})
	var ae *kci.APIError
	if !errors.As(err, &ae) || ae.Code != kci.CodeContainerGroupNotFound || ae.StatusCode != 404 || ae.RequestID == "" || ae.Message == "" || ae.Type != "Sender" || !kci.IsNotFound(err) {
		t.Errorf("second delete: %#v", err)
	}
	if !strings.Contains(err.Error(), "ContainerGroupNotFound") || !strings.Contains(err.Error(), ae.RequestID) {
		t.Errorf("error text %q lacks code or request id", err)
	}
}

func TestCreateDryRunAndValidation(t *testing.T) {
	s := kcidtest.Start(t, kcidtest.Options{})
	c := newClient(t, s.URL)
	ctx := context.Background()
	r := fullRequest()
	r.DryRun = true
	if _, err := c.CreateContainerGroup(ctx, r); !kci.IsDryRunOperation(err) {
		t.Fatalf("dry run: %v", err)
	}
	if all, err := c.ListContainerGroups(ctx, nil); err != nil || len(all) != 0 {
		t.Fatalf("dry run created something: %v %v", all, err)
	}
	r = fullRequest()
	r.Containers[0].Name = "Bad_Name"
	_, err := c.CreateContainerGroup(ctx, r)
	var ae *kci.APIError
	if !errors.As(err, &ae) || ae.Code != kci.CodeInvalidParameterValue || ae.StatusCode != 400 || !strings.Contains(ae.Message, "Container.1.Name") {
		t.Fatalf("bad name: %v", err)
	}
}

func TestSignatureErrors(t *testing.T) {
	s := kcidtest.Start(t, kcidtest.Options{})
	ctx := context.Background()
	wrong := newClient(t, s.URL, func(c *kci.Config) { c.SecretAccessKey = "not-the-secret" })
	_, err := wrong.DescribeRegions(ctx, nil)
	if kci.ErrorCode(err) != kci.CodeSignatureDoesNotMatch {
		t.Errorf("wrong secret: %v", err)
	}
	unsigned := newClient(t, s.URL, func(c *kci.Config) { c.AccessKeyID, c.SecretAccessKey = "", "" })
	if _, err := unsigned.DescribeRegions(ctx, nil); kci.ErrorCode(err) != "MissingAuthenticationToken" {
		t.Errorf("unsigned: %v", err)
	}
	// The VPC actions are signed with service vpc: a wrong region is refused.
	other := newClient(t, s.URL, func(c *kci.Config) { c.Region = "eu-nowhere-1" })
	if _, err := other.DescribeSubnets(ctx, nil); kci.ErrorCode(err) != kci.CodeSignatureDoesNotMatch {
		t.Errorf("unserved region: %v", err)
	}
	if _, err := kci.New(kci.Config{AccessKeyID: "only-id"}); err == nil {
		t.Error("half a key accepted")
	}
	if _, err := kci.New(kci.Config{Endpoint: "ftp://x"}); err == nil {
		t.Error("ftp endpoint accepted")
	}
}

func TestListContainerGroupsPages(t *testing.T) {
	s := kcidtest.Start(t, kcidtest.Options{})
	c := newClient(t, s.URL)
	ctx := context.Background()
	for i := range 23 {
		r := &kci.CreateContainerGroupRequest{
			ContainerGroupName: fmt.Sprintf("g%02d", i), SubnetID: kcidtest.SubnetID,
			SecurityGroupIDs: []string{kcidtest.SecurityGroupID}, CPU: 0.1, Memory: 0.1,
			Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "c", Image: "busybox:1"}}},
		}
		if _, err := c.CreateContainerGroup(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{MaxResults: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 23 || all[0].ContainerGroupName != "g00" || all[22].ContainerGroupName != "g22" {
		t.Fatalf("got %d groups", len(all))
	}
	some, err := c.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Search: "g1", MaxResults: 3})
	if err != nil || len(some) != 10 {
		t.Fatalf("search g1: %d groups, %v", len(some), err)
	}
	st, err := c.ListContainerGroups(ctx, &kci.DescribeContainerGroupRequest{Filters: []kci.Filter{{Name: kci.FilterStatus, Values: []string{kci.StatusSucceeded}}}})
	if err != nil || len(st) != 0 {
		t.Fatalf("status filter: %d groups, %v", len(st), err)
	}
}

// TestRetryOnLimitExceeded: kcid throttles a key past its burst; the client
// backs off and gets through.
func TestRetryOnLimitExceeded(t *testing.T) {
	s := kcidtest.Start(t, kcidtest.Options{Config: kcidtest.DefaultConfig + "rateLimit: {readPerSecond: 20, readBurst: 1}\n"})
	ctx := context.Background()
	c := newClient(t, s.URL, func(c *kci.Config) {
		c.MinBackoff, c.MaxBackoff, c.MaxAttempts = 20*time.Millisecond, 100*time.Millisecond, 10
	})
	for i := range 5 {
		if _, err := c.DescribeRegions(ctx, nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	noRetry := newClient(t, s.URL, func(c *kci.Config) { c.MaxAttempts = 1 })
	var limited bool
	for range 5 {
		_, err := noRetry.DescribeRegions(ctx, nil)
		var ae *kci.APIError
		if errors.As(err, &ae) && ae.Code == kci.CodeLimitExceeded && ae.StatusCode == 409 {
			limited = true
		}
	}
	if !limited {
		t.Error("never throttled without retries: the test does not test anything")
	}
}

// stub answers with the given statuses in turn, then 200.
func stub(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		w.Header().Set("X-Kci-Request-Id", fmt.Sprintf("req-%d", n))
		if n < len(statuses) {
			w.WriteHeader(statuses[n])
			if statuses[n] == 502 {
				fmt.Fprint(w, "<html>bad gateway</html>")
				return
			}
			fmt.Fprintf(w, `{"RequestId":"req-%d","Error":{"Type":"Receiver","Code":"ServiceUnavailable","Message":"try later"}}`, n)
			return
		}
		fmt.Fprintf(w, `{"RequestId":"req-%d","Regions":[]}`, n)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRetryTransient(t *testing.T) {
	ctx := context.Background()
	srv, calls := stub(t, 500, 502, 503)
	c := newClient(t, srv.URL)
	if _, err := c.DescribeRegions(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 {
		t.Errorf("%d calls, want 4", calls.Load())
	}

	srv, calls = stub(t, 500, 500, 500)
	c = newClient(t, srv.URL, func(c *kci.Config) { c.MaxAttempts = 2 })
	_, err := c.DescribeRegions(ctx, nil)
	var ae *kci.APIError
	if !errors.As(err, &ae) || ae.Code != "ServiceUnavailable" || ae.RequestID != "req-1" || calls.Load() != 2 {
		t.Errorf("after 2 attempts: %v (%d calls)", err, calls.Load())
	}

	srv, calls = stub(t, 502, 502)
	c = newClient(t, srv.URL, func(c *kci.Config) { c.MaxAttempts = 1 })
	_, err = c.DescribeRegions(ctx, nil)
	if !errors.As(err, &ae) || ae.Code != "" || ae.StatusCode != 502 || ae.RequestID != "req-0" || !strings.Contains(ae.Message, "bad gateway") {
		t.Errorf("non-envelope answer: %#v", err)
	}

	// Without a ClientToken a create is not repeated after a bare 502 (a
	// proxy may hide a success), but is after the server's own
	// ServiceUnavailable. With one (the default) it is repeated.
	noToken := func(c *kci.Config) { c.NoClientToken = true }
	srv, calls = stub(t, 502, 502)
	c = newClient(t, srv.URL, noToken)
	if _, err := c.CreateContainerGroup(ctx, fullRequest()); err == nil || calls.Load() != 1 {
		t.Errorf("create after 502: %v, %d calls", err, calls.Load())
	}
	srv, calls = stub(t, 502, 502)
	c = newClient(t, srv.URL)
	if _, err := c.CreateContainerGroup(ctx, fullRequest()); err != nil || calls.Load() != 3 {
		t.Errorf("create with a token after 502: %v, %d calls", err, calls.Load())
	}
	srv, calls = stub(t, 500)
	c = newClient(t, srv.URL, noToken)
	if _, err := c.CreateContainerGroup(ctx, fullRequest()); err != nil || calls.Load() != 2 {
		t.Errorf("create after ServiceUnavailable: %v, %d calls", err, calls.Load())
	}

	srv, calls = stub(t, 400, 400)
	c = newClient(t, srv.URL)
	if _, err := c.DescribeRegions(ctx, nil); err == nil || calls.Load() != 1 {
		t.Errorf("4xx retried: %v, %d calls", err, calls.Load())
	}
}

// TestCreateNotResentAfterSending: a create without a ClientToken whose
// connection broke after the request went out may have been done, so it is
// not sent again; a read is.
func TestCreateNotResentAfterSending(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(c *kci.Config) { c.NoClientToken = true })
	ctx := context.Background()
	if _, err := c.CreateContainerGroup(ctx, fullRequest()); err == nil || calls.Load() != 1 {
		t.Errorf("create: %v after %d calls, want an error after 1", err, calls.Load())
	}
	calls.Store(0)
	if _, err := c.DescribeRegions(ctx, nil); err == nil || calls.Load() != kci.DefaultMaxAttempts {
		t.Errorf("describe: %v after %d calls, want %d", err, calls.Load(), kci.DefaultMaxAttempts)
	}
}

func TestRetryDialErrorAndContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := newClient(t, addr, func(c *kci.Config) { c.MaxAttempts = 3 })
	start := time.Now()
	_, err = c.CreateContainerGroup(context.Background(), fullRequest())
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("create to a closed port: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}

	slow := newClient(t, addr, func(c *kci.Config) { c.MinBackoff, c.MaxBackoff, c.MaxAttempts = time.Hour, time.Hour, 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := slow.DescribeRegions(ctx, nil); err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("back-off ignored the context: %v", time.Since(start))
	}
}

func TestHeldGroupIsPending(t *testing.T) {
	s := kcidtest.Start(t, kcidtest.Options{})
	s.Runtime.Hold("later")
	c := newClient(t, s.URL)
	r := fullRequest()
	r.ContainerGroupName = "later"
	out, err := c.CreateContainerGroup(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.ListContainerGroups(context.Background(), nil)
	if err != nil || len(all) != 1 || all[0].Status != kci.StatusPending {
		t.Fatalf("%+v %v", all, err)
	}
	s.Runtime.SetStatus(out.ContainerGroupID, core.GroupStatus{Phase: core.PhaseSucceeded})
	all, _ = c.ListContainerGroups(context.Background(), nil)
	if all[0].Status != kci.StatusSucceeded {
		t.Fatalf("status %s", all[0].Status)
	}
}
