package kcictl_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/kcictl/kcidtest"
)

func TestErrorOutput(t *testing.T) {
	h := newHarness(t)
	h.env["KCI_SECRET_ACCESS_KEY"] = "wrong-secret"
	h.golden("errors/signature.txt", transcript(h.run("get")))

	h.env["KCI_ACCESS_KEY_ID"], h.env["KCI_SECRET_ACCESS_KEY"] = "", ""
	h.golden("errors/unsigned.txt", transcript(h.run("get")))

	h.env["KCI_ACCESS_KEY_ID"] = "AKLTonlyhalf"
	h.golden("errors/half-key.txt", transcript(h.run("get")))

	h.env["KCI_ACCESS_KEY_ID"] = ""
	h.env["KCI_ENDPOINT"] = "http://127.0.0.1:1"
	h.golden("errors/unreachable.txt", transcript(h.run("get")))

	h.golden("errors/unknown-command.txt", transcript(h.run("start")))
	h.golden("errors/bad-duration.txt", transcript(h.run("wait", "x", "--for", "Running", "--timeout", "soon")))
}

// TestConfiguration: flags over environment over profile, and configure
// writes profiles.
func TestConfiguration(t *testing.T) {
	h := newHarness(t)
	h.subst[h.home] = "HOME"
	h.subst[h.srv.URL] = "http://KCID"
	delete(h.env, "KCI_ENDPOINT")
	delete(h.env, "KCI_ACCESS_KEY_ID")
	delete(h.env, "KCI_SECRET_ACCESS_KEY")

	// Nothing configured: defaults, unsigned.
	h.golden("config/list-empty.txt", transcript(h.run("configure", "--list")))

	// configure asks for the four values; piped answers work too.
	answers := h.srv.URL + "\n\n" + kcidtest.AccessKeyID + "\n" + kcidtest.SecretAccessKey + "\n"
	h.golden("config/configure.txt", transcript(h.runIn(answers, "configure")))
	b, err := os.ReadFile(filepath.Join(h.home, ".kci", "config"))
	if err != nil {
		t.Fatal(err)
	}
	h.golden("config/file.txt", string(b))
	if st, _ := os.Stat(filepath.Join(h.home, ".kci", "config")); st.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v", st.Mode())
	}
	if r := h.run("get"); r.code != 0 {
		t.Fatalf("get with the profile: %+v", r)
	}
	h.golden("config/list-profile.txt", transcript(h.run("configure", "--list")))

	// A second profile, kept beside the first; Enter keeps shown values.
	h.golden("config/configure-prod.txt", transcript(h.runIn("https://kci.example.com\ncn-shanghai-2\nAKLTprod\nprod-secret\n", "configure", "--profile", "prod")))
	h.golden("config/configure-prod-again.txt", transcript(h.runIn("\n\n\n\n", "configure", "--profile", "prod")))
	b, _ = os.ReadFile(filepath.Join(h.home, ".kci", "config"))
	h.golden("config/file-two.txt", string(b))
	h.golden("config/list-prod.txt", transcript(h.run("configure", "--list", "--profile", "prod")))
	h.env["KCI_PROFILE"] = "prod"
	h.env["KCI_REGION"] = "cn-beijing-6"
	h.golden("config/list-env-over-profile.txt", transcript(h.run("configure", "--list", "--endpoint", "http://flag:1")))
	delete(h.env, "KCI_REGION")
	h.golden("config/missing-profile.txt", transcript(h.run("get", "--profile", "staging")))
	delete(h.env, "KCI_PROFILE")

	// kcid's credentials file, by flag, by environment, and found on the
	// machine when nothing else gives a key.
	creds := filepath.Join(t.TempDir(), "credentials")
	h.subst[filepath.Dir(creds)] = "KCID_DATA"
	os.WriteFile(creds, []byte("# kcid access key\nKCI_ACCESS_KEY_ID="+kcidtest.AccessKeyID+"\nKCI_SECRET_ACCESS_KEY="+kcidtest.SecretAccessKey+"\n"), 0o600)
	os.Remove(filepath.Join(h.home, ".kci", "config"))
	h.env["KCI_ENDPOINT"] = h.srv.URL
	if r := h.run("get", "--credentials-file", creds); r.code != 0 {
		t.Errorf("--credentials-file: %+v", r)
	}
	h.env["KCI_CREDENTIALS_FILE"] = creds
	h.golden("config/list-credentials-env.txt", transcript(h.run("configure", "--list")))
	delete(h.env, "KCI_CREDENTIALS_FILE")
	h.kcidCredentials = creds
	h.golden("config/list-kcid-file.txt", transcript(h.run("configure", "--list")))
	if r := h.run("get"); r.code != 0 {
		t.Errorf("kcid's credentials file: %+v", r)
	}
	h.golden("config/bad-credentials-file.txt", transcript(h.run("get", "--credentials-file", filepath.Join(h.home, "nope"))))

	// configure from flags without questions.
	h.golden("config/configure-from-flags.txt", transcript(h.runIn("", "configure", "--credentials-file", creds, "--endpoint", "http://10.0.0.5:8080")))
	b, _ = os.ReadFile(filepath.Join(h.home, ".kci", "config"))
	h.golden("config/file-from-flags.txt", string(b))

	// A broken file is reported with its line.
	os.WriteFile(filepath.Join(h.home, ".kci", "config"), []byte("[default]\nendpoint\n"), 0o600)
	h.golden("config/broken-file.txt", transcript(h.run("get")))
}

