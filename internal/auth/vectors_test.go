package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Vectors from docs/kci-api.md §3.3 (aws-sdk-go v1 with sdk-go's header set,
// re-derived in Python) and §4.3 (docs example and sdk-node's unit test).

const (
	vecAK     = "AKLTEXAMPLEKEY"
	vecSK     = "SKEXAMPLESECRET"
	vecHost   = "kci.api.ksyun.com"
	vecDate   = "20240102T030405Z"
	vecParams = "Action=DescribeContainerGroup&ContainerGroupId.0=9f0c0be6-f6fe-4e29-af1a-000000000000&Service=kci&Version=2020-07-02"
)

var vecTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func vecVerifier(now time.Time) *Verifier {
	return &Verifier{
		Keys:    StaticKeys{vecAK: {AccessKeyID: vecAK, SecretAccessKey: vecSK, AccountID: "2000000001"}},
		Now:     func() time.Time { return now },
		Regions: func(r string) bool { return r == "cn-beijing-6" || r == "cn-shanghai-2" },
	}
}

// vecRequest rebuilds the sdk-go request of §3.3: host signed twice.
func vecRequest(method, target, body, sig string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = vecHost
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Amz-Date", vecDate)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+vecAK+"/20240102/cn-beijing-6/kci/aws4_request, "+
		"SignedHeaders=accept;content-type;host;host;x-amz-date, Signature="+sig)
	return r
}

func TestSigV4DocVectors(t *testing.T) {
	const (
		postSig = "4b5d9fce8dd6c39e675a02ab4a3e8127334313118a4b8a827f6d4b3d743c2eb5"
		getSig  = "234d9bbbff6fdd3cac9a66110187e3446e9ecadc21e716762fd8afc291fc6823"
	)
	t.Run("canonical request and string to sign", func(t *testing.T) {
		r := vecRequest("POST", "http://"+vecHost+"/", vecParams, postSig)
		hdrs, err := canonicalHeaders(r, strings.Split("accept;content-type;host;host;x-amz-date", ";"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(vecParams))
		cr := canonicalRequest("POST", canonicalURIs(r)[0], canonicalQueries(nil, "", "")[0], hdrs,
			"accept;content-type;host;host;x-amz-date", hex.EncodeToString(sum[:]))
		wantCR := "POST\n/\n\naccept:application/json\ncontent-type:application/x-www-form-urlencoded\nhost:kci.api.ksyun.com\nhost:kci.api.ksyun.com\nx-amz-date:20240102T030405Z\n\naccept;content-type;host;host;x-amz-date\n2e9bc1c9c95b215add2ca298c6968ce8dad8992907fca8b5480d760759abdd8b"
		if cr != wantCR {
			t.Fatalf("canonical request:\n%q\nwant\n%q", cr, wantCR)
		}
		sts := stringToSign(vecDate, "20240102/cn-beijing-6/kci/aws4_request", cr)
		wantSTS := "AWS4-HMAC-SHA256\n20240102T030405Z\n20240102/cn-beijing-6/kci/aws4_request\n3e34afdf338ee69468c3f90770a44b6a3b071ba50cb028a2f6daa2260efd8d27"
		if sts != wantSTS {
			t.Fatalf("string to sign:\n%q\nwant\n%q", sts, wantSTS)
		}
		v := vecVerifier(vecTime)
		got := hex.EncodeToString(hmacSHA256(v.signingKey(vecSK, "20240102", "cn-beijing-6", "kci"), sts))
		if got != postSig {
			t.Fatalf("signature %s, want %s", got, postSig)
		}
	})

	tests := []struct {
		name, method, target, body, sig string
		now                             time.Time
		service                         string
	}{
		{"POST", "POST", "http://" + vecHost + "/", vecParams, postSig, vecTime, "kci"},
		{"GET", "GET", "http://" + vecHost + "/?" + vecParams, "", getSig, vecTime, "kci"},
		{"POST service unknown", "POST", "http://" + vecHost + "/", vecParams, postSig, vecTime, ""},
		{"POST 14 minutes later", "POST", "http://" + vecHost + "/", vecParams, postSig, vecTime.Add(14 * time.Minute), "kci"},
		{"GET 14 minutes earlier", "GET", "http://" + vecHost + "/?" + vecParams, "", getSig, vecTime.Add(-14 * time.Minute), "kci"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := vecRequest(tc.method, tc.target, tc.body, tc.sig)
			id, err := vecVerifier(tc.now).Verify(r, []byte(tc.body), tc.service)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Identity{AccessKeyID: vecAK, AccountID: "2000000001", Region: "cn-beijing-6", Service: "kci", Scheme: SchemeSigV4Header, BodySigned: true}
			if id.Credential.SecretAccessKey != vecSK {
				t.Fatalf("credential %+v", id.Credential)
			}
			id.Credential = Credential{}
			if !reflect.DeepEqual(*id, want) {
				t.Fatalf("identity %+v, want %+v", *id, want)
			}
		})
	}

	// The same vectors with one byte changed must fail.
	fails := []struct {
		name, method, target, body, sig string
	}{
		{"POST tampered body", "POST", "http://" + vecHost + "/", strings.Replace(vecParams, "Describe", "Delete", 1), postSig},
		{"GET tampered query", "GET", "http://" + vecHost + "/?" + strings.Replace(vecParams, "000000000000", "000000000001", 1), "", getSig},
		{"GET signature used for POST", "POST", "http://" + vecHost + "/", vecParams, getSig},
		{"POST signature upper-case tampered", "POST", "http://" + vecHost + "/", vecParams, "5" + postSig[1:]},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vecVerifier(vecTime).Verify(vecRequest(tc.method, tc.target, tc.body, tc.sig), []byte(tc.body), "kci")
			wantErr(t, err, CodeSignatureDoesNotMatch, 403, msgSignatureMismatch)
		})
	}
}

