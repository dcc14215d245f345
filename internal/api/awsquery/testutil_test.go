package awsquery

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// wireExample is the POST body sdk-go produced for CreateContainerGroup,
// copied from docs/kci-api.md §2.1 ("A real wire example"); the line breaks
// are the doc's and are removed before parsing.
const wireExample = `Action=CreateContainerGroup&Container.0.EnvironmentVar.0.Key=POD_IP
&Container.0.EnvironmentVar.0.ValueFrom.FieldRef.FieldPath=status.podIP&Container.0.Image=nginx
&Container.0.LivenessProbe.HttpGet.Path=%2Fhealthz&Container.0.LivenessProbe.HttpGet.Port=80
&Container.0.Name=app&Container.0.SecurityContext.Privileged=false
&Container.0.VolumeMount.0.MountPath=%2Fetc%2Fcfg&Container.0.VolumeMount.0.Name=cfg
&Container.0.VolumeMount.0.ReadOnly=true&DnsConfig.NameServer.0=8.8.8.8&DnsConfig.Option.0.Name=ndots
&DnsConfig.Option.0.Value=2&HostAliase.0.Hostname.0=a.local&HostAliase.0.Ip=10.0.0.1
&ImageRegistryCredential.0.Password=p+w&ImageRegistryCredential.0.Server=hub.example.com
&ImageRegistryCredential.0.Username=u&Service=kci&Version=2020-07-02
&Volume.0.ConfigFileVolume.ConfigFileToPath.0.Content=aGVsbG8%3D
&Volume.0.ConfigFileVolume.ConfigFileToPath.0.Path=a.conf&Volume.0.Name=cfg&Volume.0.Type=ConfigFileVolume`

func wireExampleBody() string { return strings.ReplaceAll(wireExample, "\n", "") }

// wireExampleWant is what wireExample decodes to.
func wireExampleWant() createRequest {
	return createRequest{
		Container: []container{{
			initContainer: initContainer{
				At:    "Container.0.",
				Name:  "app",
				Image: "nginx",
				EnvironmentVar: []envVar{{
					At:        "Container.0.EnvironmentVar.0.",
					Key:       "POD_IP",
					ValueFrom: &valueFrom{FieldRef: &fieldRef{FieldPath: "status.podIP"}},
				}},
				SecurityContext: &securityContext{Privileged: ptr(false)},
				VolumeMount: []volumeMount{{
					At: "Container.0.VolumeMount.0.", Name: "cfg", MountPath: "/etc/cfg", ReadOnly: ptr(true),
				}},
			},
			LivenessProbe: &probe{
				At:      "Container.0.LivenessProbe.",
				HttpGet: &httpGetAction{Path: "/healthz", Port: ptr(80)},
			},
		}},
		DnsConfig: &dnsConfig{
			At:         "DnsConfig.",
			NameServer: []string{"8.8.8.8"},
			Option:     []dnsOption{{At: "DnsConfig.Option.0.", Name: "ndots", Value: "2"}},
		},
		HostAliase: []hostAlias{{At: "HostAliase.0.", Ip: "10.0.0.1", Hostname: []string{"a.local"}}},
		ImageRegistryCredential: []registryCred{{
			At: "ImageRegistryCredential.0.", Server: "hub.example.com", Username: "u",
			Password: "p w", // form encoding: '+' is a space
		}},
		Volume: []volume{{
			At: "Volume.0.", Name: "cfg", Type: "ConfigFileVolume",
			ConfigFileVolume: &configFileVolume{ConfigFileToPath: []configFilePath{{
				At: "Volume.0.ConfigFileVolume.ConfigFileToPath.0.", Path: "a.conf", Content: "aGVsbG8=",
			}}},
		}},
	}
}

func mustParseQuery(t testing.TB, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", q, err)
	}
	return v
}

// show renders a value for failure messages: JSON follows pointers, which
// %+v does not.
func show(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func assertEqual(t testing.TB, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mismatch\n got: %s\nwant: %s", show(got), show(want))
	}
}

func asError(t testing.TB, err error) *Error {
	t.Helper()
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	return qe
}

// clearPrefixes zeroes every Prefix field reachable from v, for comparing
// decoded values with hand-built ones that do not spell out prefixes.
func clearPrefixes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			clearPrefixes(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			clearPrefixes(v.Index(i))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if f.Type() == prefixType {
				f.SetString("")
			} else if sf := v.Type().Field(i); sf.IsExported() || sf.Anonymous {
				clearPrefixes(f)
			}
		}
	}
}
