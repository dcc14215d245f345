// Package kcictl is the kcictl command line: docker-run-like commands for
// KCI container groups on kcid or Kingsoft Cloud, built on pkg/kci.
//
// Main runs one command line against an Env (standard streams,
// environment, home directory, clock), so tests drive the whole CLI
// in-process. Output goes to Stdout; progress, notes and errors to Stderr.
// Exit codes: 0 success, 1 a failed call or operation, 2 a usage error, and
// for run --delete-after the container's own exit code.
package kcictl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/internal/version"
	"github.com/openkci/openkci/pkg/kci"
	"github.com/openkci/openkci/pkg/kciconfig"
)

// Env is everything kcictl takes from its surroundings.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (KCI_ENDPOINT, KCI_PROFILE, …).
	Getenv func(string) string
	// HomeDir holds .kci/config.
	HomeDir string
	// Now is the clock (ages, time-outs, signing).
	Now func() time.Time
	// StderrIsTerminal turns progress lines into a spinner; StdinIsTerminal
	// makes configure prompt.
	StderrIsTerminal bool
	StdinIsTerminal  bool
	// PollInterval is how often wait, watch and follow ask (default 1s).
	PollInterval time.Duration
	// HTTPClient sends requests (default: kci's).
	HTTPClient *http.Client
	// KcidCredentialsFile is read for a key when none is configured: kcid's
	// generated key on this machine ("" for none).
	KcidCredentialsFile string
}

// OSEnv is the Env of a real process.
func OSEnv() Env {
	home, _ := os.UserHomeDir()
	return Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, HomeDir: home, Now: time.Now,
		StderrIsTerminal:    isTerminal(os.Stderr) && os.Getenv("TERM") != "dumb",
		StdinIsTerminal:     isTerminal(os.Stdin),
		KcidCredentialsFile: "/var/lib/kcid/credentials",
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// exitCode ends the process with a code and no message (the container's
// exit code of run --delete-after).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a wrong command line: printed with a pointer to --help.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// Main runs kcictl with args (without the program name) and returns the
// exit code. It never panics: an internal fault is reported as an error.
func Main(ctx context.Context, args []string, env Env) (code int) {
	env = env.withDefaults()
	defer func() {
		if r := recover(); r != nil {
			// A bug, but the user still gets one line, not a stack trace.
			fmt.Fprintf(env.Stderr, "Error: internal error: %v (please report it with the command you ran)\n", r)
			if env.Getenv("KCICTL_DEBUG") != "" {
				env.Stderr.Write(debug.Stack())
			}
			code = ExitError
		}
	}()
	a := &app{env: env}
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	return a.report(err)
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.PollInterval <= 0 {
		e.PollInterval = time.Second
	}
	return e
}

// report prints err and returns the exit code.
func (a *app) report(err error) int {
	w := a.env.Stderr
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "Error: %v\n", ue.err)
		if ue.cmd != nil {
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", ue.cmd.CommandPath())
		}
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		return 130 // interrupted, as a shell reports SIGINT
	}
	var ae *kci.APIError
	if errors.As(err, &ae) {
		msg := strings.Replace(err.Error(), ae.Error(), apiErrorText(ae), 1)
		fmt.Fprintf(w, "Error: %s\n", msg)
		fmt.Fprintf(w, "  RequestId: %s (HTTP %d, %s)\n", orNone(ae.RequestID), ae.StatusCode, ae.Action)
		if hint := a.hint(ae); hint != "" {
			fmt.Fprintf(w, "  Hint: %s\n", hint)
		}
		return ExitError
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		fmt.Fprintf(w, "Error: cannot reach %s: %v\n", a.endpointForHint(), op)
		fmt.Fprintln(w, "  Hint: is kcid running there? Set the endpoint with --endpoint, KCI_ENDPOINT or 'kcictl configure'.")
		return ExitError
	}
	if strings.HasPrefix(err.Error(), "unknown command ") {
		// cobra's own usage error, with its "Did you mean" suggestions.
		fmt.Fprintf(w, "Error: %v\nRun 'kcictl --help' for usage.\n", strings.TrimRight(err.Error(), "\n"))
		return ExitUsage
	}
	fmt.Fprintf(w, "Error: %v\n", err)
	return ExitError
}

