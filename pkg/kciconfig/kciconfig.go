// Package kciconfig resolves where a KCI client connects and with which
// key: flags, the KCI_* environment, a profile of ~/.kci/config (INI
// sections as the AWS CLI writes them), a credentials file of
// KCI_ACCESS_KEY_ID=/KCI_SECRET_ACCESS_KEY= lines, kcid's generated key on
// its own machine, and the defaults. kcictl and kci-virtual-kubelet read
// their settings through it, so both take the same variables and profiles
// (docs/kcictl.md, Configuration). It owns the profiles file's format too:
// reading, editing and writing it back with mode 0600.
package kciconfig

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
	KeyEndpoint        = "endpoint"
	KeyRegion          = "region"
	KeyAccessKeyID     = "access_key_id"
	KeySecretAccessKey = "secret_access_key"
	KeyCredentialsFile = "credentials_file"
)

// ProfileKeys are the keys a profile may hold, in the order they are
// written.
var ProfileKeys = []string{KeyEndpoint, KeyRegion, KeyAccessKeyID, KeySecretAccessKey, KeyCredentialsFile}

// DefaultKcidCredentialsFile is where kcid keeps the key it generated.
const DefaultKcidCredentialsFile = "/var/lib/kcid/credentials"

// Sources are where Load looks, besides the profiles file.
type Sources struct {
	// Flags, highest precedence; empty means not given.
	Profile, Endpoint, Region, CredentialsFile string
	// Getenv reads the environment (KCI_ENDPOINT, KCI_PROFILE, …); nil is
	// os.Getenv.
	Getenv func(string) string
	// HomeDir holds .kci/config; empty is the user's home directory.
	HomeDir string
	// KcidCredentialsFile is read for a key when none is configured, if it
	// is readable (DefaultKcidCredentialsFile on kcid's machine; empty
	// skips it).
	KcidCredentialsFile string
}

func (src *Sources) getenv(k string) string {
	if src.Getenv == nil {
		return os.Getenv(k)
	}
	return src.Getenv(k)
}

// Settings are the resolved connection settings and where each came from.
type Settings struct {
	Profile         string
	ConfigFile      string
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Source names the origin of each of endpoint, region, access_key_id.
	Source map[string]string
}

// Config is a kci.Config with the settings' endpoint, region and key.
func (s *Settings) Config() kci.Config {
	return kci.Config{Endpoint: s.Endpoint, Region: s.Region, AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey}
}

// ConfigPath is ~/.kci/config, or $KCI_CONFIG_FILE.
func (src *Sources) ConfigPath() string {
	if p := src.getenv("KCI_CONFIG_FILE"); p != "" {
		return p
	}
	home := src.HomeDir
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".kci", "config")
}

// ProfileName is the profile in use: the flag, else $KCI_PROFILE, else
// "default" (explicit is false only then).
func (src *Sources) ProfileName() (name string, explicit bool) {
	if src.Profile != "" {
		return src.Profile, true
	}
	if p := src.getenv("KCI_PROFILE"); p != "" {
		return p, true
	}
	return "default", false
}

