package awsquery

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestFlattenJSON(t *testing.T) {
	body := `{
		"ContainerGroupName": "g",
		"Cpu": 1.0, "Memory": 2, "Gpu": 1e-05, "ProjectId": -0,
		"RetainIp": true, "HostPID": false,
		"SecurityGroupId": ["sg-1", "sg-2"],
		"Container": [{"Name": "a", "Port": [{"Port": 80, "Protocol": "TCP"}], "Command": []}],
		"DnsConfig": {"NameServer": ["8.8.8.8"], "Option": [null, {"Name": "ndots", "Value": "2"}]},
		"Nothing": null, "EmptyObject": {}, "EmptyArray": [],
		"Matrix": [[1, 2], [3]],
		"Unicode": "\u00e9\ud83d\ude00", "Escaped": "a\"b\\c\n"
	}`
	got, err := FlattenJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"ContainerGroupName":          {"g"},
		"Cpu":                         {"1.0"},
		"Memory":                      {"2"},
		"Gpu":                         {"1e-05"},
		"ProjectId":                   {"-0"},
		"RetainIp":                    {"true"},
		"HostPID":                     {"false"},
		"SecurityGroupId.1":           {"sg-1"},
		"SecurityGroupId.2":           {"sg-2"},
		"Container.1.Name":            {"a"},
		"Container.1.Port.1.Port":     {"80"},
		"Container.1.Port.1.Protocol": {"TCP"},
		"DnsConfig.NameServer.1":      {"8.8.8.8"},
		"DnsConfig.Option.2.Name":     {"ndots"}, // null element dropped, positions kept
		"DnsConfig.Option.2.Value":    {"2"},
		"Matrix.1.1":                  {"1"},
		"Matrix.1.2":                  {"2"},
		"Matrix.2.1":                  {"3"},
		"Unicode":                     {"é😀"},
		"Escaped":                     {"a\"b\\c\n"},
	}
	assertEqual(t, got, want)
}

// The same request as JSON and as a form decodes to the same struct (up to
// prefixes, which reflect the 1-based numbering).
func TestFlattenJSONDecodesLikeForm(t *testing.T) {
	body := `{"Action":"CreateContainerGroup","Container":[{"EnvironmentVar":[{"Key":"POD_IP",
		"ValueFrom":{"FieldRef":{"FieldPath":"status.podIP"}}}],"Image":"nginx",
		"LivenessProbe":{"HttpGet":{"Path":"/healthz","Port":80}},"Name":"app",
		"SecurityContext":{"Privileged":false},"VolumeMount":[{"MountPath":"/etc/cfg","Name":"cfg","ReadOnly":true}]}],
		"DnsConfig":{"NameServer":["8.8.8.8"],"Option":[{"Name":"ndots","Value":"2"}]},
		"HostAliase":[{"Hostname":["a.local"],"Ip":"10.0.0.1"}],
		"ImageRegistryCredential":[{"Password":"p w","Server":"hub.example.com","Username":"u"}],
		"Service":"kci","Version":"2020-07-02",
		"Volume":[{"ConfigFileVolume":{"ConfigFileToPath":[{"Content":"aGVsbG8=","Path":"a.conf"}]},"Name":"cfg","Type":"ConfigFileVolume"}]}`
	vals, err := FlattenJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var got createRequest
	if err := Decode(vals, &got); err != nil {
		t.Fatal(err)
	}
	if got.Container[0].At != "Container.1." {
		t.Errorf("prefix %q", got.Container[0].At)
	}
	want := wireExampleWant()
	clearPrefixes(reflect.ValueOf(&got))
	clearPrefixes(reflect.ValueOf(&want))
	assertEqual(t, got, want)
}

func TestFlattenJSONDuplicateMembers(t *testing.T) {
	vals, err := FlattenJSON([]byte(`{"Filter":[{"Name":"a","Value":["x"]}],"Filter":[{"Value":["y"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var d describeRequest
	qe := asError(t, Decode(vals, &d))
	if qe.Kind != Duplicate || qe.Param != "Filter.1.Value.1" {
		t.Errorf("got %v", qe)
	}
	// Same value twice is fine, as for forms.
	vals, err = FlattenJSON([]byte(`{"Search":"a","Search":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Decode(vals, &d); err != nil || d.Search != "a" {
		t.Errorf("got %v %q", err, d.Search)
	}
}

func TestFlattenJSONErrors(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxJSONDepth) + "1" + strings.Repeat("}", MaxJSONDepth)
	tooDeep := strings.Repeat(`{"a":`, MaxJSONDepth+1) + "1" + strings.Repeat("}", MaxJSONDepth+1)
	tooDeepArr := `{"a":` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + "}"
	if _, err := FlattenJSON([]byte(deep)); err != nil {
		t.Errorf("depth %d rejected: %v", MaxJSONDepth, err)
	}
	for _, tc := range []struct {
		name string
		body string
		kind ErrorKind
	}{
		{"empty", ``, InvalidJSON},
		{"spaces", `   `, InvalidJSON},
		{"array", `[]`, InvalidJSON},
		{"string", `"x"`, InvalidJSON},
		{"number", `1`, InvalidJSON},
		{"null", `null`, InvalidJSON},
		{"unterminated", `{"a":1`, InvalidJSON},
		{"open", `{`, InvalidJSON},
		{"missing value", `{"a":}`, InvalidJSON},
		{"bad value", `{"a":tru}`, InvalidJSON},
		{"trailing comma", `{"a":1,}`, InvalidJSON},
		{"trailing data", `{"a":1}x`, InvalidJSON},
		{"second object", `{"a":1}{}`, InvalidJSON},
		{"bad array", `{"a":[1,]}`, InvalidJSON},
		{"mismatched", `{"a":[1}`, InvalidJSON},
		{"non-string name", `{1:2}`, InvalidJSON},
		{"too deep", tooDeep, TooLarge},
		{"too deep arrays", tooDeepArr, TooLarge},
		{"key too long", `{"` + strings.Repeat("k", MaxJSONKeyLen+1) + `":1}`, TooLarge},
		{"nested key too long", `{"` + strings.Repeat("k", MaxJSONKeyLen-2) + `":{"ab":1}}`, TooLarge},
		{"body too large", `{"a":"` + strings.Repeat("x", MaxJSONBytes) + `"}`, TooLarge},
		// Repeating a long prefix must not multiply memory: keys are capped in total.
		{"key bytes", `{"` + strings.Repeat("k", 1000) + `":[` + strings.Repeat("[],", 5000) + `[]]}`, TooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := FlattenJSON([]byte(tc.body))
			if err == nil {
				t.Fatalf("no error: %v", vals)
			}
			if qe := asError(t, err); qe.Kind != tc.kind {
				t.Errorf("kind %v, want %v (%v)", qe.Kind, tc.kind, err)
			}
		})
	}
}
