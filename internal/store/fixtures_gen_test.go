package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/core/coretest"
)

// TestWriteV1Fixtures writes testdata/v1/state.db with this release's code
// (run once with OPENKCI_WRITE_FIXTURES=1; the upgrade test reads it).
func TestWriteV1Fixtures(t *testing.T) {
	if os.Getenv("OPENKCI_WRITE_FIXTURES") == "" {
		t.Skip("set OPENKCI_WRITE_FIXTURES=1 to write the fixtures")
	}
	dir := filepath.Join("testdata", "v1")
	os.RemoveAll(dir)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range coretest.Groups() {
		if err := s.CreateGroup(g); err != nil {
			t.Fatal(err)
		}
	}
	gen := struct{ AccessKeyID, SecretAccessKey string }{"AKLTfixtureFixture0000", "fixture-secret-0123456789abcdefghijklmnop"}
	if err := s.PutSetting("generated-key", gen); err != nil {
		t.Fatal(err)
	}
	dn := struct {
		VPC    core.VPC
		Subnet core.Subnet
		SG     core.SecurityGroup
	}{
		VPC:    core.VPC{ID: "vpc-1", Name: "default", AccountID: "2000000001", Region: "cn-beijing-6", CIDR: "10.88.0.0/16", IsDefault: true, CreatedAt: coretest.Created},
		Subnet: core.Subnet{ID: "subnet-1", Name: "default", VpcID: "vpc-1", CIDR: "10.88.0.0/20", Zone: "cn-beijing-6a", Gateway: "10.88.0.1", CreatedAt: coretest.Created},
		SG:     core.SecurityGroup{ID: "sg-1", Name: "default", VpcID: "vpc-1", CreatedAt: coretest.Created},
	}
	if err := s.PutSetting("default-network/2000000001", dn); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
