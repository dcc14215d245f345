package kube

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testutil"
	"github.com/openkci/openkci/pkg/kci"
)

// TestExecOverHTTPOnCluster: kcid in-process on the real cluster, behind
// a real HTTP listener: ExecContainerCommand's socket driven by client-go's
// own WebSocket executor (TTY resize seen by stty size, stdin, exit code)
// and by pkg/kci (stderr apart), bridged by kcid to pods/exec.
func TestExecOverHTTPOnCluster(t *testing.T) {
	e := newE2E(t)
	c := e.kcid(t)
	ctx := context.Background()
	req := &kci.CreateContainerGroupRequest{ContainerGroupName: "exec", SubnetID: "subnet-e2e", SecurityGroupIDs: []string{"sg-e2e"},
		CPU: 0.5, Memory: 0.25,
		Containers: []kci.Container{{InitContainer: kci.InitContainer{Name: "main", Image: e.image, Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}}}}}
	for _, cr := range e.creds {
		req.ImageRegistryCredentials = append(req.ImageRegistryCredentials, kci.ImageRegistryCredential{Server: cr.Server, Username: cr.Username, Password: cr.Password})
	}
	created, err := c.CreateContainerGroup(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := created.ContainerGroupID
	t.Cleanup(func() {
		_, _ = c.DeleteContainerGroup(context.Background(), &kci.DeleteContainerGroupRequest{ContainerGroupID: id})
	})
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		d, err := c.DescribeContainerGroup(ctx, &kci.DescribeContainerGroupRequest{ContainerGroupIDs: []string{id}})
		if err == nil && len(d.ContainerGroups) == 1 && len(d.ContainerGroups[0].Containers) == 1 &&
			d.ContainerGroups[0].Containers[0].CurrentState != nil && d.ContainerGroups[0].Containers[0].CurrentState.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never ran: %v %+v", err, d)
		}
	}
	uri := func(tty bool, cmd ...string) string {
		t.Helper()
		r, err := c.ExecContainerCommand(ctx, &kci.ExecContainerCommandRequest{ContainerGroupID: id, Command: cmd, TTY: tty})
		if err != nil {
			t.Fatal(err)
		}
		return r.WebSocketURI
	}

	t.Run("ClientGoTTY", func(t *testing.T) {
		exe, err := remotecommand.NewWebSocketExecutor(&restclient.Config{}, "GET", "http"+strings.TrimPrefix(uri(true, "sh"), "ws"))
		if err != nil {
			t.Fatal(err)
		}
		stdinR, stdinW := io.Pipe()
		out := &testutil.SyncBuffer{}
		sizes := make(runtimetest.TermSizes, 1)
		sizes <- remotecommand.TerminalSize{Width: 111, Height: 33}
		done := make(chan error, 1)
		go func() {
			done <- exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdinR, Stdout: out, Tty: true, TerminalSizeQueue: sizes})
		}()
		for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), "33 111"); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("stty size never showed 33 111:\n%s", out.String())
			}
			_, _ = io.WriteString(stdinW, "stty size\n")
		}
		_, _ = io.WriteString(stdinW, "exit 6\n")
		err = <-done
		close(sizes)
		stdinW.Close()
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 6 {
			t.Errorf("exit: %v, want code 6", err)
		}
	})

	t.Run("KCIStderrApart", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code, err := kci.StreamExec(ctx, uri(false, "sh", "-c", "echo out; echo err >&2; exit 4"), kci.ExecStreams{Stdout: &out, Stderr: &errOut})
		if err != nil || code != 4 || out.String() != "out\n" || errOut.String() != "err\n" {
			t.Errorf("code %d err %v stdout %q stderr %q", code, err, out.String(), errOut.String())
		}
	})
}
