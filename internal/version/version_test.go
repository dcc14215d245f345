package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"no vcs", nil, "dev"},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "beff3c5a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "false"}}, "dev+beff3c5a1b2c"},
		{"dirty", []debug.BuildSetting{{Key: "vcs.revision", Value: "beff3c5"}, {Key: "vcs.modified", Value: "true"}}, "dev+beff3c5-dirty"},
	}
	for _, tc := range tests {
		if got := fromBuildInfo(tc.settings); got != tc.want {
			t.Errorf("%s: fromBuildInfo = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStampedWins(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v1.2.3"
	if got := String(); got != "v1.2.3" {
		t.Fatalf("String() = %q with a stamped version", got)
	}
}
