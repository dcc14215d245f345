package kcictl

import (
	"github.com/openkci/openkci/pkg/kciconfig"
)

// sources are where kcictl's settings come from: its global flags and its
// Env (kciconfig applies the precedence, docs/kcictl.md).
func (a *app) sources() kciconfig.Sources {
	return kciconfig.Sources{
		Profile: a.profile, Endpoint: a.endpoint, Region: a.region, CredentialsFile: a.credentialsFile,
		Getenv: a.env.Getenv, HomeDir: a.env.HomeDir, KcidCredentialsFile: a.env.KcidCredentialsFile,
	}
}

func (a *app) loadSettings() (*kciconfig.Settings, error) { return kciconfig.Load(a.sources()) }
