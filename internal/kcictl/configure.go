package kcictl

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkci/openkci/pkg/kci"
	"github.com/openkci/openkci/pkg/kciconfig"
)

func (a *app) configureCommand() *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Write a profile of ~/.kci/config interactively, or show the settings in use",
		Long: `configure asks for the endpoint, region, access key ID and secret access key
and writes them to a profile of ~/.kci/config (mode 0600; $KCI_CONFIG_FILE
names another file). Press Enter to keep the value shown in brackets. Other
profiles in the file are kept.

Values given with --endpoint, --region or --credentials-file become the
proposed answers, so

  kcictl configure --endpoint http://10.0.0.5:8080 --credentials-file creds </dev/null

writes a profile without asking anything.

The file looks like the AWS CLI's:

  [default]
  endpoint = http://127.0.0.1:8080
  region = cn-beijing-6
  access_key_id = AKLT...
  secret_access_key = ...

  [profile prod]
  endpoint = https://kci.api.ksyun.com
  region = cn-beijing-6
  credentials_file = /etc/kci/prod-credentials

Precedence, highest first: flags, the environment (KCI_ENDPOINT, KCI_REGION,
KCI_ACCESS_KEY_ID + KCI_SECRET_ACCESS_KEY, KCI_CREDENTIALS_FILE), the profile
(--profile, else $KCI_PROFILE, else "default"), kcid's own
/var/lib/kcid/credentials when readable, and the defaults
(http://127.0.0.1:8080, cn-beijing-6).`,
		Example: `  kcictl configure
  kcictl configure --profile prod
  kcictl configure --list`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				return a.configureList()
			}
			return a.configureWrite()
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "show the settings in use and where each comes from")
	return cmd
}

func (a *app) configureList() error {
	if _, err := a.kci(); err != nil {
		return err
	}
	s := a.settings
	t := newTable(a.env.Stdout, "NAME", "VALUE", "SOURCE")
	t.row("profile", s.Profile, s.ConfigFile)
	t.row("endpoint", s.Endpoint, s.Source[kciconfig.KeyEndpoint])
	t.row("region", s.Region, s.Source[kciconfig.KeyRegion])
	t.row("access_key_id", orNone(mask(s.AccessKeyID)), s.Source[kciconfig.KeyAccessKeyID])
	t.row("secret_access_key", orNone(mask(s.SecretAccessKey)), s.Source[kciconfig.KeyAccessKeyID])
	return t.flush()
}

// mask shows only the last 4 characters of a key, as the AWS CLI does.
func mask(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", 16) + s[len(s)-4:]
}

func (a *app) configureWrite() error {
	src := a.sources()
	name, _ := src.ProfileName()
	path := src.ConfigPath()
	cf, err := kciconfig.ReadFile(path)
	if err != nil {
		return err
	}
	sec := cf.Section(name, true)
	// Proposed answers: flags and files given now, then what the profile has.
	proposed := map[string]string{}
	for _, k := range kciconfig.ProfileKeys {
		proposed[k] = sec.Get(k)
	}
	if a.endpoint != "" {
		proposed[kciconfig.KeyEndpoint] = a.endpoint
	}
	if a.region != "" {
		proposed[kciconfig.KeyRegion] = a.region
	}
	if a.credentialsFile != "" {
		id, secret, err := kciconfig.ReadCredentialsFile(a.credentialsFile)
		if err != nil {
			return err
		}
		proposed[kciconfig.KeyAccessKeyID], proposed[kciconfig.KeySecretAccessKey] = id, secret
	}
	if proposed[kciconfig.KeyEndpoint] == "" {
		proposed[kciconfig.KeyEndpoint] = kci.DefaultEndpoint
	}
	if proposed[kciconfig.KeyRegion] == "" {
		proposed[kciconfig.KeyRegion] = kci.DefaultRegion
	}

	in := bufio.NewReader(a.env.Stdin)
	w := a.env.Stderr
	prompts := []struct{ key, label string }{
		{kciconfig.KeyEndpoint, "KCI endpoint"},
		{kciconfig.KeyRegion, "Region"},
		{kciconfig.KeyAccessKeyID, "Access key ID"},
		{kciconfig.KeySecretAccessKey, "Secret access key"},
	}
	for _, p := range prompts {
		shown := proposed[p.key]
		if p.key == kciconfig.KeyAccessKeyID || p.key == kciconfig.KeySecretAccessKey {
			shown = mask(shown)
		}
		fmt.Fprintf(w, "%s [%s]: ", p.label, orNone(shown))
		line, err := in.ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		if !a.env.StdinIsTerminal {
			fmt.Fprintln(w) // keep the transcript readable when piped
		}
		if v := strings.TrimSpace(line); v != "" {
			proposed[p.key] = v
		}
	}
	if _, err := kci.New(kci.Config{Endpoint: proposed[kciconfig.KeyEndpoint], AccessKeyID: proposed[kciconfig.KeyAccessKeyID], SecretAccessKey: proposed[kciconfig.KeySecretAccessKey]}); err != nil {
		return fmt.Errorf("not saved: %w", err)
	}
	for _, k := range []string{kciconfig.KeyEndpoint, kciconfig.KeyRegion, kciconfig.KeyAccessKeyID, kciconfig.KeySecretAccessKey} {
		sec.Set(k, proposed[k])
	}
	if proposed[kciconfig.KeyAccessKeyID] != "" {
		// The key is in the profile now; a file named before would shadow it.
		sec.Set(kciconfig.KeyCredentialsFile, "")
	}
	if err := cf.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(w, "Saved profile %s in %s\n", name, path)
	return nil
}
