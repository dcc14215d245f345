package awsquery

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestDecodeWireExample(t *testing.T) {
	var got createRequest
	if err := Decode(mustParseQuery(t, wireExampleBody()), &got); err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, wireExampleWant())
}

// SEED's example URL (kci-api.md §2.1) uses 1-based indices.
func TestDecodeSeedOneBased(t *testing.T) {
	q := "Action=CreateContainerGroup&SecurityGroupId.1=sg-1&Container.1.Name=nginx-container" +
		"&Container.1.Port.1.Port=80&Container.1.Port.1.Protocol=TCP&Cpu=1&Memory=2"
	var got createRequest
	if err := Decode(mustParseQuery(t, q), &got); err != nil {
		t.Fatal(err)
	}
	want := createRequest{
		SecurityGroupId: []string{"sg-1"},
		Cpu:             ptr(1.0),
		Memory:          ptr(2.0),
		Container: []container{{
			initContainer: initContainer{At: "Container.1.", Name: "nginx-container"},
			Port:          []port{{At: "Container.1.Port.1.", Port: ptr(80), Protocol: "TCP"}},
		}},
	}
	assertEqual(t, got, want)
}

func TestDecodeOrdering(t *testing.T) {
	q := url.Values{
		"Container.10.Name":         {"c10"},
		"Container.2.Name":          {"c2"},
		"Container.100.Name":        {"c100"},
		"Container.0.Name":          {"c0"},
		"Container.2.Command.10":    {"x10"},
		"Container.2.Command.9":     {"x9"},
		"Container.2.Command.00011": {"x11"},
		"SecurityGroupId.7":         {"sg7"},
		"SecurityGroupId.3":         {"sg3"},
	}
	var got createRequest
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	var names, ats []string
	for _, c := range got.Container {
		names = append(names, c.Name)
		ats = append(ats, string(c.At))
	}
	assertEqual(t, names, []string{"c0", "c2", "c10", "c100"})
	assertEqual(t, ats, []string{"Container.0.", "Container.2.", "Container.10.", "Container.100."})
	assertEqual(t, got.Container[1].Command, []string{"x9", "x10", "x11"})
	assertEqual(t, got.SecurityGroupId, []string{"sg3", "sg7"})
}

func TestDecodeLeadingZerosSameElement(t *testing.T) {
	q := url.Values{
		"Container.01.Image": {"nginx"},
		"Container.1.Name":   {"app"},
		"Container.001.Name": {"app"}, // same value again: accepted
	}
	var got createRequest
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	// The spelling seen first in key order is the one reported.
	want := []container{{initContainer: initContainer{At: "Container.001.", Name: "app", Image: "nginx"}}}
	assertEqual(t, got.Container, want)
}

func TestDecodeFilters(t *testing.T) {
	q := "Action=DescribeContainerGroup&Filter.1.Name=status&Filter.1.Value.1=Running" +
		"&Filter.1.Value.3=Failed&Filter.2.Name=subnet-id&Filter.2.Value.1=s-1" +
		"&Filter.100.Name=vpc-id&Filter.100.Value.100=v&ProjectId.0=7&ProjectId.1=-1" +
		"&ContainerGroupId.1=a&ContainerGroupId.2=b&MaxResults=50&Marker=0"
	var got describeRequest
	if err := Decode(mustParseQuery(t, q), &got); err != nil {
		t.Fatal(err)
	}
	want := describeRequest{
		ContainerGroupId: []string{"a", "b"},
		MaxResults:       ptr(50),
		Marker:           ptr(0),
		ProjectId:        []int64{7, -1},
		Filter: []filter{
			{At: "Filter.1.", Name: "status", Value: []string{"Running", "Failed"}},
			{At: "Filter.2.", Name: "subnet-id", Value: []string{"s-1"}},
			{At: "Filter.100.", Name: "vpc-id", Value: []string{"v"}},
		},
	}
	assertEqual(t, got, want)
}