func apiErrorText(ae *kci.APIError) string {
	if ae.Code == "" {
		return ae.Message
	}
	return ae.Code + ": " + ae.Message
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (a *app) hint(ae *kci.APIError) string {
	switch ae.Code {
	case "MissingAuthenticationToken":
		if a.settings != nil && a.settings.AccessKeyID == "" {
			return "no access key is configured: run 'kcictl configure', set KCI_ACCESS_KEY_ID and KCI_SECRET_ACCESS_KEY, or pass --credentials-file."
		}
	case kci.CodeInvalidClientTokenID, kci.CodeSignatureDoesNotMatch:
		if a.settings != nil {
			return fmt.Sprintf("check the access key (from %s) and the region %q (from %s); 'kcictl configure --list' shows where each setting comes from.",
				a.settings.Source["access_key_id"], a.settings.Region, a.settings.Source["region"])
		}
	}
	return ""
}

func (a *app) endpointForHint() string {
	if a.settings != nil {
		return a.settings.Endpoint
	}
	return kci.DefaultEndpoint
}

// app is one invocation: the Env, the global flags and, once needed, the
// resolved settings and client.
type app struct {
	env Env

	// global flags
	profile         string
	endpoint        string
	region          string
	credentialsFile string

	once     sync.Once
	settings *kciconfig.Settings
	client   *kci.Client
	initErr  error
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kcictl",
		Short: "Run and manage KCI container groups on kcid or Kingsoft Cloud",
		Long: `kcictl runs and manages KCI container groups (pods) through the KCI OpenAPI,
on OpenKCI's kcid or on Kingsoft Cloud.

Settings come from flags, then the environment (KCI_ENDPOINT, KCI_REGION,
KCI_ACCESS_KEY_ID, KCI_SECRET_ACCESS_KEY, KCI_PROFILE), then the profile in
~/.kci/config (written by 'kcictl configure'). On kcid's own machine, with
nothing configured, kcid's generated key in /var/lib/kcid/credentials is used.`,
		Example: `  kcictl run hello --image busybox:1.36 -- sh -c 'echo hello; sleep 3600'
  kcictl get
  kcictl logs hello -f
  kcictl delete hello`,
		Version:           version.String(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
	}
	// Before the completion command is made: it captures the output.
	root.SetIn(a.env.Stdin)
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{cmd: c, err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.profile, "profile", "", "profile of ~/.kci/config to use (default $KCI_PROFILE or \"default\")")
	pf.StringVar(&a.endpoint, "endpoint", "", "API endpoint, e.g. http://127.0.0.1:8080 (default $KCI_ENDPOINT, the profile's, or http://127.0.0.1:8080)")
	pf.StringVar(&a.region, "region", "", "region to sign requests for (default $KCI_REGION, the profile's, or cn-beijing-6)")
	pf.StringVar(&a.credentialsFile, "credentials-file", "", "read the access key from a file of KCI_ACCESS_KEY_ID=/KCI_SECRET_ACCESS_KEY= lines, such as kcid's /var/lib/kcid/credentials")

	root.AddGroup(&cobra.Group{ID: "groups", Title: "Container groups:"},
		&cobra.Group{ID: "networks", Title: "Networks:"}, &cobra.Group{ID: "other", Title: "Other commands:"})
	for _, c := range []*cobra.Command{
		a.runCommand(), a.createCommand(), a.getCommand(), a.describeCommand(),
		a.logsCommand(), a.eventsCommand(), a.execCommand(), a.topCommand(), a.deleteCommand(), a.waitCommand(),
	} {
		c.GroupID = "groups"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.vpcCommand(), a.subnetCommand(), a.securityGroupCommand(), a.networkCommand()} {
		c.GroupID = "networks"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.imageCacheCommand(), a.regionsCommand(), a.configureCommand(), a.versionCommand()} {
		c.GroupID = "other"
		root.AddCommand(c)
	}
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "Print a shell completion script (bash, zsh, fish, powershell)"
			c.Example = `  # bash, for this shell:
  source <(kcictl completion bash)
  # bash, for good:
  kcictl completion bash > /etc/bash_completion.d/kcictl
  # zsh:
  kcictl completion zsh > "${fpath[1]}/_kcictl"`
		}
	}
	return root
}

// kci returns the client, resolving settings on first use.
func (a *app) kci() (*kci.Client, error) {
	a.once.Do(func() {
		a.settings, a.initErr = a.loadSettings()
		if a.initErr != nil {
			return
		}
		s := a.settings
		a.client, a.initErr = kci.New(kci.Config{
			Endpoint: s.Endpoint, Region: s.Region,
			AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey,
			HTTPClient: a.env.HTTPClient, Clock: a.env.Now,
			UserAgent: "kcictl/" + version.String(),
		})
	})
	return a.client, a.initErr
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kcictl's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.env.Stdout, "kcictl %s\n", version.String())
			return nil
		},
	}
}

// noArgs and friends return usage errors (exit 2) instead of cobra's plain
// errors.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(cmd, "unexpected argument %q", args[0])
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef(cmd, "missing %s", what)
		}
		if len(args) > n {
			return usagef(cmd, "unexpected argument %q", args[n])
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef(cmd, "missing %s", what)
		}
		return nil
	}
}
