package kube

import (
	"bytes"
	"testing"
)

// TestExecMarker: the wrapper's first stderr line is kept from the
// client, whatever the chunks it arrives in; anything else passes on.
func TestExecMarker(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 100)
	for _, tc := range []struct {
		name     string
		chunks   []string
		out      string
		pid      string
		notFound bool
	}{
		{"pid then output", []string{"kcid-exec-pid 42\nerr\n"}, "err\n", "42", false},
		{"pid in pieces", []string{"kcid-exec", "-pid 4", "2\n", "e", "rr"}, "err", "42", false},
		{"not found", []string{"kcid-exec-not-found\n"}, "", "", true},
		{"no marker passes on", []string{"sh: oops\nmore"}, "sh: oops\nmore", "", false},
		{"a bad pid is not one", []string{"kcid-exec-pid 1; reboot\n"}, "kcid-exec-pid 1; reboot\n", "", false},
		{"a long line without a newline passes on", []string{string(long), "y"}, string(long) + "y", "", false},
		{"nothing", nil, "", "", false},
		{"a short first line that never ends", []string{"oops"}, "oops", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			m := &execMarker{w: &out}
			for _, c := range tc.chunks {
				if n, err := m.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", c, n, err)
				}
			}
			m.flush()
			pid, notFound, seen := m.result()
			if out.String() != tc.out || pid != tc.pid || notFound != tc.notFound || seen != (tc.pid != "" || tc.notFound) {
				t.Errorf("out %q pid %q notFound %v seen %v; want %q %q %v", out.String(), pid, notFound, seen, tc.out, tc.pid, tc.notFound)
			}
		})
	}
}