func TestDecodeAlternativeSpellings(t *testing.T) {
	q := "HostAlias.1.Ip=10.0.0.1&HostAlias.1.Hostname.1=a&HostAliase.2.Ip=10.0.0.2" +
		"&Volume.1.ConfigFileVolume.ConfigFilePath.1.Path=a.conf" +
		"&Volume.1.ConfigFileVolume.ConfigFilePath.1.Mode=420" +
		"&Volume.1.ConfigFileVolume.ConfigFileToPath.2.Path=b.conf" +
		"&Volume.1.ConfigFileVolume.ConfigFileToPath.2.mode=256" +
		"&MachineHostAlias.0.Ip=1.1.1.1"
	var got createRequest
	if err := Decode(mustParseQuery(t, q), &got); err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got.HostAliase, []hostAlias{
		{At: "HostAlias.1.", Ip: "10.0.0.1", Hostname: []string{"a"}},
		{At: "HostAliase.2.", Ip: "10.0.0.2"},
	})
	assertEqual(t, got.Volume[0].ConfigFileVolume.ConfigFileToPath, []configFilePath{
		{At: "Volume.1.ConfigFileVolume.ConfigFilePath.1.", Path: "a.conf", Mode: ptr(420)},
		{At: "Volume.1.ConfigFileVolume.ConfigFileToPath.2.", Path: "b.conf", Mode: ptr(256)},
	})
	assertEqual(t, got.MachineHostAliase, []hostAlias{{At: "MachineHostAlias.0.", Ip: "1.1.1.1"}})
}

func TestDecodeBools(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"true", true}, {"True", true}, {"TRUE", true}, {"tRuE", true}, {"1", true}, {"t", true}, {"T", true},
		{"false", false}, {"False", false}, {"FALSE", false}, {"fAlSe", false}, {"0", false}, {"f", false}, {"F", false},
	} {
		var got createRequest
		if err := Decode(url.Values{"RetainIp": {tc.in}}, &got); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.RetainIp == nil || *got.RetainIp != tc.want {
			t.Errorf("%q: got %v, want %v", tc.in, got.RetainIp, tc.want)
		}
	}
}

func TestDecodeFloats(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"1", 1}, {"1.0", 1}, {"0.5", 0.5}, {"2.500", 2.5}, {"1e-05", 1e-5}, {"1.0E-5", 1e-5},
		{"1E+2", 100}, {"-2.5", -2.5}, {"+3", 3}, {".5", 0.5}, {"5.", 5}, {"1e-400", 0},
	} {
		var got createRequest
		if err := Decode(url.Values{"Container.0.Cpu": {tc.in}}, &got); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if c := got.Container; len(c) != 1 || c[0].Cpu == nil || *c[0].Cpu != tc.want {
			t.Errorf("%q: got %s, want %v", tc.in, show(c), tc.want)
		}
	}
}

func TestDecodeEmptyValues(t *testing.T) {
	q := url.Values{
		"Cpu":                        {""},      // absent
		"Memory":                     {"", "2"}, // the non-empty value wins
		"RetainIp":                   {""},      // absent
		"ContainerGroupName":         {""},      // strings are present even when empty
		"SecurityGroupId.0":          {""},      // an empty string inside a list is an element
		"ProjectId":                  {""},      // absent
		"Container.0.Cpu":            {""},      // absent: creates no container
		"DataDisk.0.Size":            {""},      // likewise
		"AdvanceSettings.DataDiskGb": {""},      // likewise: pointer stays nil
	}
	var got createRequest
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	want := createRequest{Memory: ptr(2.0), SecurityGroupId: []string{""}}
	assertEqual(t, got, want)
}

