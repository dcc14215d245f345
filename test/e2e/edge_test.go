package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// procKiB reads a "Vm…" field (in KiB) of /proc/PID/status.
func procKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestSlowBodyAttackRSS is issue 9's slow-body attack on the kcid binary:
// 200 unsigned connections each sending a 4 MiB form body one byte short
// took kcid from 51 MB to 1.2 GB. kcid's peak RSS (VmHWM, reset before the
// attack) may now grow by at most its unsigned body budget (16 MiB by
// default) plus 48 MiB for 200 connections and the runtime's slack
// (docs/api.md, "Limits"), and its RSS returns to within 8 MiB of its
// start once the attack is over.
func TestSlowBodyAttackRSS(t *testing.T) {
	const (
		conns    = 200
		bodySize = 4 << 20
		bound    = (16 + 48) << 20
	)
	e := needEnv(t)
	k := startKcid(t, e)
	// Default limits but a shorter body deadline, to end the test sooner.
	k.stop()
	f, err := os.OpenFile(k.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "limits: {bodyTimeout: 3s}")
	f.Close()
	if err := k.start(); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	pid := k.proc.cmd.Process.Pid
	k.mu.Unlock()
	c := newClient(k)
	if err := c.call("DescribeContainerGroup", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Reset the peak RSS to the current one (Linux: clear_refs 5).
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
	before := procKiB(t, pid, "VmRSS")

	addr := strings.TrimPrefix(k.URL(), "http://")
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", addr, bodySize)
	chunk := []byte(strings.Repeat("a", 64<<10))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[string]int{}
	)
	for range conns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := conn.Write([]byte(head)); err != nil {
				return
			}
			for n := bodySize - 1; n > 0; n -= len(chunk) {
				if _, err := conn.Write(chunk[:min(n, len(chunk))]); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			key := "connection closed"
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				key = resp.Status
				resp.Body.Close()
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		}()
	}
	// Signed calls are served during the attack.
	if err := c.call("DescribeContainerGroup", nil, nil); err != nil {
		t.Errorf("a signed call during the attack: %v", err)
	}
	wg.Wait()
	peak := procKiB(t, pid, "VmHWM")
	t.Logf("outcomes %v; kcid RSS %d MiB before, peak %d MiB (+%d MiB, bound +%d MiB), now %d MiB",
		outcomes, before>>10, peak>>10, (peak-before)>>10, bound>>20, procKiB(t, pid, "VmRSS")>>10)
	if outcomes["408 Request Timeout"] == 0 {
		t.Fatal("no attacker's body was held to the deadline: the attack did not happen")
	}
	if (peak-before)<<10 > bound {
		t.Fatalf("kcid's RSS peaked %d MiB over its start; the bound is %d MiB", (peak-before)>>10, bound>>20)
	}
	// Once the bodies are gone kcid hands the memory back to the OS (at
	// most 10 s after the previous time it did).
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		now := procKiB(t, pid, "VmRSS")
		if now <= before+8<<10 {
			t.Logf("RSS back to %d MiB", now>>10)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kcid's RSS stays at %d MiB after the attack, %d MiB over its start", now>>10, (now-before)>>10)
		}
	}
}
