package record

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
)

// TestSubnetNameServers: a subnet record keeps its name servers under
// dns1/dns2, omitted when empty, and one written before them (no keys)
// reads as a subnet without name servers.
func TestSubnetNameServers(t *testing.T) {
	created := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	sub := core.Subnet{ID: "s-1", Name: "a", VpcID: "v-1", CIDR: "10.0.1.0/24", Zone: "z", Gateway: "10.0.1.1",
		DNS1: "10.0.0.53", DNS2: "10.0.0.54", CreatedAt: created}
	b, err := json.Marshal(FromSubnet("acc", sub))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"accountId":"acc","subnet":{"id":"s-1","name":"a","vpcId":"v-1","cidr":"10.0.1.0/24","zone":"z","gateway":"10.0.1.1",` +
		`"dns1":"10.0.0.53","dns2":"10.0.0.54","createdAt":"2026-12-01T12:00:00Z"}}`
	if string(b) != want {
		t.Fatalf("record:\n%s\nwant\n%s", b, want)
	}
	var back NetworkDoc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.ToSubnet(); got != sub {
		t.Fatalf("round trip: %+v, want %+v", got, sub)
	}

	sub.DNS1, sub.DNS2 = "", ""
	if b, err = json.Marshal(FromSubnet("acc", sub)); err != nil {
		t.Fatal(err)
	}
	const before = `{"accountId":"acc","subnet":{"id":"s-1","name":"a","vpcId":"v-1","cidr":"10.0.1.0/24","zone":"z","gateway":"10.0.1.1","createdAt":"2026-12-01T12:00:00Z"}}`
	if string(b) != before {
		t.Fatalf("a subnet without name servers:\n%s\nwant the record of before\n%s", b, before)
	}
	var old NetworkDoc
	if err := json.Unmarshal([]byte(before), &old); err != nil {
		t.Fatal(err)
	}
	if got := old.ToSubnet(); got != sub {
		t.Fatalf("a record from before the name servers: %+v, want %+v", got, sub)
	}
}
