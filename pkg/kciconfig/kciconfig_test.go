package kciconfig

import (
	"reflect"
	"testing"
)

func TestParseConfig(t *testing.T) {
	cf, err := Parse("f", "# c\n; c\n[default]\nregion = r1\n[profile p]\nendpoint=http://x\n[q]\nregion = r2\n")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]map[string]string{
		"default": {"region": "r1"}, "p": {"endpoint": "http://x"}, "q": {"region": "r2"},
	} {
		if got, ok := cf.Profile(name); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("profile %s = %v", name, got)
		}
	}
	for _, bad := range []string{"region = r\n", "[default\n", "[default]\nregion\n"} {
		if _, err := Parse("f", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