func TestDecodeIgnoresUnknown(t *testing.T) {
	q := url.Values{
		"Action": {"CreateContainerGroup"}, "Version": {"2020-07-02"}, "Service": {"kci"},
		"SdkVersion": {"SDK_PYTHON_1"}, "Accesskey": {"AK"}, "X-Amz-Date": {"20200101T000000Z"},
		"Language": {"zh-CN"}, "": {"x"}, ".Container": {"x"}, "Foo..Bar": {"x"}, "foo.0.x": {"1", "2"},
		"containergroupname":        {"case matters"},
		"Container.0.Unknown":       {"1"}, // a field we do not model: no element created
		"Container.1.Future.Thing":  {"1"},
		"Container.2.Name":          {"app"},
		"Container.2.Port.0.Weird":  {"x"},
		"DnsConfig.Unknown.0.Field": {"x"}, // ignored keys create nothing, so DnsConfig stays nil
	}
	var got createRequest
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	want := createRequest{
		Container: []container{{initContainer: initContainer{At: "Container.2.", Name: "app"}}},
	}
	assertEqual(t, got, want)
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dst   any
		q     string
		kind  ErrorKind
		param string
	}{
		{"non-numeric index", &createRequest{}, "Container.x.Name=a", Malformed, "Container.x.Name"},
		{"empty index", &createRequest{}, "Container..Name=a", Malformed, "Container..Name"},
		{"no index", &createRequest{}, "Container.Name=a", Malformed, "Container.Name"},
		{"bare list", &createRequest{}, "SecurityGroupId=sg-1", Malformed, "SecurityGroupId"},
		{"bare struct list", &createRequest{}, "Container=a", Malformed, "Container"},
		{"negative index", &createRequest{}, "Container.-1.Name=a", Malformed, "Container.-1.Name"},
		{"signed index", &createRequest{}, "Container.%2B1.Name=a", Malformed, "Container.+1.Name"},
		{"exponent index", &createRequest{}, "Container.1e3.Name=a", Malformed, "Container.1e3.Name"},
		{"space index", &createRequest{}, "Container.%201.Name=a", Malformed, "Container. 1.Name"},
		{"unicode digit", &createRequest{}, "Container.%EF%BC%91.Name=a", Malformed, "Container.１.Name"},
		{"trailing dot", &createRequest{}, "Container.0.=a", Malformed, "Container.0."},
		{"element without field", &createRequest{}, "Container.0=a", Malformed, "Container.0"},
		{"nested empty", &createRequest{}, "Container.0..Name=a", Malformed, "Container.0..Name"},
		{"struct without field", &createRequest{}, "DnsConfig=a", Malformed, "DnsConfig"},
		{"struct empty field", &createRequest{}, "DnsConfig.=a", Malformed, "DnsConfig."},
		{"sub-key of scalar", &createRequest{}, "ContainerGroupName.x=a", Malformed, "ContainerGroupName.x"},
		{"sub-key of scalar list", &createRequest{}, "SecurityGroupId.0.x=a", Malformed, "SecurityGroupId.0.x"},
		{"scalar list trailing dot", &createRequest{}, "SecurityGroupId.0.=a", Malformed, "SecurityGroupId.0."},
		{"struct list element as scalar", &createRequest{}, "Container.0.Port.1=80", Malformed, "Container.0.Port.1"},
		{"nested no index", &createRequest{}, "Container.0.Port.Port=80", Malformed, "Container.0.Port.Port"},
		{"huge index", &createRequest{}, "Container.99999999999999999999999.Name=a", IndexOutOfRange, "Container.99999999999999999999999.Name"},
		{"default max", &createRequest{}, "Container.1001.Name=a", IndexOutOfRange, "Container.1001.Name"},
		{"nested default max", &createRequest{}, "Container.0.Port.1001.Port=1", IndexOutOfRange, "Container.0.Port.1001.Port"},
		{"tag max", &describeRequest{}, "Filter.101.Name=a", IndexOutOfRange, "Filter.101.Name"},
		{"nested tag max", &describeRequest{}, "Filter.1.Value.101=a", IndexOutOfRange, "Filter.1.Value.101"},
		{"bad float", &createRequest{}, "Container.0.Cpu=abc", InvalidValue, "Container.0.Cpu"},
		{"NaN", &createRequest{}, "Cpu=NaN", InvalidValue, "Cpu"},
		{"Inf", &createRequest{}, "Cpu=Inf", InvalidValue, "Cpu"},
		{"-Infinity", &createRequest{}, "Memory=-Infinity", InvalidValue, "Memory"},
		{"hex float", &createRequest{}, "Cpu=0x1p3", InvalidValue, "Cpu"},
		{"underscore float", &createRequest{}, "Cpu=1_0", InvalidValue, "Cpu"},
		{"overflow float", &createRequest{}, "Cpu=1e400", InvalidValue, "Cpu"},
		{"float space", &createRequest{}, "Cpu=+1+", InvalidValue, "Cpu"},
		{"float plus", &createRequest{}, "Cpu=%2B1%2B", InvalidValue, "Cpu"},
		{"bad bool", &createRequest{}, "RetainIp=yes", InvalidValue, "RetainIp"},
		{"nested bad bool", &createRequest{}, "Container.3.VolumeMount.02.ReadOnly=on", InvalidValue, "Container.3.VolumeMount.02.ReadOnly"},
		{"float for int", &createRequest{}, "RetainIpHours=1.0", InvalidValue, "RetainIpHours"},
		{"int overflow", &createRequest{}, "RetainIpHours=99999999999999999999", InvalidValue, "RetainIpHours"},
		{"int list", &describeRequest{}, "ProjectId.0=abc", InvalidValue, "ProjectId.0"},
		{"repeated key", &createRequest{}, "Cpu=1&Cpu=2", Duplicate, "Cpu"},
		{"repeated filter value", &describeRequest{}, "Filter.1.Name=status&Filter.1.Value.1=a&Filter.1.Value.1=b", Duplicate, "Filter.1.Value.1"},
		{"same element two spellings", &createRequest{}, "Container.1.Port.1.Port=80&Container.01.Port.1.Port=81", Duplicate, "Container.1.Port.1.Port"},
		{"alias conflict", &createRequest{}, "HostAlias.1.Ip=a&HostAliase.1.Ip=b", Duplicate, "HostAliase.1.Ip"},
		{"mode alias conflict", &createRequest{}, "Volume.0.ConfigFileVolume.ConfigFileToPath.0.mode=1&Volume.0.ConfigFileVolume.ConfigFilePath.0.Mode=2", Duplicate, "Volume.0.ConfigFileVolume.ConfigFileToPath.0.mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Decode(mustParseQuery(t, tc.q), tc.dst)
			if err == nil {
				t.Fatalf("no error; decoded %s", show(tc.dst))
			}
			qe := asError(t, err)
			if qe.Kind != tc.kind || qe.Param != tc.param {
				t.Errorf("got %v / %q, want %v / %q (%v)", qe.Kind, qe.Param, tc.kind, tc.param, err)
			}
			if qe.Reason == "" {
				t.Errorf("empty Reason: %v", err)
			}
		})
	}
}

