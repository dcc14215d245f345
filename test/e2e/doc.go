// Package e2e holds black-box end-to-end tests of the kcid binary: TestMain
// builds ./cmd/kcid once, and each test starts it as a subprocess on a free
// loopback port with a temporary --data-dir, a config file declaring a VPC,
// subnets and a security group, and a containerd namespace of its own, then
// drives it over real HTTP with requests signed by aws-sdk-go-v2's SigV4
// signer (POST form bodies, as the official Go SDK sends them). Groups
// really run, on containerd, runc and CNI, with images pulled from the
// htpasswd-protected registry of internal/testenv.
//
// A kcid removes, when it starts, everything in its containerd namespace
// that its data dir does not know: each test's kcid has its own namespace
// (kcie2e-<random>), so the tests run in parallel and never touch the groups
// of another kcid on the machine. When a test ends its groups are deleted
// and waited for, kcid is stopped, and its namespace, cgroup root and VPC
// isolation chain are removed.
//
// Subnets are 10.77.N.0/24, one per test, and each test's kcid is configured
// with its own subnet only (kcid refuses a subnet that overlaps a route it
// does not own). TestMain removes bridges in 10.77.0.0/16 that a kcid of an
// earlier run left when it died with its test; two runs of these tests at
// once on one machine would clash on them.
//
// Run as root, after .ci/install-deps.sh and hack/start-containerd.sh:
//
//	CI=true go test -race -count=1 ./test/e2e/
package e2e
