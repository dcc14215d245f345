package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/api"
)

func apiActionNames() []string {
	names := api.ActionNames()
	sort.Strings(names)
	return names
}

// TestRestartKeepsEverything stops kcid and starts a new one on the same
// data dir: groups, IPs and order survive, and the runtime is told to
// re-adopt them.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{config: netConfig, dataDir: dir})
	c := s.client()
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		r := c.do("CreateContainerGroup", createParams(name))
		mustOK(t, r)
		ids = append(ids, r.Body["ContainerGroupId"].(string))
	}
	mustOK(t, c.do("DeleteContainerGroup", vals("ContainerGroupId", ids[1])))
	before := c.do("DescribeContainerGroup", nil)
	mustOK(t, before)
	s.stop()

	s2 := startServer(t, serverOpts{config: netConfig, dataDir: dir})
	c2 := s2.client()
	after := c2.do("DescribeContainerGroup", nil)
	mustOK(t, after)
	strip := func(r *response) string {
		var b strings.Builder
		for _, g := range groups(r) {
			ni := g["NetworkInterfaceAttributes"].([]any)[0].(map[string]any)
			b.WriteString(g["ContainerGroupId"].(string) + " " + g["CreateTime"].(string) + " " + ni["PrivateIpAddress"].(string) + " " + ni["MacAddress"].(string) + "\n")
		}
		return b.String()
	}
	if strip(before) != strip(after) || after.Body["TotalCount"].(float64) != 2 {
		t.Fatalf("state changed across restart:\n%s\n%s", strip(before), strip(after))
	}
	for _, id := range []string{ids[0], ids[2]} {
		if !s2.rt.Running(id) {
			t.Fatalf("group %s not re-adopted by the runtime", id)
		}
	}
}

// TestGeneratedKey: with no key configured, the first start generates one,
// prints it once and keeps it under the data dir.
func TestGeneratedKey(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	s := startServer(t, serverOpts{dataDir: dir, noEnvKey: true, out: &out})
	printed := out.String()
	b, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	ak, sk := kv["KCI_ACCESS_KEY_ID"], kv["KCI_SECRET_ACCESS_KEY"]
	if !strings.HasPrefix(ak, "AKLT") || len(sk) < 30 || !strings.Contains(printed, ak) || !strings.Contains(printed, sk) {
		t.Fatalf("generated key not printed or stored:\n%s\n%s", printed, b)
	}
	if st, _ := os.Stat(filepath.Join(dir, "credentials")); st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v", st.Mode())
	}
	if !strings.Contains(printed, "SubnetId:") || !strings.Contains(printed, "SecurityGroupId:") {
		t.Fatalf("default network not printed:\n%s", printed)
	}
	c := s.client()
	c.ak, c.sk = ak, sk
	// The default network is usable straight away.
	r := c.doVersionService("DescribeSubnets", "2016-03-04", "vpc", nil)
	mustOK(t, r)
	sub := r.Body["SubnetSet"].([]any)[0].(map[string]any)
	r = c.doVersionService("DescribeSecurityGroups", "2016-03-04", "vpc", nil)
	mustOK(t, r)
	sg := r.Body["SecurityGroupSet"].([]any)[0].(map[string]any)
	p := createParams("first")
	p.Set("SubnetId", sub["SubnetId"].(string))
	p.Set("SecurityGroupId.1", sg["SecurityGroupId"].(string))
	mustOK(t, c.do("CreateContainerGroup", p))
	s.stop()

	out.Reset()
	s2 := startServer(t, serverOpts{dataDir: dir, noEnvKey: true, out: &out})
	if out.Len() != 0 {
		t.Fatalf("second start printed again:\n%s", out.String())
	}
	c2 := s2.client()
	c2.ak, c2.sk = ak, sk
	if n := total(t, c2); n != 1 {
		t.Fatalf("after restart: %d groups", n)
	}
	r = c2.doVersionService("DescribeSubnets", "2016-03-04", "vpc", nil)
	if r.Body["SubnetSet"].([]any)[0].(map[string]any)["SubnetId"] != sub["SubnetId"] {
		t.Fatalf("default subnet changed across restart")
	}
}

func TestInsecureMode(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig, insecure: true})
	c := s.client()
	c.unsigned = true
	mustOK(t, c.do("CreateContainerGroup", createParams("anon")))
	if n := total(t, c); n != 1 {
		t.Fatalf("total %d", n)
	}
	mustErr(t, c.do("DescribeContainerGroup", vals("Region", "mars-1")), 400, "InvalidParameterValue", "Region")
}

// simpleSign signs params with Kingsoft's simplified signature.
func simpleSign(params url.Values, sk string) {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var parts []string
	for _, k := range keys {
		parts = append(parts, enc(k)+"="+enc(params.Get(k)))
	}
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(strings.Join(parts, "&")))
	params.Set("Signature", hex.EncodeToString(m.Sum(nil)))
}

func TestSimplifiedSignature(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	c.unsigned = true
	p := createParams("simple sig")
	p.Set("ContainerGroupName", "simple")
	p.Set("Container.1.EnvironmentVar.1.Key", "GREETING")
	p.Set("Container.1.EnvironmentVar.1.Value", "hello world ~*")
	for k, v := range map[string]string{"Action": "CreateContainerGroup", "Version": "2020-07-02", "Service": "kci",
		"Accesskey": testAK, "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"SignatureVersion": "1.0", "SignatureMethod": "HMAC-SHA256", "Region": "cn-beijing-6"} {
		p.Set(k, v)
	}
	simpleSign(p, testSK)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(p.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	mustOK(t, c.send(req))

	p.Set("Timestamp", time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z"))
	simpleSign(p, testSK)
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/?"+p.Encode(), nil)
	mustErr(t, c.send(req), 403, "SignatureDoesNotMatch", "expired")

	p.Set("Timestamp", time.Now().UTC().Format("2006-01-02T15:04:05Z"))
	simpleSign(p, "not the secret")
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/?"+p.Encode(), nil)
	mustErr(t, c.send(req), 403, "SignatureDoesNotMatch", "does not match")
}

// TestCurl drives kcid with curl --aws-sigv4, as the README shows.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed for this test: apt-get install curl")
	}
	s := startServer(t, serverOpts{config: netConfig})
	curl := func(args ...string) string {
		t.Helper()
		base := []string{"-sS", "--aws-sigv4", "aws:amz:cn-beijing-6:kci", "--user", testAK + ":" + testSK}
		out, err := exec.Command("curl", append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	p := createParams("curl-web")
	out := curl("-H", "Content-Type: application/x-www-form-urlencoded", "--data", p.Encode(),
		s.URL+"/?Action=CreateContainerGroup&Version=2020-07-02")
	if !strings.Contains(out, `"ContainerGroupId":"`) || strings.Contains(out, "Error") {
		t.Fatalf("curl create: %s", out)
	}
	out = curl(s.URL + "/?Action=DescribeContainerGroup&Version=2020-07-02&Search=curl")
	if !strings.Contains(out, `"TotalCount":1`) || !strings.Contains(out, `"ContainerGroupName":"curl-web"`) {
		t.Fatalf("curl describe: %s", out)
	}
	out = curl("--user", testAK+":wrong", s.URL+"/?Action=DescribeContainerGroup&Version=2020-07-02")
	if !strings.Contains(out, `"Code":"SignatureDoesNotMatch"`) {
		t.Fatalf("curl with a wrong secret: %s", out)
	}
}