func TestDecodeAcceptsBounds(t *testing.T) {
	var c createRequest
	if err := Decode(url.Values{"Container.1000.Name": {"a"}, "Container.0.Port.0001000.Port": {"1"}}, &c); err != nil {
		t.Fatal(err)
	}
	var d describeRequest
	if err := Decode(url.Values{"Filter.100.Value.100": {"a"}, "Filter.0.Value.0": {"b"}}, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Filter) != 2 || d.Filter[1].Value[0] != "a" {
		t.Errorf("got %s", show(d))
	}
}

func TestDecodeRepeatedIdenticalValues(t *testing.T) {
	// A client merging query string and body sends some keys twice.
	q := url.Values{
		"Cpu":               {"1", "1"},
		"Container.0.Name":  {"a", "a"},
		"Container.00.Name": {"a"},
		"HostAlias.0.Ip":    {"1.2.3.4"},
		"HostAliase.0.Ip":   {"1.2.3.4"},
	}
	var got createRequest
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	if *got.Cpu != 1 || len(got.Container) != 1 || len(got.HostAliase) != 1 {
		t.Errorf("got %s", show(got))
	}
}

func TestDecodeTooManyElements(t *testing.T) {
	q := url.Values{}
	for n := 0; n <= 10; n++ {
		for m := 0; m <= 1000; m++ {
			q[fmt.Sprintf("Container.%d.Command.%d", n, m)] = []string{"x"}
		}
	}
	var got createRequest
	qe := asError(t, Decode(q, &got))
	if qe.Kind != TooLarge || !strings.HasPrefix(qe.Param, "Container.") {
		t.Errorf("got %v", qe)
	}
	if got.Container != nil {
		t.Error("dst modified on error")
	}
}

func TestDecodeLeavesDstOnError(t *testing.T) {
	dst := createRequest{RestartPolicy: "Always", Cpu: ptr(4.0)}
	before := dst
	err := Decode(url.Values{"ContainerGroupName": {"g"}, "Container.0.Name": {"a"}, "Container.x.Name": {"b"}}, &dst)
	if err == nil {
		t.Fatal("no error")
	}
	assertEqual(t, dst, before)
}

