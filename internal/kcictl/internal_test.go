package kcictl

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openkci/openkci/pkg/kci"
)

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// window is what DescribeContainerLog Tail=2000 answers for a log.
func window(log string) string {
	ls := strings.SplitAfter(log, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	if len(ls) > logWindow {
		ls = ls[len(ls)-logWindow:]
	}
	return strings.Join(ls, "")
}

func TestLogFollower(t *testing.T) {
	f := &logFollower{}
	var printed strings.Builder
	feed := func(log string) {
		printed.WriteString(strings.Join(f.update(window(log)), ""))
	}
	feed("")
	feed(lines(1, 3))
	feed(lines(1, 3))
	feed(lines(1, 5) + "partial")
	if got := printed.String(); got != lines(1, 5) {
		t.Fatalf("short log: %q", got)
	}
	feed(lines(1, 5) + "partial done\n")
	// Past the window: only the tail is returned by the API.
	feed(lines(1, 5) + "partial done\n" + lines(6, 900))
	feed(lines(1, 5) + "partial done\n" + lines(6, 1500))
	feed(lines(1, 5) + "partial done\n" + lines(6, 1700))
	feed(lines(1, 5) + "partial done\n" + lines(6, 1700))
	want := lines(1, 5) + "partial done\n" + lines(6, 1700)
	if printed.String() != want {
		t.Fatalf("long log: got %d bytes, want %d", printed.Len(), len(want))
	}
	// More than a window between two asks: what fell out of it is lost
	// (documented), the rest is printed once.
	feed(lines(1, 5) + "partial done\n" + lines(6, 4000))
	if want += lines(2001, 4000); printed.String() != want {
		t.Fatalf("a jump past the window: got %d bytes, want %d", printed.Len(), len(want))
	}

	// Identical lines while the whole log fits: counted exactly.
	f, printed = &logFollower{}, strings.Builder{}
	feed("tick\n")
	feed("tick\ntick\ntick\n")
	if printed.String() != "tick\ntick\ntick\n" {
		t.Fatalf("repeated lines: %q", printed.String())
	}
	// A log that was replaced (a new container) is all new.
	feed("fresh\n")
	if !strings.HasSuffix(printed.String(), "tick\nfresh\n") {
		t.Fatalf("replaced log: %q", printed.String())
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", -time.Second: "0s", 59 * time.Second: "59s", 119 * time.Second: "119s",
		2 * time.Minute: "2m", 3*time.Minute + 20*time.Second: "3m20s", 15 * time.Minute: "15m",
		5*time.Hour + 10*time.Minute: "5h10m", 5 * time.Hour: "5h", 30 * time.Hour: "30h",
		3*24*time.Hour + 4*time.Hour: "3d4h", 21 * 24 * time.Hour: "21d",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"sh", "-c", "echo 'hi'; exit 1", "", "a$b"})
	want := `sh -c 'echo '\''hi'\''; exit 1' '' 'a$b'`
	if got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}

func TestParseVolume(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		vol   kci.Volume
		mount kci.VolumeMount
	}{
		{"/data", kci.Volume{Name: "vol-1", Type: kci.VolumeEmptyDir}, kci.VolumeMount{Name: "vol-1", MountPath: "/data"}},
		{"/data:ro", kci.Volume{Name: "vol-1", Type: kci.VolumeEmptyDir}, kci.VolumeMount{Name: "vol-1", MountPath: "/data", ReadOnly: true}},
		{"cache:/var/cache:rw", kci.Volume{Name: "cache", Type: kci.VolumeEmptyDir}, kci.VolumeMount{Name: "cache", MountPath: "/var/cache"}},
		{"ebs:d-1:/db", kci.Volume{Name: "ebs-1", Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: "d-1", FsType: "ext4"}}, kci.VolumeMount{Name: "ebs-1", MountPath: "/db"}},
		{"ebs:d-1:/db:ro,fs=xfs", kci.Volume{Name: "ebs-1", Type: kci.VolumeEBS, EBSVolume: &kci.EBSVolume{VolumeID: "d-1", FsType: "xfs"}}, kci.VolumeMount{Name: "ebs-1", MountPath: "/db", ReadOnly: true}},
	} {
		vol, mount, err := parseVolume(tc.spec, 1)
		if err != nil || !reflect.DeepEqual(vol, tc.vol) || mount != tc.mount {
			t.Errorf("%s: %+v %+v %v", tc.spec, vol, mount, err)
		}
	}
	for _, bad := range []string{"data", "/", "a:b:c:d", "Bad_Name:/x", "/x:rx", "ebs:/x", "ebs::/x", "./missing-dir:/x", "/data:fs=xfs"} {
		if _, _, err := parseVolume(bad, 1); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
