package kcictl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/openkci/openkci/pkg/kci"
)

// Profile keys of ~/.kci/config.
const (
	keyEndpoint        = "endpoint"
	keyRegion          = "region"
	keyAccessKeyID     = "access_key_id"
	keySecretAccessKey = "secret_access_key"
	keyCredentialsFile = "credentials_file"
)

var profileKeys = []string{keyEndpoint, keyRegion, keyAccessKeyID, keySecretAccessKey, keyCredentialsFile}

// settings are the resolved connection settings and where each came from.
type settings struct {
	Profile         string
	ConfigFile      string
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Source names the origin of each of endpoint, region, access_key_id.
	Source map[string]string
}

// configPath is ~/.kci/config, or $KCI_CONFIG_FILE.
func (a *app) configPath() string {
	if p := a.env.Getenv("KCI_CONFIG_FILE"); p != "" {
		return p
	}
	return filepath.Join(a.env.HomeDir, ".kci", "config")
}

func (a *app) profileName() (name string, explicit bool) {
	if a.profile != "" {
		return a.profile, true
	}
	if p := a.env.Getenv("KCI_PROFILE"); p != "" {
		return p, true
	}
	return "default", false
}

// loadSettings applies the precedence: flags, then environment, then the
// profile, then kcid's credentials file on this machine, then defaults.
func (a *app) loadSettings() (*settings, error) {
	name, explicit := a.profileName()
	path := a.configPath()
	file, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	prof, ok := file.profile(name)
	if !ok && explicit {
		return nil, fmt.Errorf("profile %q is not in %s (create it with 'kcictl configure --profile %s')", name, path, name)
	}
	s := &settings{Profile: name, ConfigFile: path, Source: map[string]string{}}
	profSrc := fmt.Sprintf("profile %s in %s", name, path)

	pick := func(key string, flag, envName string) string {
		switch {
		case flag != "":
			s.Source[key] = "--" + strings.ReplaceAll(key, "_", "-") + " flag"
			return flag
		case envName != "" && a.env.Getenv(envName) != "":
			s.Source[key] = "environment " + envName
			return a.env.Getenv(envName)
		case prof[key] != "":
			s.Source[key] = profSrc
			return prof[key]
		}
		return ""
	}
	s.Endpoint = pick(keyEndpoint, a.endpoint, "KCI_ENDPOINT")
	if s.Endpoint == "" {
		s.Endpoint, s.Source[keyEndpoint] = kci.DefaultEndpoint, "default"
	}
	s.Region = pick(keyRegion, a.region, "KCI_REGION")
	if s.Region == "" {
		s.Region, s.Source[keyRegion] = kci.DefaultRegion, "default"
	}

	// Keys: a file named by flag, the environment's pair, a file named by
	// the environment, the profile's pair, the profile's file, kcid's file.
	fromFile := func(p, src string) error {
		id, secret, err := readCredentialsFile(p)
		if err != nil {
			return err
		}
		s.AccessKeyID, s.SecretAccessKey, s.Source[keyAccessKeyID] = id, secret, src
		return nil
	}
	envID, envSecret := a.env.Getenv("KCI_ACCESS_KEY_ID"), a.env.Getenv("KCI_SECRET_ACCESS_KEY")
	switch {
	case a.credentialsFile != "":
		err = fromFile(a.credentialsFile, "--credentials-file "+a.credentialsFile)
	case envID != "" || envSecret != "":
		if envID == "" || envSecret == "" {
			return nil, errors.New("KCI_ACCESS_KEY_ID and KCI_SECRET_ACCESS_KEY must be set together")
		}
		s.AccessKeyID, s.SecretAccessKey, s.Source[keyAccessKeyID] = envID, envSecret, "environment KCI_ACCESS_KEY_ID"
	case a.env.Getenv("KCI_CREDENTIALS_FILE") != "":
		p := a.env.Getenv("KCI_CREDENTIALS_FILE")
		err = fromFile(p, "environment KCI_CREDENTIALS_FILE="+p)
	case prof[keyAccessKeyID] != "" || prof[keySecretAccessKey] != "":
		if prof[keyAccessKeyID] == "" || prof[keySecretAccessKey] == "" {
			return nil, fmt.Errorf("%s: profile %s has only one of access_key_id and secret_access_key", path, name)
		}
		s.AccessKeyID, s.SecretAccessKey, s.Source[keyAccessKeyID] = prof[keyAccessKeyID], prof[keySecretAccessKey], profSrc
	case prof[keyCredentialsFile] != "":
		err = fromFile(prof[keyCredentialsFile], profSrc+" (credentials_file "+prof[keyCredentialsFile]+")")
	case a.env.KcidCredentialsFile != "":
		// Only when readable: elsewhere requests simply go unsigned.
		if id, secret, ferr := readCredentialsFile(a.env.KcidCredentialsFile); ferr == nil {
			s.AccessKeyID, s.SecretAccessKey = id, secret
			s.Source[keyAccessKeyID] = "kcid's " + a.env.KcidCredentialsFile
		}
	}
	if err != nil {
		return nil, err
	}
	if s.Source[keyAccessKeyID] == "" {
		s.Source[keyAccessKeyID] = "none (requests are not signed)"
	}
	return s, nil
}

