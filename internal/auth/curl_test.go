package auth_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const curlPath = "/usr/bin/curl"

// runCurl runs the real curl binary and returns the HTTP status line's code
// and the body. curl signs with the current time, so the verifier's clock is
// the real one.
func runCurl(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append([]string{"-sS", "-o", "-", "-w", "\n%{http_code}"}, args...)
	out, err := exec.CommandContext(ctx, curlPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %q: %v\n%s", args, err, out)
	}
	body, code, _ := strings.Cut(string(out), "\n")
	if i := strings.LastIndex(string(out), "\n"); i >= 0 {
		body, code = string(out[:i]), string(out[i+1:])
	}
	return code, body
}

// TestCurlAWSSigV4 is the documented "curl --aws-sigv4" path. It fails (never
// skips) when curl is missing or too old, because that path is a product
// promise.
func TestCurlAWSSigV4(t *testing.T) {
	help, err := exec.Command(curlPath, "--help", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help all: %v\n%s", curlPath, err, help)
	}
	if !strings.Contains(string(help), "--aws-sigv4") {
		t.Fatalf("%s does not support --aws-sigv4 (need curl >= 7.75)", curlPath)
	}

	v := newVerifier(time.Time{})
	v.Now = time.Now
	srv := newServer(t, v, "kci")
	user := testAK + ":" + testSK
	sigv4 := "aws:amz:cn-beijing-6:kci"
	ok := "OK sigv4-header " + testAK + " cn-beijing-6 kci"
	mismatch := "SignatureDoesNotMatch\nThe request signature we calculated does not match the signature you provided."

	tests := []struct {
		name       string
		args       []string
		code, body string
	}{
		{"GET with query", []string{"--aws-sigv4", sigv4, "--user", user,
			srv.URL + "/?Version=2020-07-02&Action=DescribeContainerGroup&ContainerGroupId.1=abc&Name=a%20b~%E5%91%A8"},
			"200", ok},
		{"GET with unsorted repeated keys", []string{"--aws-sigv4", sigv4, "--user", user,
			srv.URL + "/?Action=DescribeContainerGroup&Filter.1.Value.1=zz&Filter.1.Value.1=aa&Version=2020-07-02"},
			"200", ok},
		{"POST form body", []string{"--aws-sigv4", sigv4, "--user", user,
			"--data", "Action=CreateContainerGroup&Version=2020-07-02&ContainerGroupName=my+group%20x&Container.0.Name=%E5%91%A8",
			srv.URL + "/"},
			"200", ok},
		{"POST with query and body", []string{"--aws-sigv4", sigv4, "--user", user,
			"--data", "ContainerGroupName=a+b", srv.URL + "/?Action=CreateContainerGroup&Version=2020-07-02"},
			"200", ok},
		{"POST with extra headers", []string{"--aws-sigv4", sigv4, "--user", user,
			"-H", "Accept: application/json", "-H", "X-Kci-Note:  a   b ",
			"--data", "Action=DescribeContainerGroup", srv.URL + "/"},
			"200", ok},
		{"wrong secret", []string{"--aws-sigv4", sigv4, "--user", testAK + ":nope",
			"--data", "Action=DescribeContainerGroup", srv.URL + "/"},
			"403", mismatch},
		{"unknown key", []string{"--aws-sigv4", sigv4, "--user", "AKLTunknown:x", srv.URL + "/?Action=DescribeContainerGroup"},
			"403", "InvalidClientTokenId\nThe security token included in the request is invalid."},
		{"region not served", []string{"--aws-sigv4", "aws:amz:cn-nowhere-1:kci", "--user", user, srv.URL + "/"},
			"403", "SignatureDoesNotMatch\nCredential should be scoped to a valid region, not:cn-nowhere-1."},
		{"wrong service", []string{"--aws-sigv4", "aws:amz:cn-beijing-6:vpc", "--user", user, srv.URL + "/"},
			"403", "SignatureDoesNotMatch\nCredential should be scoped to correct service: kci."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := runCurl(t, tc.args...)
			if code != tc.code || body != tc.body {
				t.Fatalf("curl: %s %q, want %s %q", code, body, tc.code, tc.body)
			}
		})
	}
}
