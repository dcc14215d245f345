package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/openkci/openkci/internal/app"
	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/kcictl"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
	"github.com/openkci/openkci/internal/testutil"
	"github.com/openkci/openkci/pkg/kci"
)

// execKcid is kcid in-process on this package's real containerd, behind
// a real HTTP listener, with two accounts and a settable clock.
type execKcid struct {
	t      *testing.T
	url    string
	clock  *clock.Fake
	a, b   *kci.Client // accounts 2000000001 and 2000000002
	subnet string
	reg    testenv.LocalRegistry
	image  string
	rt     *Runtime
}

func startExecKcid(t *testing.T) *execKcid {
	return startAPIKcid(t, "-x", "exec: {maxSessionsPerAccount: 12}\n")
}

// startAPIKcid starts kcid as startExecKcid describes, in namespace
// testNS+nsSuffix, with extraConfig appended to its config file (a
// node section there replaces the default one).
func startAPIKcid(t *testing.T, nsSuffix, extraConfig string) *execKcid {
	e := newEnv(t)
	// A namespace of its own: kcid's start-up Sync removes every group of
	// its namespace it was not given.
	ns := testNS + nsSuffix
	own := *e
	own.dataDir = t.TempDir()
	rt := own.newRuntimeNS(ns)
	t.Cleanup(func() {
		rt.Close()
		testenv.CleanNamespace(e.addr, ns)
		_ = removeCgroup("/" + ns)
	})
	cidr, gw, _, sid := subnet()
	cfg := fmt.Sprintf(`
accounts:
  - {id: "2000000001", keys: [{accessKeyId: AKLTexecA, secretAccessKey: secret-a}]}
  - {id: "2000000002", keys: [{accessKeyId: AKLTexecB, secretAccessKey: secret-b}]}
vpcs:
  - {id: vpc-exec-a, name: a, account: "2000000001", cidr: 10.213.0.0/16}
  - {id: vpc-exec-b, name: b, account: "2000000002", cidr: 10.212.0.0/16}
subnets:
  - {id: %s, name: a, vpc: vpc-exec-a, cidr: %s, gateway: %s, zone: cn-beijing-6a}
  - {id: subnet-exec-b, name: b, vpc: vpc-exec-b, cidr: 10.212.1.0/24, gateway: 10.212.1.1, zone: cn-beijing-6a}
securityGroups:
  - {id: sg-exec-a, name: a, vpc: vpc-exec-a}
  - {id: sg-exec-b, name: b, vpc: vpc-exec-b}
`, sid, cidr, gw) + extraConfig
	if !strings.HasPrefix(extraConfig, "node:") && !strings.Contains(extraConfig, "\nnode:") {
		cfg += "node: {cpu: 16, memory: 32}\n"
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &execKcid{t: t, clock: clock.NewFake(time.Now()), subnet: sid, reg: e.reg, image: e.image, rt: rt}
	a, err := app.New(context.Background(), app.Options{
		DataDir: t.TempDir(), ConfigPath: path, Runtime: rt, Clock: k.clock,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	k.url = srv.URL
	for _, c := range []struct {
		to       **kci.Client
		id, secr string
	}{{&k.a, "AKLTexecA", "secret-a"}, {&k.b, "AKLTexecB", "secret-b"}} {
		cl, err := kci.New(kci.Config{Endpoint: srv.URL, AccessKeyID: c.id, SecretAccessKey: c.secr, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		*c.to = cl
	}
	return k
}

// group creates a group of account A and waits until want(containers)
// holds; the group is deleted (and its removal awaited) when the test
// ends.
func (k *execKcid) group(name, policy string, containers map[string]string, want func(map[string]string) bool) string {
	t := k.t
	t.Helper()
	req := &kci.CreateContainerGroupRequest{
		ContainerGroupName: name, SubnetID: k.subnet, SecurityGroupIDs: []string{"sg-exec-a"},
		CPU: 1, Memory: 1, RestartPolicy: policy,
		ImageRegistryCredentials: []kci.ImageRegistryCredential{{Server: k.reg.Host, Username: k.reg.Username, Password: k.reg.Password}},
	}
	for _, n := range sortedKeys(containers) {
		req.Containers = append(req.Containers, kci.Container{InitContainer: kci.InitContainer{Name: n, Image: k.image, Command: []string{"sh", "-c", containers[n]}}})
	}
	resp, err := k.a.CreateContainerGroup(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerGroupID
	t.Cleanup(func() { k.deleteAndWait(id) })
	deadline := time.Now().Add(90 * time.Second)
	for {
		states := k.states(id)
		if want(states) {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: containers never reached the wanted states: %v", name, states)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// states maps each container of a group to its current state.
func (k *execKcid) states(id string) map[string]string {
	out := map[string]string{}
	resp, err := k.a.DescribeContainerGroup(context.Background(), &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{id}})
	if err != nil || len(resp.ContainerGroups) != 1 {
		return out
	}
	for _, c := range resp.ContainerGroups[0].Containers {
		if c.CurrentState != nil {
			out[c.Name] = c.CurrentState.State
		}
	}
	return out
}

// deleteAndWait deletes a group (if it still exists) and waits until the
// runtime has released it, so that nothing is left when kcid closes.
func (k *execKcid) deleteAndWait(id string) {
	_, err := k.a.DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: id})
	var ae *kci.APIError
	if err != nil && !(errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound) {
		k.t.Errorf("delete %s: %v", id, err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := k.rt.Status(context.Background(), id); err != nil {
			return
		}
		if time.Now().After(deadline) {
			k.t.Errorf("group %s not removed", id)
			return
		}
	}
}

// exec calls ExecContainerCommand as account A (or c) and returns the URI.
func (k *execKcid) exec(c *kci.Client, req kci.ExecContainerCommandRequest) (string, error) {
	if c == nil {
		c = k.a
	}
	resp, err := c.ExecContainerCommand(context.Background(), &req)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(resp.WebSocketURI, "ws://"+strings.TrimPrefix(k.url, "http://")+"/exec/") {
		k.t.Fatalf("WebSocketUri %q is not on kcid's listener %s", resp.WebSocketURI, k.url)
	}
	return resp.WebSocketURI, nil
}

func (k *execKcid) mustExec(req kci.ExecContainerCommandRequest) string {
	k.t.Helper()
	uri, err := k.exec(nil, req)
	if err != nil {
		k.t.Fatalf("ExecContainerCommand %v: %v", req.Command, err)
	}
	return uri
}

func running(names ...string) func(map[string]string) bool {
	return func(s map[string]string) bool {
		for _, n := range names {
			if s[n] != "running" {
				return false
			}
		}
		return true
	}
}

const sleepForever = "trap 'exit 0' TERM; sleep 3600 & wait"

// clientGo drives the socket with client-go's own WebSocket executor, as
// kubectl would (client-go wants the http:// form of the URI).
func clientGo(uri string, protocols []string, o remotecommand.StreamOptions) error {
	httpURI := "http" + strings.TrimPrefix(uri, "ws")
	var exe remotecommand.Executor
	var err error
	if protocols == nil {
		exe, err = remotecommand.NewWebSocketExecutor(&restclient.Config{}, "GET", httpURI)
	} else {
		exe, err = remotecommand.NewWebSocketExecutorForProtocols(&restclient.Config{}, "GET", httpURI, protocols...)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return exe.StreamWithContext(ctx, o)
}

func exitCode(err error) int {
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err == nil {
		return 0
	}
	return -1
}

// waitOutput waits for want in out, writing poke to in meanwhile (a TTY
// shell answers only what it is asked).
func waitOutput(t *testing.T, out *testutil.SyncBuffer, in io.Writer, poke, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%s", want, out.String())
		}
		if poke != "" {
			_, _ = io.WriteString(in, poke)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dialPlain(t *testing.T, uri string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(uri, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", uri, err, resp)
	}
	if conn.Subprotocol() != "" {
		t.Fatalf("plain dial negotiated %q", conn.Subprotocol())
	}
	return conn
}

// readPlain reads a plain-mode session to its end: the output and the
// close frame.
func readPlain(t *testing.T, conn *websocket.Conn) (string, *websocket.CloseError) {
	t.Helper()
	var out bytes.Buffer
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("plain session ended without a close frame: %v (output %q)", err, out.String())
			}
			return out.String(), ce
		}
		out.Write(msg)
	}
}

// refusal dials uri and returns the KCI error of the refused handshake.
func refusal(t *testing.T, uri string) *kci.APIError {
	t.Helper()
	_, err := kci.StreamExec(context.Background(), uri, kci.ExecStreams{})
	var ae *kci.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("dial %s: %v, want a KCI error", uri, err)
	}
	return ae
}

func TestExecOverHTTP(t *testing.T) {
	k := startExecKcid(t)
	gid := k.group("exec", "Never", map[string]string{"main": sleepForever, "done": "true"}, func(s map[string]string) bool {
		return s["main"] == "running" && s["done"] == "terminated"
	})
	main := func(tty bool, stdin bool, cmd ...string) kci.ExecContainerCommandRequest {
		return kci.ExecContainerCommandRequest{ContainerGroupID: gid, ContainerName: "main", Command: cmd, TTY: tty, Stdin: &stdin}
	}

	t.Run("ClientGoV5TTYResize", func(t *testing.T) {
		uri := k.mustExec(main(true, true, "sh"))
		stdinR, stdinW := io.Pipe()
		out := &testutil.SyncBuffer{}
		sizes := make(runtimetest.TermSizes, 2)
		sizes <- remotecommand.TerminalSize{Width: 111, Height: 33}
		done := make(chan error, 1)
		go func() {
			done <- clientGo(uri, nil, remotecommand.StreamOptions{Stdin: stdinR, Stdout: out, Tty: true, TerminalSizeQueue: sizes})
		}()
		waitOutput(t, out, stdinW, "stty size\n", "33 111")
		sizes <- remotecommand.TerminalSize{Width: 120, Height: 40}
		waitOutput(t, out, stdinW, "stty size\n", "40 120")
		_, _ = io.WriteString(stdinW, "echo round-$((6*7)); exit 3\n")
		err := <-done
		close(sizes)
		stdinW.Close()
		if exitCode(err) != 3 {
			t.Fatalf("exit: %v, want code 3", err)
		}
		if !strings.Contains(out.String(), "round-42") {
			t.Errorf("stdin did not round-trip through the TTY:\n%s", out.String())
		}
	})

	t.Run("TTYSizeAtStart", func(t *testing.T) {
		// The command's first look at its terminal sees the client's size:
		// kcid waits for it and starts the process with it (no 0x0 race).
		uri := k.mustExec(main(true, false, "stty", "size"))
		sizes := make(runtimetest.TermSizes, 1)
		sizes <- remotecommand.TerminalSize{Width: 111, Height: 33}
		var out bytes.Buffer
		err := clientGo(uri, nil, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: sizes})
		close(sizes)
		if err != nil || strings.TrimSpace(out.String()) != "33 111" {
			t.Errorf("stty size as the first command: %q, err %v; want \"33 111\"", out.String(), err)
		}
	})

	t.Run("KcictlOnPTY", func(t *testing.T) {
		ctl, tty := testutil.OpenPTY(t, 100, 30)
		shown := &testutil.SyncBuffer{}
		go func() { _, _ = io.Copy(shown, ctl) }()
		vars := map[string]string{"KCI_ENDPOINT": k.url, "KCI_ACCESS_KEY_ID": "AKLTexecA", "KCI_SECRET_ACCESS_KEY": "secret-a"}
		var stderr testutil.SyncBuffer
		env := kcictl.Env{Stdin: tty, Stdout: tty, Stderr: &stderr, StdinIsTerminal: true,
			Getenv: func(k string) string { return vars[k] }, HomeDir: t.TempDir()}
		done := make(chan int, 1)
		go func() {
			done <- kcictl.Main(context.Background(), []string{"exec", gid, "-c", "main", "-it", "--", "sh"}, env)
		}()
		waitOutput(t, shown, ctl, "stty size\n", "30 100")
		testutil.SetTermSize(t, tty, 120, 40)
		if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, shown, ctl, "stty size\n", "40 120")
		_, _ = io.WriteString(ctl, "exit 5\n")
		select {
		case code := <-done:
			if code != 5 {
				t.Errorf("kcictl exit %d, want the shell's 5; stderr: %s", code, stderr.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("kcictl exec did not end:\n%q\n%s", shown.String(), stderr.String())
		}
	})

	t.Run("ClientGoV4StderrApart", func(t *testing.T) {
		uri := k.mustExec(main(false, false, "sh", "-c", "echo out; echo err >&2; exit 7"))
		var out, errOut bytes.Buffer
		err := clientGo(uri, []string{kci.ExecProtocolV4}, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
		if exitCode(err) != 7 || out.String() != "out\n" || errOut.String() != "err\n" {
			t.Errorf("v4: err %v stdout %q stderr %q; want exit 7, \"out\\n\", \"err\\n\"", err, out.String(), errOut.String())
		}
	})

	t.Run("ClientGoV5StdinEOF", func(t *testing.T) {
		uri := k.mustExec(main(false, true, "sh", "-c", "cat; echo after-eof >&2"))
		data := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
		var out, errOut bytes.Buffer
		err := clientGo(uri, nil, remotecommand.StreamOptions{Stdin: strings.NewReader(data), Stdout: &out, Stderr: &errOut})
		if err != nil || out.String() != data || errOut.String() != "after-eof\n" {
			t.Errorf("cat: err %v, %d of %d bytes back (equal %v), stderr %q", err, out.Len(), len(data), out.String() == data, errOut.String())
		}
	})

	t.Run("KCIClientExitCode", func(t *testing.T) {
		uri := k.mustExec(main(false, true, "sh", "-c", "read x; echo got-$x; echo oops >&2; exit 9"))
		var out, errOut bytes.Buffer
		code, err := kci.StreamExec(context.Background(), uri, kci.ExecStreams{Stdin: strings.NewReader("hi\n"), Stdout: &out, Stderr: &errOut})
		if err != nil || code != 9 || out.String() != "got-hi\n" || errOut.String() != "oops\n" {
			t.Errorf("code %d err %v stdout %q stderr %q", code, err, out.String(), errOut.String())
		}
	})

	t.Run("PlainMode", func(t *testing.T) {
		uri := k.mustExec(main(false, true, "sh", "-c", "cat; exit 4"))
		conn := dialPlain(t, uri)
		defer conn.Close()
		if err := conn.WriteMessage(websocket.TextMessage, []byte("plain hello\n")); err != nil {
			t.Fatal(err)
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, nil); err != nil { // EOF
			t.Fatal(err)
		}
		out, ce := readPlain(t, conn)
		if out != "plain hello\n" || ce.Code != websocket.CloseNormalClosure || ce.Text != "exit 4" {
			t.Errorf("plain: output %q close %d %q; want the input back and 1000 \"exit 4\"", out, ce.Code, ce.Text)
		}
	})

	t.Run("TokenSingleUse", func(t *testing.T) {
		uri := k.mustExec(main(false, false, "true"))
		// A plain GET (a browser, a probe) is refused without using the token.
		resp, err := http.Get("http" + strings.TrimPrefix(uri, "ws"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain GET: %d, want 400", resp.StatusCode)
		}
		if code, err := kci.StreamExec(context.Background(), uri, kci.ExecStreams{}); err != nil || code != 0 {
			t.Fatalf("first use: %d %v", code, err)
		}
		if ae := refusal(t, uri); ae.StatusCode != http.StatusForbidden || ae.Code != "InvalidExecToken" || !strings.Contains(ae.Message, "already used") {
			t.Errorf("second use: %v", ae)
		}
		if ae := refusal(t, strings.TrimSuffix(uri, uri[len(uri)-4:])+"AAAA"); ae.Code != "InvalidExecToken" || !strings.Contains(ae.Message, "not one this kcid issued") {
			t.Errorf("made-up token: %v", ae)
		}
	})

	t.Run("TokenExpiry", func(t *testing.T) {
		early := k.mustExec(main(false, false, "true"))
		late := k.mustExec(main(false, false, "true"))
		k.clock.Advance(59 * time.Second)
		if code, err := kci.StreamExec(context.Background(), early, kci.ExecStreams{}); err != nil || code != 0 {
			t.Fatalf("token used at 59s: %d %v", code, err)
		}
		k.clock.Advance(2 * time.Second)
		if ae := refusal(t, late); ae.StatusCode != http.StatusForbidden || !strings.Contains(ae.Message, "expired") {
			t.Errorf("token used at 61s: %v", ae)
		}
	})

	t.Run("OtherAccount", func(t *testing.T) {
		_, err := k.exec(k.b, main(false, false, "true"))
		var ae *kci.APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || ae.Code != "ContainerGroupNotFound" {
			t.Errorf("account B exec into A's group: %v", err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			req    kci.ExecContainerCommandRequest
			status int
			code   string
			msg    string
		}{
			{"no group", kci.ExecContainerCommandRequest{Command: []string{"true"}}, 400, "MissingParameter", "ContainerGroupId"},
			{"no command", kci.ExecContainerCommandRequest{ContainerGroupID: gid, ContainerName: "main"}, 400, "MissingParameter", "Command.N"},
			{"sync with tty", kci.ExecContainerCommandRequest{ContainerGroupID: gid, ContainerName: "main", Command: []string{"true"}, TTY: true, Sync: true}, 400, "InvalidParameterValue", "TTY"},
			{"which container", kci.ExecContainerCommandRequest{ContainerGroupID: gid, Command: []string{"true"}}, 400, "MissingParameter", "ContainerName"},
			{"unknown container", kci.ExecContainerCommandRequest{ContainerGroupID: gid, ContainerName: "nope", Command: []string{"true"}}, 404, "ContainerNotFound", "nope"},
			{"unknown group", kci.ExecContainerCommandRequest{ContainerGroupID: "no-such-group", ContainerName: "main", Command: []string{"true"}}, 404, "ContainerGroupNotFound", "no-such-group"},
			{"not running", kci.ExecContainerCommandRequest{ContainerGroupID: gid, ContainerName: "done", Command: []string{"true"}}, 409, "IncorrectState", "done of group " + gid + " is terminated (Completed)"},
			{"no such program", kci.ExecContainerCommandRequest{ContainerGroupID: gid, ContainerName: "main", Command: []string{"no-such-program"}, Sync: true}, 400, "InvalidParameterValue", "no-such-program"},
		} {
			_, err := k.exec(nil, tc.req)
			var ae *kci.APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.status || ae.Code != tc.code || !strings.Contains(ae.Message, tc.msg) {
				t.Errorf("%s: %v; want %d %s mentioning %q", tc.name, err, tc.status, tc.code, tc.msg)
			}
		}
	})

	t.Run("Sync", func(t *testing.T) {
		resp, err := k.a.ExecContainerCommand(context.Background(), &kci.ExecContainerCommandRequest{
			ContainerGroupID: gid, ContainerName: "main", Command: []string{"sh", "-c", "echo a; sleep 0.2; echo b >&2; exit 4"}, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.WebSocketURI != "" || resp.SyncResponse == nil || *resp.SyncResponse != "a\nb\n" || resp.ExitCode == nil || *resp.ExitCode != 4 {
			t.Errorf("sync: %+v (output %v, exit %v)", resp, deref(resp.SyncResponse), deref(resp.ExitCode))
		}
	})

	t.Run("TenConcurrentSessions", func(t *testing.T) {
		// Each command finishes only once all ten run at the same time.
		const n = 10
		dir := "/tmp/barrier-" + randHex(4)
		cmd := fmt.Sprintf("mkdir -p %[1]s; touch %[1]s/$1; while [ $(ls %[1]s | wc -l) -lt %[2]d ]; do sleep 0.1; done; read x; echo $1-$x", dir, n)
		var wg sync.WaitGroup
		for i := range n {
			uri := k.mustExec(main(false, true, "sh", "-c", cmd, "sh", fmt.Sprint(i)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out bytes.Buffer
				code, err := kci.StreamExec(context.Background(), uri, kci.ExecStreams{Stdin: strings.NewReader(fmt.Sprintf("in%d\n", i)), Stdout: &out})
				if err != nil || code != 0 || out.String() != fmt.Sprintf("%d-in%d\n", i, i) {
					t.Errorf("session %d: code %d err %v output %q", i, code, err, out.String())
				}
			}()
		}
		wg.Wait()
	})

	t.Run("SessionCap", func(t *testing.T) {
		// exec.maxSessionsPerAccount is 12 in this kcid's config.
		var conns []*websocket.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 12 {
			conn := dialPlain(t, k.mustExec(main(false, false, "sh", "-c", "echo up; exec sleep 3604")))
			conns = append(conns, conn)
			if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "up\n" {
				t.Fatalf("session %d: %q %v", len(conns), msg, err)
			}
		}
		if ae := refusal(t, k.mustExec(main(false, false, "true"))); ae.StatusCode != http.StatusConflict || ae.Code != kci.CodeLimitExceeded {
			t.Errorf("13th session: %v, want 409 LimitExceeded", ae)
		}
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		// The slots come back as the sessions end.
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			code, err := kci.StreamExec(context.Background(), k.mustExec(main(false, false, "true")), kci.ExecStreams{})
			if err == nil && code == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no session slot came back: %v", err)
			}
		}
	})

	t.Run("ClientGoneKillsCommand", func(t *testing.T) {
		uri := k.mustExec(main(false, false, "sh", "-c", "echo up; exec sleep 3602"))
		conn := dialPlain(t, uri)
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "up\n" {
			t.Fatalf("first output: %q %v", msg, err)
		}
		conn.Close()
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := k.a.ExecContainerCommand(context.Background(), &kci.ExecContainerCommandRequest{
				ContainerGroupID: gid, ContainerName: "main", Command: []string{"ps"}, Sync: true})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(*resp.SyncResponse, "sleep 3602") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the command outlived its socket:\n%s", *resp.SyncResponse)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("GroupDeletedEndsSession", func(t *testing.T) {
		victim := k.group("victim", "Always", map[string]string{"only": sleepForever}, running("only"))
		// No ContainerName: the group's only container.
		uri := k.mustExec(kci.ExecContainerCommandRequest{ContainerGroupID: victim, Command: []string{"sh", "-c", "echo up; exec sleep 3603"}})
		out := &testutil.SyncBuffer{}
		done := make(chan error, 1)
		go func() {
			_, err := kci.StreamExec(context.Background(), uri, kci.ExecStreams{Stdout: out})
			done <- err
		}()
		waitOutput(t, out, nil, "", "up")
		if _, err := k.a.DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: victim}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil || !strings.Contains(err.Error(), "was deleted") {
			t.Errorf("session of a deleted group ended with %v, want an error saying the group was deleted", err)
		}
	})
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
