package e2e

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/testenv"
)

// kcidBin is the kcid binary TestMain built; buildErr says why there is none.
var (
	kcidBin  string
	buildErr error
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run is testenv.Main with the binary build before the tests.
func run(m *testing.M) int {
	flag.Parse()
	// The tests mostly wait on containers: run them all at once unless
	// -test.parallel says otherwise (its default is GOMAXPROCS).
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "16")
	}
	defer testenv.Cleanup()
	sweepStaleBridges()
	dir, err := os.MkdirTemp("", "openkci-e2e-bin-")
	if err != nil {
		buildErr = err
	} else {
		defer os.RemoveAll(dir)
		start := time.Now()
		kcidBin, buildErr = testenv.BuildKcid(dir)
		if buildErr == nil && testing.Verbose() {
			fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", kcidBin, time.Since(start).Round(time.Millisecond))
		}
	}
	return m.Run()
}

// sweepStaleBridges removes bridges that a kcid of an earlier run of these
// tests left behind when it died with its test (kcid tags its bridges with
// the alias kcid:<instance>). Their routes cover the e2e subnets, and kcid
// refuses to start over a route it does not own. Only bridges with that
// alias and an address in the e2e range are touched; two runs of this
// package at once on one machine are not supported (see doc.go).
func sweepStaleBridges() {
	_, e2eNet, _ := net.ParseCIDR(e2eCIDR)
	for _, br := range testenv.BridgesWithAlias(func(alias string) bool { return strings.HasPrefix(alias, "kcid:") }) {
		out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", br).Output()
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(out)) {
			if ip, _, err := net.ParseCIDR(f); err == nil && e2eNet.Contains(ip) {
				fmt.Fprintf(os.Stderr, "e2e: removing bridge %s (%s) left by an earlier run\n", br, f)
				_ = exec.Command("ip", "link", "delete", br).Run()
				break
			}
		}
	}
}
