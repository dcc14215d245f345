package api_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawRequest is a request head written by hand, so that a test can send a
// head and hold (or never send) the body it announces.
type rawRequest struct {
	method, target string
	contentType    string
	contentLength  int64
	// sign signs the head for a body of contentLength bytes of bodyByte
	// with this access key (testSK as the secret).
	sign     string
	bodyByte byte
}

func (rr rawRequest) head(t *testing.T, host string) []byte {
	t.Helper()
	req, err := http.NewRequest(rr.method, "http://"+host+rr.target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = rr.contentLength
	if rr.contentType != "" {
		req.Header.Set("Content-Type", rr.contentType)
	}
	if rr.sign != "" {
		h := sha256.New()
		chunk := strings.Repeat(string(rr.bodyByte), 64<<10)
		for n := rr.contentLength; n > 0; n -= int64(len(chunk)) {
			io.WriteString(h, chunk[:min(n, int64(len(chunk)))])
		}
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: rr.sign, SecretAccessKey: testSK},
			req, hex.EncodeToString(h.Sum(nil)), "kci", testRegion, time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", rr.method, rr.target, host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if rr.contentLength > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", rr.contentLength)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// readAnswer reads one response from conn: its status and error code.
func readAnswer(conn net.Conn) (int, string, error) {
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct{ Error struct{ Code string } }
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body.Error.Code, nil
}

func dialFrom(t *testing.T, addr, localIP string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Nothing before authentication but reading a bounded head: every answer
// below comes while the announced body is still unsent, and errors of the
// request itself (a bad escape, a repeated Action) come only to a caller
// who signed it.
func TestAnswersBeforeTheBody(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig, serve: true})
	host := strings.TrimPrefix(s.URL, "http://")
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name   string
		req    rawRequest
		status int
		code   string
	}{
		{"unknown key, 4 MiB body unsent", rawRequest{method: "POST", target: "/", contentType: form, contentLength: 4 << 20, sign: "AKLTnobody"}, 403, "InvalidClientTokenId"},
		{"no signature, JSON body unsent", rawRequest{method: "POST", target: "/", contentType: "application/json", contentLength: 4 << 20}, 403, "MissingAuthenticationToken"},
		{"signed, 5 MB body", rawRequest{method: "POST", target: "/", contentType: form, contentLength: 5e6, sign: testAK}, 413, "RequestEntityTooLarge"},
		{"unsigned form, 5 MB body", rawRequest{method: "POST", target: "/", contentType: form, contentLength: 5e6}, 413, "RequestEntityTooLarge"},
		{"unknown key, 5 MB body", rawRequest{method: "POST", target: "/", contentType: form, contentLength: 5e6, sign: "AKLTnobody"}, 403, "InvalidClientTokenId"},
		{"unsigned bad escape", rawRequest{method: "GET", target: "/?Action=%zz&Version=2020-07-02"}, 403, "MissingAuthenticationToken"},
		// aws-sdk-go-v2's signer drops the pair it cannot decode, so its
		// signature cannot match; curl's (below) signs it verbatim.
		{"SDK-signed bad escape", rawRequest{method: "GET", target: "/?Action=%zz&Version=2020-07-02", sign: testAK}, 403, "SignatureDoesNotMatch"},
		{"unsigned repeated Action", rawRequest{method: "GET", target: "/?Action=DescribeContainerGroup&Action=DeleteContainerGroup&Version=2020-07-02"}, 403, "MissingAuthenticationToken"},
		{"signed repeated Action", rawRequest{method: "GET", target: "/?Action=DescribeContainerGroup&Action=DeleteContainerGroup&Version=2020-07-02", sign: testAK}, 400, "InvalidQueryParameter"},
		{"signed unknown Action", rawRequest{method: "GET", target: "/?Action=Nope&Version=2020-07-02", sign: testAK}, 404, "NoSuchEntity"},
		{"unsigned unknown Action", rawRequest{method: "GET", target: "/?Action=Nope&Version=2020-07-02"}, 403, "MissingAuthenticationToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialFrom(t, host, "127.0.0.1")
			if _, err := conn.Write(tc.req.head(t, host)); err != nil {
				t.Fatal(err)
			}
			status, code, err := readAnswer(conn)
			if err != nil || status != tc.status || code != tc.code {
				t.Fatalf("got %d %s (%v), want %d %s", status, code, err, tc.status, tc.code)
			}
		})
	}
	t.Run("curl-signed bad escape", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Fatal("curl is needed for this test: apt-get install curl")
		}
		out, err := exec.Command("curl", "-sS", "--aws-sigv4", "aws:amz:cn-beijing-6:kci", "--user", testAK+":"+testSK,
			s.URL+"/?Action=%zz&Version=2020-07-02").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"Code":"InvalidQueryParameter"`) {
			t.Fatalf("curl: %v: %s", err, out)
		}
	})
}

func TestRequestsInFlightPerClient(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig + "limits: {maxInFlightPerClient: 2}\n", serve: true})
	host := strings.TrimPrefix(s.URL, "http://")
	held := rawRequest{method: "POST", target: "/", contentType: "application/x-www-form-urlencoded", contentLength: 100, sign: testAK, bodyByte: 'a'}
	for range 2 { // two requests wait for bodies that do not come
		if _, err := dialFrom(t, host, "127.0.0.1").Write(held.head(t, host)); err != nil {
			t.Fatal(err)
		}
	}
	// The server counts a request once it has read its head; retry until
	// both are counted.
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn := dialFrom(t, host, "127.0.0.1")
		conn.Write(rawRequest{method: "GET", target: "/?Action=DescribeRegions&Version=2020-07-02", sign: testAK}.head(t, host))
		status, code, err := readAnswer(conn)
		conn.Close() // an open probe would count against the client's connection cap
		if err == nil && status == http.StatusConflict && code == "LimitExceeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a third request in flight got %d %s (%v), want 409 LimitExceeded", status, code, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Another client is not affected.
	conn := dialFrom(t, host, "127.0.0.2")
	conn.Write(rawRequest{method: "GET", target: "/?Action=DescribeRegions&Version=2020-07-02", sign: testAK}.head(t, host))
	if status, code, err := readAnswer(conn); err != nil || status != 200 {
		t.Fatalf("another client got %d %s (%v)", status, code, err)
	}
}

func TestConnectionLimits(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig + "limits: {maxConns: 3, maxConnsPerClient: 2, headerTimeout: 1s}\n", serve: true})
	host := strings.TrimPrefix(s.URL, "http://")
	healthz := []byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	// open dials and proves the server serves the connection.
	open := func(ip string) (net.Conn, error) {
		conn := dialFrom(t, host, ip)
		if _, err := conn.Write(healthz); err != nil {
			return conn, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return conn, err
		}
		resp.Body.Close()
		return conn, nil
	}
	mustOpen := func(ip string) net.Conn {
		t.Helper()
		conn, err := open(ip)
		if err != nil {
			t.Fatalf("connection from %s refused: %v", ip, err)
		}
		return conn
	}
	first := mustOpen("127.0.0.1")
	mustOpen("127.0.0.1")
	if _, err := open("127.0.0.1"); err == nil {
		t.Fatal("a third connection of one client was served (maxConnsPerClient: 2)")
	}
	mustOpen("127.0.0.2")
	if _, err := open("127.0.0.3"); err == nil {
		t.Fatal("a fourth connection was served (maxConns: 3)")
	}
	// A closed connection frees its slot (once the server has seen it go).
	first.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := open("127.0.0.3"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's slot was never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlowHeadIsCutOff(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig + "limits: {headerTimeout: 1s}\n", serve: true})
	conn := dialFrom(t, strings.TrimPrefix(s.URL, "http://"), "127.0.0.1")
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// The server closes the connection after headerTimeout; the read
	// deadline only keeps a broken server from hanging the test.
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	_, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection whose head never ended")
	}
}

// heapAlloc is the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.Join(strings.Fields(line)[1:], " ")
		}
	}
	return "?"
}

// The slow-body attack of issue 9: 200 unsigned connections each sending a
// 4 MiB form body one byte short took kcid from 51 MB to 1.2 GB. Now the
// bodies of unsigned requests share a budget (unsignedBodyBufferBytes):
// kcid's heap grows by at most that budget plus a slack for the
// connections (docs/api.md, "Limits"), signed callers are still served,
// and the heap is back once the attack ends.
func TestSlowBodyAttack(t *testing.T) {
	const (
		conns         = 200
		bodySize      = 4 << 20
		unsignedShare = 16 << 20 // the default unsignedBodyBufferBytes
		// slack covers 200 connections' buffers and goroutines on both
		// sides (the attacker runs in this process) and garbage between
		// collections.
		slack = 32 << 20
	)
	// Default limits but a shorter body deadline, to end the test sooner.
	s := startServer(t, serverOpts{config: netConfig + "limits: {bodyTimeout: 3s}\n", serve: true})
	host := strings.TrimPrefix(s.URL, "http://")
	c := s.client()
	mustOK(t, c.do("DescribeRegions", nil)) // warm up before the baseline
	base := heapAlloc()
	t.Logf("before: heap %d MiB, RSS %s", base>>20, rss())

	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	head := rawRequest{method: "POST", target: "/", contentType: "application/x-www-form-urlencoded", contentLength: bodySize}.head(t, host)
	chunk := []byte(strings.Repeat("a", 64<<10))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[string]int{}
		attack   []net.Conn
	)
	for range conns {
		conn := dialFrom(t, host, "127.0.0.1")
		attack = append(attack, conn)
		wg.Add(2)
		go func() { // send the head and the body but its last byte, then hold
			defer wg.Done()
			if _, err := conn.Write(head); err != nil {
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
			status, code, err := readAnswer(conn)
			key := strconv.Itoa(status) + " " + code
			if err != nil {
				key = "connection closed"
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		}()
	}

	// A signed create is served while the attack holds the unsigned share.
	mustOK(t, c.do("CreateContainerGroup", createParams("during-attack")))

	wg.Wait() // every attacker was answered: refused, or cut off at bodyTimeout
	for _, conn := range attack {
		conn.Close()
	}
	close(stop)
	<-sampled
	t.Logf("outcomes: %v", outcomes)
	t.Logf("peak heap %d MiB over a baseline of %d MiB (bound %d MiB), RSS %s", (peak-base)>>20, base>>20, (unsignedShare+slack)>>20, rss())
	if outcomes["408 RequestTimeout"] == 0 {
		t.Fatal("no attacker's body was ever held to the deadline: the attack did not happen")
	}
	if peak > base+unsignedShare+slack {
		t.Fatalf("heap peaked %d MiB over its baseline; the bound is %d MiB", (peak-base)>>20, (unsignedShare+slack)>>20)
	}
	if after := heapAlloc(); after > base+8<<20 {
		t.Fatalf("after the attack the heap is %d MiB, %d MiB over its baseline", after>>20, (after-base)>>20)
	}
}
