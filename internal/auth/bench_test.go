package auth_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerifySigV4 measures header-mode verification of an sdk-go-shaped
// POST (form body, four signed headers) with a warm signing-key cache.
func BenchmarkVerifySigV4(b *testing.B) {
	body := "Action=CreateContainerGroup&Container.0.Cpu=1&Container.0.Image=nginx%3Alatest&Container.0.Memory=2&" +
		"Container.0.Name=web&ContainerGroupName=bench+group&Cpu=1&Memory=2&SecurityGroupId.0=sg-0000&" +
		"Service=kci&SubnetId=subnet-0000&Version=2020-07-02"
	r := httptest.NewRequest("POST", "http://"+kciHost+"/", strings.NewReader(body))
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Content-Type", formType)
	sdkSign(b, r, bodyHash(body), "kci", testRegion, signTime)
	v := newVerifier(signTime.Add(30 * time.Second))
	raw := []byte(body)
	if _, err := v.Verify(r, raw, "kci"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, raw, "kci"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySigV4Presigned measures query mode (GET, host signed).
func BenchmarkVerifySigV4Presigned(b *testing.B) {
	r := httptest.NewRequest("GET", "http://"+kciHost+"/?Action=DescribeContainerGroup&Version=2020-07-02&ContainerGroupId.0=abc", nil)
	req := sdkPresign(b, r, "", bodyHash(""), signTime)
	in := httptest.NewRequest("GET", req.URL.String(), nil)
	v := newVerifier(signTime.Add(30 * time.Second))
	if _, err := v.Verify(in, nil, "kci"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(in, nil, "kci"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySimple measures the simplified signature on a GET.
func BenchmarkVerifySimple(b *testing.B) {
	p := simpleSign(simpleParams(), testSK, false)
	r := httptest.NewRequest("GET", "http://"+kciHost+"/?"+p.Encode(), nil)
	v := newVerifier(signTime.Add(30 * time.Second))
	if _, err := v.Verify(r, nil, "kci"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, nil, "kci"); err != nil {
			b.Fatal(err)
		}
	}
}