func TestDecodeMergesIntoDefaults(t *testing.T) {
	dst := createRequest{
		RestartPolicy:   "Always",
		SecurityGroupId: []string{"old"},
		AdvanceSettings: &advanceSettings{ImageId: "img"},
	}
	q := url.Values{"SecurityGroupId.1": {"new"}, "AdvanceSettings.SystemDisk.Type": {"SSD3.0"}}
	if err := Decode(q, &dst); err != nil {
		t.Fatal(err)
	}
	want := createRequest{
		RestartPolicy:   "Always",
		SecurityGroupId: []string{"new"}, // a list present on the wire replaces the old one
		AdvanceSettings: &advanceSettings{ImageId: "img", SystemDisk: &systemDisk{Type: "SSD3.0"}},
	}
	assertEqual(t, dst, want)
}

type prefixOuter struct {
	At    Prefix
	Inner prefixInner  `query:"Inner"`
	List  []prefixElem `query:"L,List"`
	Name  string       `query:"Name"`
}

type prefixElem struct {
	At  Prefix
	Sub prefixInner `query:"Sub"`
	Y   string      `query:"Y"`
}

type prefixInner struct {
	At    Prefix
	Again Prefix // several Prefix fields are all filled
	X     string `query:"X"`
	Deep  struct {
		At Prefix
		Z  int `query:"Z"`
	} `query:"Deep"`
}

func TestDecodePrefixes(t *testing.T) {
	q := url.Values{"L.5.Sub.X": {"1"}, "List.7.Y": {"2"}, "Name": {"n"}}
	got := prefixOuter{At: "stale"}
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	check := func(what string, p Prefix, want string) {
		t.Helper()
		if string(p) != want {
			t.Errorf("%s: got %q, want %q", what, p, want)
		}
	}
	check("top", got.At, "")
	check("absent value struct", got.Inner.At, "Inner.")
	check("absent value struct, second field", got.Inner.Again, "Inner.")
	check("absent nested value struct", got.Inner.Deep.At, "Inner.Deep.")
	check("element", got.List[0].At, "L.5.")
	check("present sub", got.List[0].Sub.At, "L.5.Sub.")
	check("present sub, deep", got.List[0].Sub.Deep.At, "L.5.Sub.Deep.")
	check("element 2", got.List[1].At, "List.7.")
	check("absent sub of element", got.List[1].Sub.At, "List.7.Sub.")
	// Typical use: naming a missing parameter.
	if msg := string(got.List[1].Sub.At) + "X"; msg != "List.7.Sub.X" {
		t.Errorf("message key %q", msg)
	}
}

type tree struct {
	At    Prefix
	Name  string `query:"Name"`
	Child []tree `query:"Child"`
	Next  *tree  `query:"Next"`
}

func TestDecodeRecursiveType(t *testing.T) {
	q := url.Values{
		"Name":                   {"root"},
		"Child.1.Name":           {"a"},
		"Child.1.Child.0.Name":   {"a0"},
		"Child.2.Next.Next.Name": {"deep"},
	}
	var got tree
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	want := tree{Name: "root", Child: []tree{
		{At: "Child.1.", Name: "a", Child: []tree{{At: "Child.1.Child.0.", Name: "a0"}}},
		{At: "Child.2.", Next: &tree{At: "Child.2.Next.", Next: &tree{At: "Child.2.Next.Next.", Name: "deep"}}},
	}}
	assertEqual(t, got, want)
}

type allScalars struct {
	S   string   `query:"S"`
	B   bool     `query:"B"`
	I   int      `query:"I"`
	I8  int8     `query:"I8"`
	I16 int16    `query:"I16"`
	I32 int32    `query:"I32"`
	I64 int64    `query:"I64"`
	U   uint     `query:"U"`
	U8  uint8    `query:"U8"`
	U64 uint64   `query:"U64"`
	F32 float32  `query:"F32"`
	F64 float64  `query:"F64"`
	PS  *string  `query:"PS"`
	PB  *bool    `query:"PB"`
	PI  *int     `query:"PI"`
	PF  *float64 `query:"PF"`
	Mat [][]int  `query:"M"`
	LP  []*int   `query:"LP"`
	LPS []*struct {
		A string `query:"A"`
	} `query:"LPS"`
	Named namedString `query:"Named"`
}

type namedString string