// readCredentialsFile reads KCI_ACCESS_KEY_ID= and KCI_SECRET_ACCESS_KEY=
// lines (kcid's credentials file; "export " prefixes and quotes allowed).
func readCredentialsFile(path string) (id, secret string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(k) {
		case "KCI_ACCESS_KEY_ID":
			id = v
		case "KCI_SECRET_ACCESS_KEY":
			secret = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("credentials file %s: %w", path, err)
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("credentials file %s: needs KCI_ACCESS_KEY_ID= and KCI_SECRET_ACCESS_KEY= lines", path)
	}
	return id, secret, nil
}

// configFile is ~/.kci/config: INI sections "[name]" or "[profile name]"
// with "key = value" lines, as the AWS CLI writes them.
type configFile struct {
	sections []*section
}

type section struct {
	name   string
	header string // as written
	keys   []string
	values map[string]string
}

func readConfigFile(path string) (*configFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &configFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseConfig(path, string(b))
}

func parseConfig(path, text string) (*configFile, error) {
	cf := &configFile{}
	var cur *section
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: bad section header %q", path, i+1, line)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			name = strings.TrimSpace(strings.TrimPrefix(name, "profile "))
			cur = cf.section(name, true)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key = value, got %q", path, i+1, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q is outside a [profile] section", path, i+1, line)
		}
		cur.set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return cf, nil
}

func (cf *configFile) section(name string, create bool) *section {
	for _, s := range cf.sections {
		if s.name == name {
			return s
		}
	}
	if !create {
		return nil
	}
	s := &section{name: name, values: map[string]string{}}
	cf.sections = append(cf.sections, s)
	return s
}

func (cf *configFile) profile(name string) (map[string]string, bool) {
	s := cf.section(name, false)
	if s == nil {
		return map[string]string{}, false
	}
	return s.values, true
}

func (s *section) set(k, v string) {
	if _, ok := s.values[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.values[k] = v
}

func (cf *configFile) write(w io.Writer) {
	fmt.Fprintln(w, "# kcictl profiles: [default] and [profile NAME] sections; see 'kcictl configure --help'.")
	for _, s := range cf.sections {
		header := "[" + s.name + "]"
		if s.name != "default" {
			header = "[profile " + s.name + "]"
		}
		fmt.Fprintf(w, "\n%s\n", header)
		for _, k := range s.keys {
			if s.values[k] != "" {
				fmt.Fprintf(w, "%s = %s\n", k, s.values[k])
			}
		}
	}
}

// save writes the file with mode 0600 (it holds secrets), atomically.
func (cf *configFile) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	cf.write(&b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
