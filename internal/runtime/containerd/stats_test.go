package containerd

import (
	"bufio"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/core"
)

func TestParseNetDev(t *testing.T) {
	const header = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	tests := []struct {
		name    string
		in      string
		want    []core.InterfaceStats
		wantErr bool
	}{
		{"loopback is left out", header +
			"    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0\n" +
			"  eth0:    1296      16    1    2    0     0          0         0     1006      13    3    4    0     0       0          0\n",
			[]core.InterfaceStats{{Name: "eth0", RxBytes: 1296, RxPackets: 16, RxErrors: 1, RxDrops: 2, TxBytes: 1006, TxPackets: 13, TxErrors: 3, TxDrops: 4}}, false},
		{"no space after the colon", header +
			"eth0:18446744073709551615 1 0 0 0 0 0 0 2 3 0 0 0 0 0 0\n",
			[]core.InterfaceStats{{Name: "eth0", RxBytes: 18446744073709551615, RxPackets: 1, TxBytes: 2, TxPackets: 3}}, false},
		{"only loopback", header + "lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n", nil, false},
		{"garbage counter", header + "eth0: x 1 0 0 0 0 0 0 2 3 0 0 0 0 0 0\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetDev(bufio.NewScanner(strings.NewReader(tc.in)))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %+v, want %+v", got[i], tc.want[i])
				}
			}
		})
	}
}

func TestMemoryStatsWorkingSet(t *testing.T) {
	tests := []struct {
		usage, inactive, want uint64
	}{
		{100 << 20, 30 << 20, 70 << 20},
		{10, 20, 0}, // inactive file counted past usage: never below zero
		{0, 0, 0},
	}
	for _, tc := range tests {
		if got := memoryStats(tc.usage, 1, 2, tc.inactive); got.WorkingSet != tc.want || got.Usage != tc.usage || got.RSS != 1 || got.Cache != 2 {
			t.Errorf("memoryStats(%d, inactive %d) = %+v, want working set %d", tc.usage, tc.inactive, got, tc.want)
		}
	}
}