func wantErr(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code || e.Status != status || e.Message != msg {
		t.Fatalf("got %s %d %q\nwant %s %d %q", e.Code, e.Status, e.Message, code, status, msg)
	}
}

func TestSimpleDocVectors(t *testing.T) {
	tests := []struct {
		name, sk, sig string
		params        []param
		wantCanonical string // full string, or a prefix when wantPrefix
		wantPrefix    bool
	}{
		{
			name: "(a) docs 40299",
			sk:   "OMovU5PTLh6y9E9Ioe3K411jt99VqyQSBXgAcDYlo49R3lvUIzb6e/efZCFDmtFlzw==",
			sig:  "fc9088ab845949dac4040be9b7ce7859068b5c21d4c400fec8ee0cefb777f659",
			params: []param{
				{"Accesskey", "AKLTXQVF0pOmS6aahIrD5r0B3Q"}, {"Service", "iam"}, {"Action", "CreateUser"},
				{"Version", "2015-11-01"}, {"Timestamp", "2021-08-12T02:47:36Z"}, {"SignatureVersion", "1.0"},
				{"SignatureMethod", "HMAC-SHA256"}, {"UserName", "Ttest"}, {"RealName", "周四测试"},
				{"Email", "zsce@kkingsoft.com"}, {"Remark", "~ce shi*%#|+"},
			},
			wantCanonical: "Accesskey=AKLTXQVF0pOmS6aahIrD5r0B3Q&Action=CreateUser&Email=zsce%40kkingsoft.com&RealName=%E5%91%A8%E5%9B%9B%E6%B5%8B%E8%AF%95&Remark=~ce%20shi%2A%25%23%7C%2B&Service=iam&SignatureMethod=HMAC-SHA256&SignatureVersion=1.0&Timestamp=2021-08-12T02%3A47%3A36Z&UserName=Ttest&Version=2015-11-01",
		},
		{
			name: "(b) sdk-node test",
			sk:   "SKKKKK==",
			sig:  "f99dc36bc6cd84dbb3148a402df6fc1ad9891a26dca42315b831551f5ae92620",
			params: []param{
				{"Accesskey", "AKKKKKK"}, {"Service", "iam"}, {"Action", "CreateUser"}, {"Version", "2015-11-01"},
				{"Timestamp", "2021-08-12T02:47:36Z"}, {"SignatureVersion", "1"}, {"SignatureMethod", "HMAC-SHA256"},
				{"UserName", "Ttest"}, {"RealName", "周四测试"}, {"Email", "zsce@aa.com"}, {"Remark", "~ce shi*%#|+"},
				{"Boolean", "true"}, {"Array[0]", "1"}, {"Array[1]", "2"}, {"Array[2]", "3"},
				{"SimpleFilter.1", "1"}, {"SimpleFilter.2", "2"},
				{"DeepFilter.1.a", "1"}, {"DeepFilter.1.b", "2"}, {"DeepFilter.2.a", "2"}, {"DeepFilter.2.b", "3"},
			},
			wantCanonical: "Accesskey=AKKKKKK&Action=CreateUser&Array%5B0%5D=1&Array%5B1%5D=2&Array%5B2%5D=3&Boolean=true&DeepFilter.1.a=1&",
			wantPrefix:    true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var canon string
			for s := range simpleStringsToSign(tc.params) {
				canon = s
				break
			}
			if tc.wantPrefix && !strings.HasPrefix(canon, tc.wantCanonical) || !tc.wantPrefix && canon != tc.wantCanonical {
				t.Fatalf("canonical string\n%s\nwant\n%s", canon, tc.wantCanonical)
			}
			h := hmac.New(sha256.New, []byte(tc.sk))
			h.Write([]byte(canon))
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.sig {
				t.Fatalf("signature %s, want %s", got, tc.sig)
			}

			// And end to end: GET query and POST form body.
			ak := tc.params[0].value
			v := &Verifier{
				Keys: StaticKeys{ak: {AccessKeyID: ak, SecretAccessKey: tc.sk}},
				Now:  func() time.Time { return time.Date(2021, 8, 12, 2, 50, 0, 0, time.UTC) },
			}
			signed := encodePairs(append(tc.params, param{"Signature", tc.sig}), true) // form style: space as '+'
			for _, r := range []*http.Request{
				httptest.NewRequest("GET", "http://iam.api.ksyun.com/?"+signed, nil),
				formRequest("http://iam.api.ksyun.com/", signed),
			} {
				body := ""
				if r.Method == "POST" {
					body = signed
				}
				id, err := v.Verify(r, []byte(body), "")
				if err != nil {
					t.Fatalf("%s: %v", r.Method, err)
				}
				if id.Scheme != SchemeSimple || id.AccessKeyID != ak || id.Region != DefaultRegion || id.Service != "iam" {
					t.Fatalf("%s: identity %+v", r.Method, id)
				}
			}
		})
	}
}

func formRequest(target, body string) *http.Request {
	r := httptest.NewRequest("POST", target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestSigningKeyCacheBounded(t *testing.T) {
	v := vecVerifier(vecTime)
	for i := range maxSigningKeys + 50 {
		v.signingKey("secret", "2024010"+string(rune('0'+i%10)), "r"+strings.Repeat("x", i), "kci")
	}
	if n := len(v.signingKeys); n > maxSigningKeys {
		t.Fatalf("cache holds %d keys, limit %d", n, maxSigningKeys)
	}
	a := v.signingKey(vecSK, "20240102", "cn-beijing-6", "kci")
	b := v.signingKey(vecSK, "20240102", "cn-beijing-6", "kci")
	if !hmac.Equal(a, b) {
		t.Fatal("cached key differs")
	}
}