// TestHelp: every command has help with examples.
func TestHelp(t *testing.T) {
	h := newHarness(t)
	h.golden("help/root.txt", transcript(h.run("--help")))
	h.golden("help/run.txt", transcript(h.run("run", "--help")))
	for _, cmd := range []string{"run", "create", "get", "ls", "describe", "logs", "delete", "wait", "configure", "network", "regions", "completion"} {
		r := h.run(cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("kcictl %s --help: exit %d, no Examples or Usage:\n%s", cmd, r.code, r.stdout)
		}
	}
}

func TestCompletion(t *testing.T) {
	h := newHarness(t)
	for _, shell := range []string{"bash", "zsh"} {
		r := h.run("completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "kcictl") || len(r.stdout) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes", shell, r.code, len(r.stdout))
		}
	}
	h.create("web", "--image", "nginx:1.27")
	h.create("worker", "--image", "busybox:1.36")
	// What the completion scripts call for group arguments.
	h.golden("completion/describe.txt", transcript(h.run("__complete", "describe", "w")))
	h.golden("completion/output.txt", transcript(h.run("__complete", "get", "-o", "")))
}

// TestBinary runs the built kcictl: exit codes, streams and no stack
// traces from a real process.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kcictl")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/openkci/openkci/cmd/kcictl").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := kcidtest.Start(t, kcidtest.Options{})
	home := t.TempDir()
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HOME=" + home, "KCI_ENDPOINT=" + srv.URL,
			"KCI_ACCESS_KEY_ID=" + kcidtest.AccessKeyID, "KCI_SECRET_ACCESS_KEY=" + kcidtest.SecretAccessKey}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	out, errs, code := run("run", "hello", "--image", "busybox:1.36", "--wait", "--", "sh", "-c", "echo hello")
	if code != 0 || len(strings.TrimSpace(out)) != 36 || !strings.Contains(errs, "hello is Running") {
		t.Fatalf("run: %d %q %q", code, out, errs)
	}
	if out, _, code = run("get", "-o", "id"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("get: %d %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"describe", "nope"}, 1, `Error: no container group has the ID or name "nope"`},
		{[]string{"run", "Bad_Name", "--image", "x"}, 1, "Error: InvalidParameterValue: "},
		{[]string{"run", "x", "--image"}, 2, "Error: flag needs an argument: --image"},
		{[]string{"logs", "hello", "--tail", "5000"}, 2, "Error: --tail 5000"},
		{[]string{"vpc", "create", "dev", "--cidr", "10.60.0.5/16"}, 2, "did you mean 10.60.0.0/16?"},
		{[]string{"sg", "allow", "test", "--protocol", "tcp", "--port", "0"}, 2, `Error: --port "0"`},
		{[]string{"subnet", "modify", "test", "--dns1", "10.0.1.53"}, 1, "Error: IncorrectState: "},
		{[]string{"sg", "describe", "nope"}, 1, `Error: no security group has the ID or name "nope"`},
	} {
		out, errs, code := run(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) || out != "" || strings.Contains(errs, "goroutine") || strings.Contains(errs, ".go:") {
			t.Errorf("kcictl %s: exit %d (want %d), stdout %q, stderr %q", strings.Join(tc.args, " "), code, tc.code, out, errs)
		}
	}
	if out, _, code = run("delete", "hello"); code != 0 || !strings.HasPrefix(out, "Deleted hello") {
		t.Errorf("delete: %d %q", code, out)
	}
	if out, _, code = run("--version"); code != 0 || out != "kcictl version dev\n" {
		t.Errorf("--version: %d %q", code, out)
	}
}
