// Package version owns the one version string that kcid and kcictl print
// and send (kcictl's User-Agent). `make build` stamps it with
//
//	-ldflags "-X github.com/openkci/openkci/internal/version.Version=$(git describe --always --dirty)"
//
// A plain `go build` leaves it "dev"; String then falls back to the VCS
// revision Go records in the binary, so no build is anonymous.
package version

import "runtime/debug"

// Version is set at build time; see the package comment.
var Version = "dev"

// String returns the stamped version, or "dev+<revision>[-dirty]" from the
// build info when none was stamped, or "dev".
func String() string {
	if Version != "dev" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	return fromBuildInfo(bi.Settings)
}

func fromBuildInfo(settings []debug.BuildSetting) string {
	var rev string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev+" + rev
}
