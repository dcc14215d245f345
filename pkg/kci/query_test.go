package kci

import (
	"net/url"
	"reflect"
	"testing"
)

func TestFlatten(t *testing.T) {
	type inner struct {
		A string `query:"A"`
		B *int   `query:"B"`
	}
	type req struct {
		Name    string   `query:"Name"`
		Empty   string   `query:"Empty"`
		Skipped string   `query:"-"`
		NoTag   string   // not sent
		List    []string `query:"List"`
		Nested  []inner  `query:"Item"`
		Ptr     *inner   `query:"Ptr"`
		NilPtr  *inner   `query:"NilPtr"`
		F       float64  `query:"F"`
		Small   float64  `query:"Small"`
		Flag    bool     `query:"Flag"`
		Off     bool     `query:"Off"`
		Zero    int      `query:"Zero"`
	}
	zero := 0
	got := Flatten(&req{
		Name: "n", Skipped: "x", NoTag: "y",
		List:   []string{"a", "", "c"},
		Nested: []inner{{A: "one"}, {B: &zero}},
		Ptr:    &inner{A: "p"},
		F:      1.5, Small: 0.00001, Flag: true,
	})
	want := url.Values{
		"Name":   {"n"},
		"List.1": {"a"}, "List.2": {""}, "List.3": {"c"},
		"Item.1.A": {"one"}, "Item.2.B": {"0"},
		"Ptr.A": {"p"},
		"F":     {"1.5"}, "Small": {"0.00001"},
		"Flag": {"true"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten:\n got %v\nwant %v", got, want)
	}
	if n := len(Flatten(nil)); n != 0 {
		t.Errorf("Flatten(nil) has %d values", n)
	}
	if n := len(Flatten((*req)(nil))); n != 0 {
		t.Errorf("Flatten(nil pointer) has %d values", n)
	}
}

func TestFlattenCreateRequest(t *testing.T) {
	r := &CreateContainerGroupRequest{
		ContainerGroupName: "web",
		SecurityGroupIDs:   []string{"sg-1", "sg-2"},
		CPU:                0.5,
		Containers: []Container{{
			InitContainer: InitContainer{
				Name: "c", Image: "nginx", Args: []string{"-g", "daemon off;"},
				EnvironmentVars: []EnvironmentVar{{Key: "K", Value: "V"}, {Key: "EMPTY"}},
				VolumeMounts:    []VolumeMount{{Name: "v", MountPath: "/v", ReadOnly: true}},
			},
			Ports: []Port{{Port: 80}},
		}},
		Volumes: []Volume{{Name: "v", Type: VolumeConfigFile, ConfigFileVolume: &ConfigFileVolume{
			Files: []ConfigFile{{Path: "a", Content: "aGk=", Mode: "0600"}},
		}}},
		HostAliases: []HostAlias{{IP: "10.0.0.1", Hostnames: []string{"db"}}},
		DryRun:      true,
	}
	want := url.Values{
		"ContainerGroupName": {"web"},
		"SecurityGroupId.1":  {"sg-1"}, "SecurityGroupId.2": {"sg-2"},
		"Cpu":                                                  {"0.5"},
		"Container.1.Name":                                     {"c"},
		"Container.1.Image":                                    {"nginx"},
		"Container.1.Arg.1":                                    {"-g"},
		"Container.1.Arg.2":                                    {"daemon off;"},
		"Container.1.EnvironmentVar.1.Key":                     {"K"},
		"Container.1.EnvironmentVar.1.Value":                   {"V"},
		"Container.1.EnvironmentVar.2.Key":                     {"EMPTY"},
		"Container.1.Port.1.Port":                              {"80"},
		"Container.1.VolumeMount.1.Name":                       {"v"},
		"Container.1.VolumeMount.1.MountPath":                  {"/v"},
		"Container.1.VolumeMount.1.ReadOnly":                   {"true"},
		"Volume.1.Name":                                        {"v"},
		"Volume.1.Type":                                        {"ConfigFileVolume"},
		"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Path":    {"a"},
		"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content": {"aGk="},
		"Volume.1.ConfigFileVolume.ConfigFileToPath.1.mode":    {"0600"},
		"HostAliase.1.Ip":                                      {"10.0.0.1"},
		"HostAliase.1.Hostname.1":                              {"db"},
		"DryRun":                                               {"true"},
	}
	if got := Flatten(r); !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten:\n got %v\nwant %v", got, want)
	}
}

func TestFlattenPanicsOnUnsupportedType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a map field")
		}
	}()
	Flatten(struct {
		M map[string]string `query:"M"`
	}{M: map[string]string{}})
}

// Types for TestFlattenEmbedded, as awsquery's TestDecodeEmbedded has
// them: the two must agree (internal/api's TestRequestsDecodeOnServer).
type (
	embBase struct {
		Name string `query:"Name"`
		Size int    `query:"Size"`
	}
	embDeep struct {
		embBase
		Kind string `query:"Kind"`
	}
	embOuter struct {
		embDeep
		Image string `query:"Image"`
		Size  string `query:"Size"` // hides embBase.Size
	}
	EmbBase   = embBase
	embTagged struct {
		EmbBase `query:"Base"`
		X       string `query:"X"`
	}
	embOther struct {
		Kind string `query:"Kind"`
	}
	embSide    struct{ embDeep }
	embTwoPath struct {
		embOther
		embSide
	}
)

func TestFlattenEmbedded(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  any
		want url.Values
	}{
		{"promoted two levels", embOuter{embDeep: embDeep{embBase: embBase{Name: "n"}, Kind: "k"}, Image: "i"},
			url.Values{"Name": {"n"}, "Kind": {"k"}, "Image": {"i"}}},
		{"a hidden field is not sent", embOuter{embDeep: embDeep{embBase: embBase{Size: 3}}},
			url.Values{}},
		{"the hiding field is sent", embOuter{embDeep: embDeep{embBase: embBase{Size: 3}}, Size: "big"},
			url.Values{"Size": {"big"}}},
		{"tagged embedded struct is a nested field", embTagged{EmbBase: EmbBase{Name: "n"}, X: "x"},
			url.Values{"Base.Name": {"n"}, "X": {"x"}}},
		{"in a list", struct {
			Item []embDeep `query:"Item"`
		}{Item: []embDeep{{embBase: embBase{Name: "a"}}, {Kind: "b"}}},
			url.Values{"Item.1.Name": {"a"}, "Item.2.Kind": {"b"}}},
		{"the shallower of two embedded paths wins", embTwoPath{embOther: embOther{Kind: "k"}, embSide: embSide{embDeep{embBase: embBase{Name: "n"}, Kind: "hidden"}}},
			url.Values{"Kind": {"k"}, "Name": {"n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Flatten(tc.src); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFlattenEmbeddedPanics(t *testing.T) {
	type clash struct {
		embDeep
		embOther // Kind at depth 1, as embDeep.Kind
	}
	type embeddedPtr struct {
		*embBase
	}
	for _, src := range []any{clash{}, embeddedPtr{embBase: &embBase{}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%T: Flatten did not panic", src)
				}
			}()
			Flatten(src)
		}()
	}
}
