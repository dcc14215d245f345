package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openkci/openkci/internal/testenv"
)

// client signs requests as the official Go SDK does: POST with a form
// body, SigV4 with service "kci" (VPC actions: "vpc").
type client struct {
	k      *kcid
	url    func() string
	ak, sk string
	http   http.Client
}

func newClient(k *kcid) *client {
	return &client{k: k, url: k.URL, ak: accessKeyID, sk: secretAccessKey, http: http.Client{Timeout: 60 * time.Second}}
}

// apiError is a KCI error response.
type apiError struct {
	Status  int
	Code    string
	Message string
	Raw     string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// send sends action with params, signed unless unsigned, and returns the
// status and body.
func (c *client) send(action string, params url.Values, unsigned bool) (int, []byte, error) {
	version, service := "2020-07-02", "kci"
	if strings.Contains(action, "Vpc") || strings.Contains(action, "Subnet") || strings.Contains(action, "SecurityGroup") {
		version, service = "2016-03-04", "vpc"
	}
	all := url.Values{}
	for k, v := range params {
		all[k] = v
	}
	all.Set("Action", action)
	all.Set("Version", version)
	body := []byte(all.Encode())
	req, err := http.NewRequest(http.MethodPost, c.url()+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	if !unsigned {
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.ak, SecretAccessKey: c.sk},
			req, hex.EncodeToString(sum[:]), service, region, time.Now())
		if err != nil {
			return 0, nil, err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// call sends a signed action and decodes a success into out (if not nil);
// an error response is an *apiError.
func (c *client) call(action string, params url.Values, out any) error {
	return c.decode(action, params, out, false)
}

// callStrict is call decoding into pkg/kci's typed model, refusing fields
// the model does not declare.
func (c *client) callStrict(action string, params url.Values, out any) error {
	return c.decode(action, params, out, true)
}

func (c *client) decode(action string, params url.Values, out any, strict bool) error {
	status, raw, err := c.send(action, params, false)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return parseError(status, raw)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: response is not the expected JSON: %v: %s", action, err, raw)
	}
	return nil
}

func parseError(status int, raw []byte) *apiError {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(raw, &e)
	return &apiError{Status: status, Code: e.Error.Code, Message: e.Error.Message, Raw: string(raw)}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// Responses, as the wire shows them.

type describeResponse struct {
	TotalCount      int     `json:"TotalCount"`
	ContainerGroups []group `json:"ContainerGroups"`
}

type group struct {
	ID            string  `json:"ContainerGroupId"`
	Name          string  `json:"ContainerGroupName"`
	Status        string  `json:"Status"`
	RestartPolicy string  `json:"RestartPolicy"`
	SucceededTime *string `json:"SucceededTime"`
	Interfaces    []struct {
		SubnetID  string `json:"SubnetId"`
		PrivateIP string `json:"PrivateIpAddress"`
	} `json:"NetworkInterfaceAttributes"`
	DNSConfig *struct {
		NameServers []string `json:"NameServers"`
		Searches    []string `json:"Searches"`
		Options     []struct {
			Name  string  `json:"Name"`
			Value *string `json:"Value"`
		} `json:"Options"`
	} `json:"DnsConfig"`
	HostAliases []struct {
		Hostnames []string `json:"Hostnames"`
		IP        string   `json:"Ip"`
	} `json:"HostAliases"`
	Containers     []container `json:"Containers"`
	InitContainers []container `json:"InitContainers"`
	Events         []event     `json:"Events"`
	Ready          bool        `json:"Ready"`
}

type container struct {
	Name          string `json:"Name"`
	Image         string `json:"Image"`
	RestartCount  int    `json:"RestartCount"`
	CurrentState  *state `json:"CurrentState"`
	PreviousState *state `json:"PreviousState"`
	Ready         bool   `json:"Ready"`
	// The probes as Describe echoes them.
	LivenessProbe  json.RawMessage `json:"LivenessProbe"`
	ReadinessProbe json.RawMessage `json:"ReadinessProbe"`
}

type state struct {
	State      string  `json:"State"`
	Reason     *string `json:"Reason"`
	ExitCode   *int    `json:"ExitCode"`
	StartTime  *string `json:"StartTime"`
	FinishTime *string `json:"FinishTime"`
}

type event struct {
	Type    string `json:"Type"`
	Reason  string `json:"Reason"`
	Message string `json:"Message"`
	Count   int    `json:"Count"`
}

func (g *group) ip() string {
	if len(g.Interfaces) == 0 {
		return ""
	}
	return g.Interfaces[0].PrivateIP
}

func (g *group) container(name string) *container {
	for i := range g.Containers {
		if g.Containers[i].Name == name {
			return &g.Containers[i]
		}
	}
	return nil
}

func (g *group) hasEvent(reason, message string) bool {
	return slices.ContainsFunc(g.Events, func(e event) bool { return e.Reason == reason && e.Message == message })
}

func (s *state) reason() string {
	if s == nil || s.Reason == nil {
		return ""
	}
	return *s.Reason
}

func (s *state) is(st, reason string) bool {
	return s != nil && s.State == st && s.reason() == reason
}

func (s *state) exitCode(code int) bool {
	return s != nil && s.ExitCode != nil && *s.ExitCode == code
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// groupSpec is a one-container group of the busybox image running script
// with sh -c.
type groupSpec struct {
	name, subnet, script string
	restartPolicy        string     // "" = the default (Always)
	extra                url.Values // more parameters
}

// ctrName is the container name of every group made by createGroup.
const ctrName = "main"

// createGroup creates a group and, when the test ends, deletes it (if the
// test has not) and waits for its containers to go.
func createGroup(t *testing.T, e *env, c *client, s groupSpec) string {
	t.Helper()
	p := vals(
		"ContainerGroupName", s.name,
		"SubnetId", s.subnet,
		"SecurityGroupId.1", sgID,
		"ChargeType", "HourlyInstantSettlement",
		"Cpu", "0.5",
		"Memory", "0.5",
		"ImageRegistryCredential.1.Server", e.reg.Host,
		"ImageRegistryCredential.1.Username", e.reg.Username,
		"ImageRegistryCredential.1.Password", e.reg.Password,
		"Container.1.Name", ctrName,
		"Container.1.Image", e.image,
		"Container.1.Command.1", "sh",
		"Container.1.Command.2", "-c",
		"Container.1.Arg.1", s.script,
	)
	if s.restartPolicy != "" {
		p.Set("RestartPolicy", s.restartPolicy)
	}
	for k, v := range s.extra {
		p[k] = v
	}
	var resp struct {
		ID string `json:"ContainerGroupId"`
	}
	if err := c.call("CreateContainerGroup", p, &resp); err != nil {
		t.Fatalf("CreateContainerGroup %s: %v", s.name, err)
	}
	if resp.ID == "" {
		t.Fatalf("CreateContainerGroup %s: no ContainerGroupId", s.name)
	}
	t.Cleanup(func() {
		err := c.call("DeleteContainerGroup", vals("ContainerGroupId", resp.ID), nil)
		if ae, ok := err.(*apiError); err != nil && !(ok && ae.Status == http.StatusNotFound) {
			t.Errorf("cleanup: delete %s: %v", resp.ID, err)
		}
		// Wait for the whole teardown: kcid stopped in the middle of it
		// would leave the rest to its next start.
		timeout := goneTimeout
		if t.Failed() {
			timeout = 15 * time.Second // the failure may be this very group's
		}
		if left, err := waitLeftovers(c.k, resp.ID, false, timeout); err != nil || len(left) > 0 {
			t.Errorf("cleanup: group %s not cleaned up %v after delete (%v):\n  %s", resp.ID, timeout, err, strings.Join(left, "\n  "))
		}
	})
	return resp.ID
}

// describe returns the group, or nil if kcid does not list it.
func describe(c *client, id string) (*group, error) {
	var resp describeResponse
	if err := c.call("DescribeContainerGroup", vals("ContainerGroupId.1", id), &resp); err != nil {
		return nil, err
	}
	for i := range resp.ContainerGroups {
		if resp.ContainerGroups[i].ID == id {
			return &resp.ContainerGroups[i], nil
		}
	}
	return nil, nil
}

// pollEvery is how often the tests poll kcid.
const pollEvery = 150 * time.Millisecond

// waitGroup polls Describe until ok accepts the group; ok sees every
// observation.
func waitGroup(t *testing.T, k *kcid, c *client, id string, timeout time.Duration, what string, ok func(*group) bool) *group {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var g *group
	var err error
	for {
		g, err = describe(c, id)
		if err == nil && g != nil && ok(g) {
			return g
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("group %s: %s: not reached within %v (last error: %v); last Describe:\n%s\nkcid log about it:\n%s",
		id, what, timeout, err, dump(g), k.logGrep(40, id))
	return nil
}

func running(g *group) bool {
	if g.Status != "Running" || len(g.Containers) == 0 {
		return false
	}
	for _, c := range g.Containers {
		if c.CurrentState == nil || c.CurrentState.State != "running" {
			return false
		}
	}
	return true
}

// logs returns a container's log as DescribeContainerLog gives it.
func logs(c *client, id, ctr string) (string, error) {
	var resp struct {
		Content string `json:"Content"`
	}
	err := c.call("DescribeContainerLog", vals("ContainerGroupId", id, "ContainerName", ctr, "Tail", "1000"), &resp)
	return resp.Content, err
}

// waitLog polls DescribeContainerLog until the log contains want.
func waitLog(t *testing.T, k *kcid, c *client, id, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	var err error
	for {
		out, err = logs(c, id, ctrName)
		if err == nil && strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(pollEvery)
	}
	g, _ := describe(c, id)
	t.Fatalf("group %s: log lacks %q after %v (last error: %v); log:\n%s\nDescribe:\n%s\nkcid log about it:\n%s",
		id, want, timeout, err, out, dump(g), k.logGrep(40, id))
	return ""
}

// leftovers lists what is left on the machine of group id: containerd
// containers, tasks and snapshots in kcid's namespace, network namespaces,
// mounts, cgroups, iptables rules, and files under dataDir named after it;
// with wholeDataDir any mount under dataDir counts.
func leftovers(k *kcid, id string, wholeDataDir bool) ([]string, error) {
	dataDir := k.dataDir
	var left []string
	for _, what := range []struct{ kind, name string }{
		{"containerd container", "containers"}, {"containerd task", "tasks"}, {"snapshot", "snapshots"},
	} {
		out, err := testenv.CtrE(k.e.ctrd, k.ns, what.name, "ls")
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(out, "\n") {
			// The first column is the container, task or snapshot key.
			if f := strings.Fields(l); len(f) > 0 && strings.Contains(f[0], id) {
				left = append(left, what.kind+" "+f[0])
			}
		}
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			if strings.Contains(e.Name(), id) {
				left = append(left, "netns /run/netns/"+e.Name())
			}
		}
	}
	for _, m := range testenv.MountsUnderDir("/") {
		if strings.Contains(m, id) || wholeDataDir && (m == dataDir || strings.HasPrefix(m, dataDir+"/")) {
			left = append(left, "mount "+m)
		}
	}
	// Group cgroups sit under /<namespace>/kcid-<instance> (docs/host.md);
	// the patterns also match the flat layout of data dirs from before.
	var cgroups []string
	for _, pat := range []string{"/sys/fs/cgroup/*/" + k.ns + "/" + id, "/sys/fs/cgroup/*/" + k.ns + "/kcid-*/" + id,
		"/sys/fs/cgroup/" + k.ns + "/" + id, "/sys/fs/cgroup/" + k.ns + "/kcid-*/" + id} {
		found, _ := filepath.Glob(pat)
		cgroups = append(cgroups, found...)
	}
	for _, cg := range cgroups {
		left = append(left, "cgroup "+cg)
	}
	_ = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), id) {
			left = append(left, "file "+p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if out, err := exec.Command("iptables-save").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, id) {
				left = append(left, "iptables rule "+l)
			}
		}
	}
	return left, nil
}

// waitLeftovers polls until nothing of group id is left and returns what
// is left at the deadline.
func waitLeftovers(k *kcid, id string, wholeDataDir bool, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		left, err := leftovers(k, id, wholeDataDir)
		if err == nil && len(left) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			return left, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitGone fails the test unless nothing of group id is left within timeout.
func waitGone(t *testing.T, k *kcid, id string, wholeDataDir bool, timeout time.Duration) {
	t.Helper()
	left, err := waitLeftovers(k, id, wholeDataDir, timeout)
	if err != nil {
		t.Fatalf("group %s: looking for leftovers: %v", id, err)
	}
	if len(left) > 0 {
		t.Fatalf("group %s: %d things left %v after delete:\n  %s\nkcid log about it:\n%s",
			id, len(left), timeout, strings.Join(left, "\n  "), k.logGrep(40, id))
	}
}

// availableIPs is a subnet's AvailableIpNumber from DescribeSubnets.
func availableIPs(t *testing.T, c *client, subnet string) string {
	t.Helper()
	var resp struct {
		SubnetSet []struct {
			SubnetID  string `json:"SubnetId"`
			Available string `json:"AvailableIpNumber"`
		} `json:"SubnetSet"`
	}
	if err := c.call("DescribeSubnets", vals("SubnetId.1", subnet), &resp); err != nil {
		t.Fatalf("DescribeSubnets: %v", err)
	}
	for _, s := range resp.SubnetSet {
		if s.SubnetID == subnet {
			return s.Available
		}
	}
	t.Fatalf("DescribeSubnets: %s not listed", subnet)
	return ""
}

// hostPing pings ip once from the host (the test's network namespace).
func hostPing(ip string) error {
	out, err := exec.Command(testenv.BusyboxPath, "ping", "-c", "1", "-W", "2", ip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %v: %s", ip, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitHostPing polls until the host can ping ip.
func waitHostPing(t *testing.T, ip string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := hostPing(ip)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host cannot ping group IP %s within %v: %v", ip, timeout, err)
		}
		time.Sleep(pollEvery)
	}
}
