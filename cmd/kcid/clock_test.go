package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestClockOffsetFile(t *testing.T) {
	tests := []struct {
		content string
		want    time.Duration
		wantErr bool
	}{
		{"1h", time.Hour, false},
		{"-1h\n", -time.Hour, false},
		{" 0s ", 0, false},
		{"", 0, true},
		{"an hour", 0, true},
		{"3600", 0, true}, // a bare number has no unit
	}
	for _, tt := range tests {
		t.Run(tt.content, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "offset")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv(clockOffsetEnv, path)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			now, err := newClock(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("newClock with %q: no error", tt.content)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Compare wall clocks rounded to the second: the two reads are
			// microseconds apart.
			got := now.Now().Sub(time.Now()).Round(time.Second)
			if got != tt.want {
				t.Errorf("offset %q: clock is %v off time.Now, want %v", tt.content, got, tt.want)
			}
		})
	}
}

// TestClockOffsetFollowsFile: a running kcid sees a new offset written to
// the file, as a machine sees an NTP step.
func TestClockOffsetFollowsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offset")
	if err := os.WriteFile(path, []byte("0s"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(clockOffsetEnv, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now, err := newClock(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("-1h"), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(clockOffsetPoll) {
		if now.Now().Sub(time.Now()).Round(time.Second) == -time.Hour {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clock did not follow the file to -1h: it is %v off", now.Now().Sub(time.Now()))
		}
	}
}

func TestClockWithoutOffsetFile(t *testing.T) {
	t.Setenv(clockOffsetEnv, "")
	now, err := newClock(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if d := now.Now().Sub(time.Now()); d > time.Second || d < -time.Second {
		t.Errorf("clock without %s is %v off time.Now", clockOffsetEnv, d)
	}
}