// Load applies the precedence: flags, then environment, then the
// profile, then kcid's credentials file on this machine, then defaults.
func Load(src Sources) (*Settings, error) {
	name, explicit := src.ProfileName()
	path := src.ConfigPath()
	file, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	prof, ok := file.Profile(name)
	if !ok && explicit {
		return nil, fmt.Errorf("profile %q is not in %s (create it with 'kcictl configure --profile %s')", name, path, name)
	}
	s := &Settings{Profile: name, ConfigFile: path, Source: map[string]string{}}
	profSrc := fmt.Sprintf("profile %s in %s", name, path)

	pick := func(key string, flag, envName string) string {
		switch {
		case flag != "":
			s.Source[key] = "--" + strings.ReplaceAll(key, "_", "-") + " flag"
			return flag
		case envName != "" && src.getenv(envName) != "":
			s.Source[key] = "environment " + envName
			return src.getenv(envName)
		case prof[key] != "":
			s.Source[key] = profSrc
			return prof[key]
		}
		return ""
	}
	s.Endpoint = pick(KeyEndpoint, src.Endpoint, "KCI_ENDPOINT")
	if s.Endpoint == "" {
		s.Endpoint, s.Source[KeyEndpoint] = kci.DefaultEndpoint, "default"
	}
	s.Region = pick(KeyRegion, src.Region, "KCI_REGION")
	if s.Region == "" {
		s.Region, s.Source[KeyRegion] = kci.DefaultRegion, "default"
	}

	// Keys: a file named by flag, the environment's pair, a file named by
	// the environment, the profile's pair, the profile's file, kcid's file.
	fromFile := func(p, src string) error {
		id, secret, err := ReadCredentialsFile(p)
		if err != nil {
			return err
		}
		s.AccessKeyID, s.SecretAccessKey, s.Source[KeyAccessKeyID] = id, secret, src
		return nil
	}
	envID, envSecret := src.getenv("KCI_ACCESS_KEY_ID"), src.getenv("KCI_SECRET_ACCESS_KEY")
	switch {
	case src.CredentialsFile != "":
		err = fromFile(src.CredentialsFile, "--credentials-file "+src.CredentialsFile)
	case envID != "" || envSecret != "":
		if envID == "" || envSecret == "" {
			return nil, errors.New("KCI_ACCESS_KEY_ID and KCI_SECRET_ACCESS_KEY must be set together")
		}
		s.AccessKeyID, s.SecretAccessKey, s.Source[KeyAccessKeyID] = envID, envSecret, "environment KCI_ACCESS_KEY_ID"
	case src.getenv("KCI_CREDENTIALS_FILE") != "":
		p := src.getenv("KCI_CREDENTIALS_FILE")
		err = fromFile(p, "environment KCI_CREDENTIALS_FILE="+p)
	case prof[KeyAccessKeyID] != "" || prof[KeySecretAccessKey] != "":
		if prof[KeyAccessKeyID] == "" || prof[KeySecretAccessKey] == "" {
			return nil, fmt.Errorf("%s: profile %s has only one of access_key_id and secret_access_key", path, name)
		}
		s.AccessKeyID, s.SecretAccessKey, s.Source[KeyAccessKeyID] = prof[KeyAccessKeyID], prof[KeySecretAccessKey], profSrc
	case prof[KeyCredentialsFile] != "":
		err = fromFile(prof[KeyCredentialsFile], profSrc+" (credentials_file "+prof[KeyCredentialsFile]+")")
	case src.KcidCredentialsFile != "":
		// Only when readable: elsewhere requests simply go unsigned.
		if id, secret, ferr := ReadCredentialsFile(src.KcidCredentialsFile); ferr == nil {
			s.AccessKeyID, s.SecretAccessKey = id, secret
			s.Source[KeyAccessKeyID] = "kcid's " + src.KcidCredentialsFile
		}
	}
	if err != nil {
		return nil, err
	}
	if s.Source[KeyAccessKeyID] == "" {
		s.Source[KeyAccessKeyID] = "none (requests are not signed)"
	}
	return s, nil
}

// ReadCredentialsFile reads KCI_ACCESS_KEY_ID= and KCI_SECRET_ACCESS_KEY=
// lines (kcid's credentials file; "export " prefixes and quotes allowed).
func ReadCredentialsFile(path string) (id, secret string, err error) {
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

// File is ~/.kci/config: INI sections "[name]" or "[profile name]" with
// "key = value" lines, as the AWS CLI writes them.
type File struct {
	sections []*Section
}

// Section is one profile of a File.
type Section struct {
	name   string
	header string // as written
	keys   []string
	values map[string]string
}

// ReadFile reads a profiles file; a missing file is an empty one.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, string(b))
}

// Parse reads a profiles file's text; path only names it in errors.
func Parse(path, text string) (*File, error) {
	cf := &File{}
	var cur *Section
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
			cur = cf.Section(name, true)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key = value, got %q", path, i+1, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q is outside a [profile] section", path, i+1, line)
		}
		cur.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return cf, nil
}

// Section returns the profile name, made empty at the end when create is
// set and it is missing (else nil).
func (cf *File) Section(name string, create bool) *Section {
	for _, s := range cf.sections {
		if s.name == name {
			return s
		}
	}
	if !create {
		return nil
	}
	s := &Section{name: name, values: map[string]string{}}
	cf.sections = append(cf.sections, s)
	return s
}

// Profile returns the keys of profile name and whether it exists.
func (cf *File) Profile(name string) (map[string]string, bool) {
	s := cf.Section(name, false)
	if s == nil {
		return map[string]string{}, false
	}
	return s.values, true
}

// Get returns the value of key k ("" if unset).
func (s *Section) Get(k string) string { return s.values[k] }

// Set sets key k; an empty value is not written.
func (s *Section) Set(k, v string) {
	if _, ok := s.values[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.values[k] = v
}

// Write writes the file's text.
func (cf *File) Write(w io.Writer) {
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

// Save writes the file with mode 0600 (it holds secrets), atomically.
func (cf *File) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	cf.Write(&b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