func TestDecodeAllScalarKinds(t *testing.T) {
	q := url.Values{
		"S": {"s"}, "B": {"True"}, "I": {"-1"}, "I8": {"127"}, "I16": {"-32768"}, "I32": {"7"},
		"I64": {"9223372036854775807"}, "U": {"1"}, "U8": {"255"}, "U64": {"18446744073709551615"},
		"F32": {"0.5"}, "F64": {"1e-05"}, "PS": {""}, "PB": {"0"}, "PI": {"0"}, "PF": {"0"},
		"M.1.1": {"11"}, "M.1.0": {"10"}, "M.0.5": {"5"}, "LP.3": {"3"}, "LPS.2.A": {"a"}, "Named": {"n"},
	}
	var got allScalars
	if err := Decode(q, &got); err != nil {
		t.Fatal(err)
	}
	want := allScalars{
		S: "s", B: true, I: -1, I8: 127, I16: -32768, I32: 7, I64: 1<<63 - 1, U: 1, U8: 255, U64: 1<<64 - 1,
		F32: 0.5, F64: 1e-5, PS: ptr(""), PB: ptr(false), PI: ptr(0), PF: ptr(0.0),
		Mat: [][]int{{5}, {10, 11}}, LP: []*int{ptr(3)}, LPS: []*struct {
			A string `query:"A"`
		}{{A: "a"}}, Named: "n",
	}
	assertEqual(t, got, want)

	for _, bad := range []url.Values{{"I8": {"128"}}, {"U8": {"256"}}, {"U": {"-1"}}, {"F32": {"1e39"}}, {"M.0": {"1"}}} {
		if err := Decode(bad, &got); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestDecodeProgrammerErrors(t *testing.T) {
	type unexported struct {
		a string `query:"A"`
	}
	type dupName struct {
		A string `query:"A"`
		B string `query:"B,A"`
	}
	type badTags struct {
		A string `query:"A.B"`
	}
	type badMax struct {
		A []string `query:"A,max=x"`
	}
	type maxOnScalar struct {
		A string `query:"A,max=3"`
	}
	type unknownOpt struct {
		A []string `query:"A,min=3"`
	}
	type onlyOpts struct {
		A []string `query:"max=3"`
	}
	type mapField struct {
		A map[string]string `query:"A"`
	}
	type ptrSlice struct {
		A *[]string `query:"A"`
	}
	type ptrPtr struct {
		A **string `query:"A"`
	}
	type prefixList struct {
		A []Prefix `query:"A"`
	}
	type nestedBad struct {
		A []struct {
			C chan int `query:"C"`
		} `query:"A"`
	}
	_ = unexported{a: ""}
	for _, dst := range []any{
		nil, createRequest{}, (*createRequest)(nil), new(int), new([]string),
		&unexported{}, &dupName{}, &badTags{}, &badMax{}, &maxOnScalar{}, &unknownOpt{}, &onlyOpts{},
		&mapField{}, &ptrSlice{}, &ptrPtr{}, &prefixList{}, &nestedBad{},
	} {
		err := Decode(url.Values{"A": {"1"}}, dst)
		if err == nil {
			t.Errorf("%T: no error", dst)
			continue
		}
		if _, ok := err.(*Error); ok {
			t.Errorf("%T: programmer error reported as request error: %v", dst, err)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Kind: InvalidValue, Param: "Container.0.Cpu", Value: "abc", Reason: "not a number"}
	want := `awsquery: InvalidValue parameter "Container.0.Cpu" value "abc": not a number`
	if e.Error() != want {
		t.Errorf("got %s", e.Error())
	}
	long := &Error{Kind: Malformed, Param: strings.Repeat("x", 10000)}
	if n := len(long.Error()); n > 300 {
		t.Errorf("unclipped message of %d bytes", n)
	}
	if ErrorKind(99).String() != "ErrorKind(99)" || Duplicate.String() != "Duplicate" {
		t.Error("kind names")
	}
}

func TestDecodeConcurrentFirstUse(t *testing.T) {
	// A type decoded for the first time by many goroutines at once: the
	// cache must stay consistent (run with -race).
	type fresh struct {
		A []struct {
			B string `query:"B"`
		} `query:"A"`
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v fresh
			if err := Decode(url.Values{"A." + strconv.Itoa(i) + ".B": {"x"}}, &v); err != nil || len(v.A) != 1 {
				t.Errorf("goroutine %d: %v %v", i, err, v)
			}
		}()
	}
	wg.Wait()
}

// TestDecodeTypeCached checks the reflection work is done once per type.
func TestDecodeTypeCached(t *testing.T) {
	a, err := structInfoOf(reflect.TypeFor[createRequest]())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := structInfoOf(reflect.TypeFor[createRequest]())
	if a != b {
		t.Error("structInfo rebuilt")
	}
}

func TestDecodeDepthBound(t *testing.T) {
	ok := strings.Repeat("Next.", MaxDepth-1) + "Name"
	var got tree
	if err := Decode(url.Values{ok: {"x"}}, &got); err != nil {
		t.Fatalf("depth %d rejected: %v", MaxDepth, err)
	}
	deep := strings.Repeat("Next.", MaxDepth) + "Name"
	qe := asError(t, Decode(url.Values{deep: {"x"}}, &got))
	if qe.Kind != TooLarge || qe.Param != deep {
		t.Errorf("got %v", qe)
	}
}

// Types for TestDecodeEmbedded: fields of structs embedded without a tag
// are on the wire as the embedding struct's own, as encoding/json
// promotes them.
type (
	embBase struct {
		At   Prefix
		Name string `query:"Name"`
		Size *int   `query:"Size"`
	}
	embDeep struct {
		embBase
		Kind string `query:"Kind"`
	}
	embOuter struct {
		embDeep
		Image string `query:"Image"`
		// Size hides embBase.Size, two levels down.
		Size string `query:"Size"`
	}
	// EmbBase is exported: a tag makes an embedded struct an ordinary
	// field, and a tagged field must be exported.
	EmbBase   = embBase
	embTagged struct {
		EmbBase `query:"Base"`
		X       string `query:"X"`
	}
	embInList struct {
		Item []embDeep `query:"Item"`
	}
	embAbsent struct {
		Sub embDeep `query:"Sub"`
	}
	// embOther and embSide are two structs of one depth: embSide.Kind is
	// one level deeper than embOther.Kind, which wins.
	embOther struct {
		Kind string `query:"Kind"`
	}
	embSide struct {
		embDeep
	}
	embTwoPaths struct {
		embOther
		embSide
	}
)

func TestDecodeEmbedded(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   url.Values
		dst  any // a pointer to a zero value
		want any
	}{
		{"promoted two levels", url.Values{"Name": {"n"}, "Kind": {"k"}, "Image": {"i"}},
			&embOuter{}, &embOuter{embDeep: embDeep{embBase: embBase{Name: "n"}, Kind: "k"}, Image: "i"}},
		{"shallower field hides a promoted one", url.Values{"Size": {"big"}},
			&embOuter{}, &embOuter{Size: "big"}},
		{"tagged embedded struct is a nested field", url.Values{"Base.Name": {"n"}, "Name": {"ignored"}, "X": {"x"}},
			&embTagged{}, &embTagged{EmbBase: EmbBase{At: "Base.", Name: "n"}, X: "x"}},
		{"prefix of an embedded struct in a list element", url.Values{"Item.3.Name": {"a"}, "Item.3.Size": {"4"}},
			&embInList{}, &embInList{Item: []embDeep{{embBase: embBase{At: "Item.3.", Name: "a", Size: ptr(4)}}}}},
		{"prefix of an embedded struct in an absent value struct", url.Values{},
			&embAbsent{}, &embAbsent{Sub: embDeep{embBase: embBase{At: "Sub."}}}},
		{"the shallower of two embedded paths wins", url.Values{"Kind": {"k"}, "Name": {"n"}},
			&embTwoPaths{}, &embTwoPaths{embOther: embOther{Kind: "k"}, embSide: embSide{embDeep{embBase: embBase{Name: "n"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Decode(tc.in, tc.dst); err != nil {
				t.Fatal(err)
			}
			assertEqual(t, tc.dst, tc.want)
		})
	}
}

func TestDecodeEmbeddedErrors(t *testing.T) {
	type clash struct {
		embDeep
		embOther // Kind at depth 1, as embDeep.Kind
	}
	type embeddedPtr struct {
		*embBase
	}
	type badPromoted struct {
		embBad
	}
	for _, dst := range []any{&clash{}, &embeddedPtr{}, &badPromoted{}} {
		err := Decode(url.Values{"Name": {"1"}}, dst)
		if err == nil {
			t.Errorf("%T: no error", dst)
			continue
		}
		if _, ok := err.(*Error); ok {
			t.Errorf("%T: programmer error reported as request error: %v", dst, err)
		}
	}
}

type embBad struct {
	A map[string]string `query:"A"`
}
