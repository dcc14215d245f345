package awsquery

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/openkci/openkci/pkg/kci"
)

// fuzzTarget covers every shape the decoder handles: the full request,
// tag max options, every scalar kind, nested lists and a recursive type.
type fuzzTarget struct {
	Create   createRequest   `query:"C"`
	Describe describeRequest `query:"D"`
	Scalars  allScalars      `query:"S"`
	Tree     *tree           `query:"T"`
	Prefixes prefixOuter     `query:"P"`
}

// decodeChecked decodes vals into all targets and checks the invariants that
// must hold for any input: no panic, request errors are *Error naming a key
// that was really sent, and whatever decodes re-encodes into something that
// decodes again.
func decodeChecked(t *testing.T, vals url.Values) {
	targets := []any{new(createRequest), new(describeRequest), new(allScalars), new(tree), new(fuzzTarget)}
	for _, dst := range targets {
		err := Decode(vals, dst)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("%T: non-request error %v", dst, err)
			}
			if _, ok := vals[qe.Param]; !ok {
				t.Fatalf("%T: error names %q, which was not sent: %v", dst, qe.Param, err)
			}
			continue
		}
		enc := kci.Flatten(dst)
		if err := Decode(enc, dst); err != nil {
			t.Fatalf("%T: re-decoding our own encoding: %v\nencoded: %v", dst, err, enc)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		wireExampleBody(),
		"SecurityGroupId.1=sg&Container.1.Name=nginx&Container.1.Port.1.Port=80&Container.1.Port.1.Protocol=TCP",
		"C.Container.10.Name=a&C.Container.2.Name=b&C.Container.02.Image=x",
		"D.Filter.1.Name=status&D.Filter.1.Value.1=a&D.Filter.1.Value.1=b",
		"C.HostAlias.1.Ip=a&C.HostAliase.1.Ip=a&C.Volume.0.ConfigFileVolume.ConfigFilePath.0.Mode=420",
		"S.B=True&S.F64=1e-05&S.F32=1.0E-5&S.I8=-128&S.U64=18446744073709551615&S.M.1.0=1&S.LPS.0.A=",
		"T.Child.1.Child.2.Next.Next.Child.0.Name=x&P.L.3.Sub.Deep.Z=1",
		"Container.x.Name=a&Container..Name=b&Container.0.=c&Container=d",
		"Cpu=NaN&Memory=0x1p3&RetainIp=yes&Container.99999999999999999999.Name=a",
		"C.Container.0.Cpu=&C.Container.1.Cpu=&C.Cpu=&C.Cpu=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		vals, _ := url.ParseQuery(q) // keeps what parsed before an error
		decodeChecked(t, vals)
	})
}

func FuzzFlattenJSON(f *testing.F) {
	for _, s := range []string{
		`{"Container":[{"Name":"a","Port":[{"Port":80}]}],"Cpu":1.0,"RetainIp":true}`,
		`{"C":{"Container":[null,{"Name":"b"}]},"D":{"Filter":[{"Name":"x","Value":["a","b"]}]}}`,
		`{"S":{"M":[[1,2],[3]],"F64":1e-05,"B":false},"T":{"Child":[{"Next":{"Name":"x"}}]}}`,
		`{"a":{"b":{"c":[[[{}]]]}}}`,
		`{"a":1,"a":2}`,
		`[1]`,
		`{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := FlattenJSON(body)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("non-request error %v", err)
			}
			return
		}
		// Not json.Unmarshal: it rejects numbers beyond float64, which we
		// pass through as text (testdata .../6e5b0bfa96febd9c).
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); !json.Valid(body) || trimmed[0] != '{' {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
		decodeChecked(t, vals)
	})
}
