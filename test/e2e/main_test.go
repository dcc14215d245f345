package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
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

// instanceAlive reports whether the kcid of instance id still runs: its
// host lock file (/run/kcid/instance-ID.lock, docs/host.md) names a live
// process. The lock itself is not tried, so that a kcid starting at that
// moment never finds it taken.
func instanceAlive(id string) bool {
	b, err := os.ReadFile("/run/kcid/instance-" + id + ".lock")
	if err != nil {
		return false
	}
	var holder struct {
		PID int `json:"pid"`
	}
	if json.Unmarshal(b, &holder) != nil || holder.PID <= 0 {
		return false
	}
	return syscall.Kill(holder.PID, 0) == nil
}

// sweepStaleBridges removes bridges that a kcid of an earlier run of these
// tests left behind when it died with its test (kcid tags its bridges with
// the alias kcid:<instance>). Their routes cover the e2e subnets, and kcid
// refuses to start over a route it does not own. Only bridges with that
// alias and an address in the e2e range are touched, and never those of a
// kcid that still runs (another run's: a run of TestVirtualKubelet from
// hack/k8s-e2e/test.sh beside one of the whole package); two runs of the
// same tests at once on one machine clash on their subnets (see doc.go).
func sweepStaleBridges() {
	_, e2eNet, _ := net.ParseCIDR(e2eCIDR)
	_, apiNet, _ := net.ParseCIDR(e2eAPICIDR)
	stale := func(alias string) bool {
		id, ok := strings.CutPrefix(alias, "kcid:")
		return ok && !instanceAlive(id)
	}
	for _, br := range testenv.BridgesWithAlias(stale) {
		out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", br).Output()
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(out)) {
			if ip, _, err := net.ParseCIDR(f); err == nil && (e2eNet.Contains(ip) || apiNet.Contains(ip)) {
				fmt.Fprintf(os.Stderr, "e2e: removing bridge %s (%s) left by an earlier run, and its masquerade\n", br, f)
				_ = exec.Command("ip", "link", "delete", br).Run()
				testenv.RemoveBridgeMasquerade(br)
				break
			}
		}
	}
}
