// Package app is kcid's composition root: it loads the config, opens the
// store, sets up accounts, keys and networks, builds the runtime, service
// and API, and serves until told to stop. It is the only package that
// knows every concrete implementation.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openkci/openkci/internal/api"
	"github.com/openkci/openkci/internal/auth"
	"github.com/openkci/openkci/internal/clock"
	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/console"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/exec"
	"github.com/openkci/openkci/internal/imagecache"
	"github.com/openkci/openkci/internal/metrics"
	"github.com/openkci/openkci/internal/service"
	"github.com/openkci/openkci/internal/store"
)

// Options are kcid serve's flags and environment.
type Options struct {
	Listen     string
	DataDir    string
	ConfigPath string
	// Config, when set, is used instead of loading ConfigPath.
	Config *config.Config
	// Insecure turns authentication off.
	Insecure bool
	// AccessKeyID and SecretAccessKey (KCID_ACCESS_KEY_ID,
	// KCID_SECRET_ACCESS_KEY) give the default account a key.
	AccessKeyID     string
	SecretAccessKey string
	// Runtime runs groups. Required.
	Runtime service.Runtime
	// Groups, when set, keeps the groups instead of the local database (a
	// cluster-backed store: the cluster is then the only store of groups).
	// Whether the service allocates addresses and checks capacity follows
	// from the store's capabilities (service.IPAllocator,
	// service.CapacityTracker).
	Groups service.Store
	// HostRoutes, when set, lists the routes and link addresses of the
	// host that kcid does not own (the containerd runtime's groups are
	// reached through them): configured subnets overlapping one are
	// refused, and default networks are chosen around them.
	HostRoutes func() ([]HostRoute, error)
	// DefaultVPCFirst is the first /16 tried for a default network
	// (10.88.0.0/16); later blocks follow it.
	DefaultVPCFirst netip.Prefix
	Logger          *slog.Logger
	// Out receives the one-time messages a person must read (a generated
	// key, default networks).
	Out   io.Writer
	Clock clock.Clock
	// Metrics records kcid's metrics; the runtime may record into the same
	// one (cmd/kcid makes it first). Nil: New makes one.
	Metrics *metrics.Recorder
}

// App is a running kcid.
type App struct {
	cfg   *config.Config
	store *store.Store
	svc   *service.Service
	// caches is nil when the runtime cannot hold images for caches.
	caches  *imagecache.Manager
	handler http.Handler
	// metricsHandler serves /metrics on the config's metrics.listen; nil
	// when it is served with the API.
	metricsHandler http.Handler
	log            *slog.Logger
	opts           Options
}

// New builds the app and recovers state. Close it when done.
func New(ctx context.Context, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	o.Clock = clock.Or(o.Clock)
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Runtime == nil {
		return nil, errors.New("app: no runtime")
	}
	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = config.Load(o.ConfigPath); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(o.DataDir)
	if err != nil {
		return nil, err
	}
	if m := st.Migrated(); m.From == 1 {
		o.Logger.Warn("upgraded the state to a new schema; the file as it was is kept, with the plain-text secrets of the old schema: delete it once this kcid runs fine (docs/state.md)",
			"from_schema", m.From, "to_schema", m.To, "backup", m.Backup)
	} else if m.From != 0 {
		o.Logger.Info("upgraded the state to a new schema; the file as it was is kept for a downgrade (a kcid of the old schema refuses the new one): delete it once this kcid runs fine (docs/state.md)",
			"from_schema", m.From, "to_schema", m.To, "backup", m.Backup)
	}
	a := &App{cfg: cfg, store: st, log: o.Logger, opts: o}
	keys, defaultAccount, err := a.setupKeys()
	if err != nil {
		st.Close()
		return nil, err
	}
	nets, err := a.setupNetworks(defaultAccount)
	if err != nil {
		st.Close()
		return nil, err
	}
	cpu, mem := nodeCapacity(cfg.Node)
	o.Logger.Info("node capacity for groups", "cpu", cpu, "memory_gib", mem,
		"cpu_overcommit", cfg.Node.CPUOvercommit, "memory_overcommit", cfg.Node.MemoryOvercommit,
		"gpus", len(cfg.Node.GPUs.Devices), "gpu_type", cfg.Node.GPUs.Type, "gpu_resource", cfg.Node.GPUs.KubernetesResource)
	var groups service.Store = st
	if o.Groups != nil {
		groups = o.Groups
	}
	var caches service.ImageCaches
	var apiCaches api.ImageCaches
	if puller, ok := o.Runtime.(imagecache.Puller); ok {
		a.caches = imagecache.New(imagecache.Options{Store: st, Puller: puller, Clock: o.Clock, Logger: o.Logger})
		if err := a.caches.Start(ctx); err != nil {
			st.Close()
			return nil, err
		}
		caches, apiCaches = a.caches, a.caches
	}
	a.svc = service.New(service.Options{
		Store: groups, Runtime: o.Runtime, Networks: nets, Disks: cfg.CoreDisks(), ImageCaches: caches,
		MaxDisksPerAccount: cfg.OnDemandDisks.MaxPerAccount,
		CPU:                cpu, Memory: mem, CPUOvercommit: cfg.Node.CPUOvercommit, MemoryOvercommit: cfg.Node.MemoryOvercommit,
		GPUDevices: cfg.Node.GPUs.Devices, GPUsScheduled: cfg.Node.GPUs.KubernetesResource != "",
		Clock: o.Clock, Logger: o.Logger, Observer: o.Metrics,
		UsageResolution: time.Duration(cfg.Metrics.UsageResolution),
		Policy: service.Policy{PrivilegedAccounts: cfg.Policy.PrivilegedAccounts, HostPIDAccounts: cfg.Policy.HostPIDAccounts,
			HostPathPrefixes: cfg.Policy.HostPathPrefixes},
	})
	if err := a.svc.Start(ctx); err != nil {
		if a.caches != nil {
			a.caches.Close()
		}
		st.Close()
		return nil, err
	}
	regions := map[string]bool{}
	for _, r := range cfg.Regions {
		regions[r.Name] = true
	}
	var verifier *auth.Verifier
	if o.Insecure {
		o.Logger.Warn("authentication is OFF (--insecure-no-auth): every caller acts as the default account", "account", defaultAccount)
	} else {
		verifier = &auth.Verifier{Keys: keys, Now: o.Clock.Now, Regions: func(r string) bool { return regions[r] }}
	}
	apiHandler := api.New(api.Options{
		Service: a.svc, ImageCaches: apiCaches, Verifier: verifier, Insecure: o.Insecure, DefaultAccount: defaultAccount,
		Regions: cfg.Regions, RateLimit: cfg.RateLimit, Limits: cfg.Limits, Disks: cfg.OnDemandDisks, Logger: o.Logger,
		Packages:              config.OfferedPackages(cfg.Packages, cpu, mem),
		GPUs:                  apiGPUs(cfg.Node.GPUs),
		AcceptUnenforcedRules: cfg.AcceptUnenforcedSecurityGroupRules,
		Exec: &api.ExecOptions{
			Tokens:      exec.NewTokens(time.Duration(cfg.Exec.TokenTTL), o.Clock),
			Sessions:    exec.NewSessions(a.svc, cfg.Exec.MaxSessionsPerAccount, o.Logger),
			BaseURI:     cfg.Exec.BaseURI,
			SyncTimeout: time.Duration(cfg.Exec.SyncTimeout),
		},
		Observer: o.Metrics,
	})
	o.Metrics.Watch(a.svc, o.Logger)
	metricsHandler := o.Metrics.Handler(cfg.Metrics.Token, o.Logger)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", api.Healthz)
	// The exec socket: its single-use token, from an authenticated
	// ExecContainerCommand, is its authentication.
	mux.HandleFunc(api.ExecPath+"{token}", apiHandler.ServeExecSocket)
	if cfg.Metrics.Listen == "" {
		mux.Handle("GET /metrics", metricsHandler)
	} else {
		m := http.NewServeMux()
		m.Handle("GET /metrics", metricsHandler)
		a.metricsHandler = m
	}
	// The web console: static files; the page calls the API above with
	// requests it signs itself (docs/console.md).
	consoleHandler := console.Handler()
	mux.Handle("GET "+console.Path, consoleHandler)
	mux.Handle("GET "+strings.TrimSuffix(console.Path, "/"), consoleHandler)
	mux.Handle("/", apiHandler)
	a.handler = mux
	return a, nil
}

// Handler is the HTTP handler of the API.
func (a *App) Handler() http.Handler { return a.handler }

// Store exposes the store (for benchmarks' bulk set-up).
func (a *App) Store() *store.Store { return a.store }

// Service exposes the service layer (for tests and benchmarks).
func (a *App) Service() *service.Service { return a.svc }

// Serve serves on l until ctx is done, then shuts down gracefully. The
// config's limits cap l's connections and bound reading heads; the API
// handler bounds bodies (docs/api.md, "Limits").
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	lim := a.cfg.Limits.WithDefaults() // a Config not from config.Load has none
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: time.Duration(lim.HeaderTimeout),
		// No ReadTimeout: the handler puts its own deadline on the body,
		// and one still set while an action runs would cancel it.
		WriteTimeout:   time.Duration(lim.WriteTimeout),
		IdleTimeout:    time.Duration(lim.IdleTimeout),
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	l = api.LimitListener(l, lim.MaxConns, lim.MaxConnsPerClient, a.log)
	errc := make(chan error, 2)
	servers := []*http.Server{srv}
	if a.metricsHandler != nil {
		ml, err := net.Listen("tcp", a.cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen %s: %w", a.cfg.Metrics.Listen, err)
		}
		msrv := &http.Server{Handler: a.metricsHandler, ReadHeaderTimeout: time.Duration(lim.HeaderTimeout),
			WriteTimeout: time.Duration(lim.WriteTimeout), IdleTimeout: time.Duration(lim.IdleTimeout), MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(api.LimitListener(ml, lim.MaxConns, lim.MaxConnsPerClient, a.log)) }()
		a.log.Info("metrics serving", "listen", ml.Addr().String())
	}
	go func() { errc <- srv.Serve(l) }()
	a.log.Info("kcid serving", "listen", l.Addr().String(), "data_dir", a.opts.DataDir)
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.log.Info("shutting down")
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(shutdownCtx))
	}
	if serveErr != nil {
		return serveErr
	}
	return errors.Join(errs...)
}

// Close stops background work and closes the store.
func (a *App) Close() error {
	a.svc.Close()
	if a.caches != nil {
		a.caches.Close()
	}
	return a.store.Close()
}

// credentialsFile is where a generated key is kept, shell-sourceable.
const credentialsFile = "credentials"

// setupKeys collects the access keys and names the default account.
func (a *App) setupKeys() (auth.StaticKeys, string, error) {
	keys := auth.StaticKeys{}
	defaultAccount := config.DefaultAccountID
	if len(a.cfg.Accounts) > 0 {
		defaultAccount = a.cfg.Accounts[0].ID
	}
	for _, acc := range a.cfg.Accounts {
		for _, k := range acc.Keys {
			keys[k.AccessKeyID] = auth.Credential{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, AccountID: acc.ID, Actions: k.Actions}
		}
	}
	if a.opts.AccessKeyID != "" || a.opts.SecretAccessKey != "" {
		if a.opts.AccessKeyID == "" || a.opts.SecretAccessKey == "" {
			return nil, "", errors.New("KCID_ACCESS_KEY_ID and KCID_SECRET_ACCESS_KEY must be set together")
		}
		keys[a.opts.AccessKeyID] = auth.Credential{AccessKeyID: a.opts.AccessKeyID, SecretAccessKey: a.opts.SecretAccessKey, AccountID: defaultAccount}
	}
	if len(keys) > 0 || a.opts.Insecure {
		return keys, defaultAccount, nil
	}
	// No key anywhere: use the one generated on first start, or make it.
	path := filepath.Join(a.opts.DataDir, credentialsFile)
	var gen struct{ AccessKeyID, SecretAccessKey string }
	var found bool
	var err error
	gen.AccessKeyID, gen.SecretAccessKey, found, err = a.store.GeneratedKey()
	if err != nil {
		return nil, "", err
	}
	if !found {
		gen.AccessKeyID = "AKLT" + randomString(22)
		gen.SecretAccessKey = randomString(40)
		content := fmt.Sprintf("# kcid access key of account %s, generated on first start.\nKCI_ACCESS_KEY_ID=%s\nKCI_SECRET_ACCESS_KEY=%s\n",
			defaultAccount, gen.AccessKeyID, gen.SecretAccessKey)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, "", fmt.Errorf("write %s: %w", path, err)
		}
		if err := a.store.PutGeneratedKey(gen.AccessKeyID, gen.SecretAccessKey); err != nil {
			return nil, "", err
		}
		fmt.Fprintf(a.opts.Out, "Generated an access key for account %s (kept in %s):\n  Access key ID:     %s\n  Secret access key: %s\n",
			defaultAccount, path, gen.AccessKeyID, gen.SecretAccessKey)
	} else {
		a.log.Info("using the access key generated on first start", "file", path, "access_key_id", gen.AccessKeyID)
	}
	keys[gen.AccessKeyID] = auth.Credential{AccessKeyID: gen.AccessKeyID, SecretAccessKey: gen.SecretAccessKey, AccountID: defaultAccount}
	return keys, defaultAccount, nil
}

func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// HostRoute is a route or link address of the host.
type HostRoute struct {
	Prefix netip.Prefix
	Device string
}

func (h HostRoute) String() string { return "route " + h.Prefix.String() + " dev " + h.Device }

// overlapping returns the first route that overlaps p.
func overlapping(routes []HostRoute, p netip.Prefix) (HostRoute, bool) {
	for _, r := range routes {
		if r.Prefix.Overlaps(p) {
			return r, true
		}
	}
	return HostRoute{}, false
}

// setupNetworks registers the configured networks and, for accounts that
// have none, the default network made on first start.
func (a *App) setupNetworks(defaultAccount string) (*service.Networks, error) {
	var routes []HostRoute
	if a.opts.HostRoutes != nil {
		var err error
		if routes, err = a.opts.HostRoutes(); err != nil {
			return nil, fmt.Errorf("read the host's routes (to keep subnets off them): %w", err)
		}
	}
	for _, s := range a.cfg.Subnets {
		if r, ok := overlapping(routes, netip.MustParsePrefix(s.CIDR)); ok {
			return nil, fmt.Errorf("subnet %s (%s) in the config overlaps %s, which is not kcid's: groups there would be unreachable from this host; "+
				"give the subnet (and its VPC) a CIDR that overlaps no route (ip -4 route), or, if %s is a leftover, remove it (ip link delete %s)", s.ID, s.CIDR, r, r.Device, r.Device)
		}
	}
	nets := service.NewNetworks()
	created := a.opts.Clock.Now().UTC()
	vpcs := map[string]config.VPC{}
	var taken []netip.Prefix
	for _, v := range a.cfg.VPCs {
		vpcs[v.ID] = v
		nets.AddVPC(core.VPC{ID: v.ID, Name: v.Name, AccountID: v.Account, Region: v.Region, CIDR: v.CIDR, Configured: true, CreatedAt: created})
		taken = append(taken, netip.MustParsePrefix(v.CIDR))
	}
	for _, s := range a.cfg.Subnets {
		gw := s.Gateway
		if gw == "" {
			gw = netip.MustParsePrefix(s.CIDR).Masked().Addr().Next().String()
		}
		nets.AddSubnet(core.Subnet{ID: s.ID, Name: s.Name, VpcID: s.VPC, CIDR: s.CIDR, Zone: s.Zone, Gateway: gw, DNS1: s.DNS1, DNS2: s.DNS2, Configured: true, CreatedAt: created})
	}
	// configured are the security groups of the config and of default
	// networks, with their accounts and VPC blocks (for their default rules).
	var configured []configuredSG
	for _, g := range a.cfg.SecurityGroups {
		nets.AddSecurityGroup(core.SecurityGroup{ID: g.ID, Name: g.Name, VpcID: g.VPC, Configured: true, CreatedAt: created})
		configured = append(configured, configuredSG{id: g.ID, account: vpcs[g.VPC].Account, vpcCIDR: vpcs[g.VPC].CIDR})
	}
	apiVPCs, err := a.loadAPINetworks(nets, taken)
	if err != nil {
		return nil, err
	}
	taken = append(taken, apiVPCs...)
	accounts := []string{defaultAccount}
	for _, acc := range a.cfg.Accounts[min(1, len(a.cfg.Accounts)):] {
		accounts = append(accounts, acc.ID)
	}
	// Default networks of earlier starts keep their CIDRs: collect them first.
	defaults := map[string]store.DefaultNetwork{}
	for _, acc := range accounts {
		dn, found, err := a.store.DefaultNetwork(acc)
		if err != nil {
			return nil, err
		}
		if found {
			defaults[acc] = dn
			taken = append(taken, netip.MustParsePrefix(dn.VPC.CIDR))
			// Its groups keep their addresses: say what is wrong, but serve.
			if r, ok := overlapping(routes, netip.MustParsePrefix(dn.Subnet.CIDR)); ok {
				a.log.Warn("the default subnet overlaps a route kcid does not own: its groups may be unreachable from this host; remove the link if it is a leftover",
					"account", acc, "subnet", dn.Subnet.ID, "cidr", dn.Subnet.CIDR, "route", r.Prefix.String(), "device", r.Device)
			}
		}
	}
	for _, acc := range accounts {
		if nets.HasVPCs(acc) {
			continue
		}
		dn, ok := defaults[acc]
		if !ok {
			cidr, skipped, err := freeVPCRange(a.opts.DefaultVPCFirst, taken, routes)
			if err != nil {
				return nil, err
			}
			taken = append(taken, cidr)
			region := a.cfg.Regions[0]
			subnet := netip.PrefixFrom(cidr.Addr(), 20)
			dn = store.DefaultNetwork{
				VPC:           core.VPC{ID: uuid.NewString(), Name: "default", AccountID: acc, Region: region.Name, CIDR: cidr.String(), IsDefault: true, CreatedAt: created},
				SecurityGroup: core.SecurityGroup{Name: "default", CreatedAt: created},
				Subnet: core.Subnet{ID: uuid.NewString(), Name: "default", CIDR: subnet.String(), Zone: region.Zones[0],
					Gateway: subnet.Addr().Next().String(), CreatedAt: created},
			}
			dn.SecurityGroup.ID = uuid.NewString()
			dn.Subnet.VpcID, dn.SecurityGroup.VpcID = dn.VPC.ID, dn.VPC.ID
			if err := a.store.PutDefaultNetwork(acc, dn); err != nil {
				return nil, err
			}
			fmt.Fprintf(a.opts.Out, "Created the default network of account %s in %s:\n  VpcId:           %s (%s)\n  SubnetId:        %s (%s, zone %s)\n  SecurityGroupId: %s\n",
				acc, region.Name, dn.VPC.ID, dn.VPC.CIDR, dn.Subnet.ID, dn.Subnet.CIDR, dn.Subnet.Zone, dn.SecurityGroup.ID)
			if len(routes) > 0 || a.opts.HostRoutes != nil {
				fmt.Fprintf(a.opts.Out, "  (%s overlaps no route of this host", dn.VPC.CIDR)
				for _, sk := range skipped {
					fmt.Fprintf(a.opts.Out, "; %s skipped: %s", sk.prefix, sk.reason)
				}
				fmt.Fprintln(a.opts.Out, ")")
			}
			a.log.Info("created a default network", "account", acc, "vpc_cidr", dn.VPC.CIDR, "subnet_cidr", dn.Subnet.CIDR, "skipped", len(skipped))
		}
		dn.VPC.Configured, dn.Subnet.Configured, dn.SecurityGroup.Configured = true, true, true
		nets.AddVPC(dn.VPC)
		nets.AddSubnet(dn.Subnet)
		nets.AddSecurityGroup(dn.SecurityGroup)
		configured = append(configured, configuredSG{id: dn.SecurityGroup.ID, account: acc, vpcCIDR: dn.VPC.CIDR})
	}
	if err := a.loadSecurityGroups(nets, configured); err != nil {
		return nil, err
	}
	nets.SetStore(a.store)
	if a.opts.HostRoutes != nil {
		nets.SetHostRoutes(func() ([]netip.Prefix, error) {
			routes, err := a.opts.HostRoutes()
			out := make([]netip.Prefix, 0, len(routes))
			for _, r := range routes {
				out = append(out, r.Prefix)
			}
			return out, err
		})
	}
	return nets, nil
}

// loadAPINetworks registers the VPCs and subnets made through the API and
// returns the VPCs' blocks. One that now overlaps a VPC of the config
// (taken), or whose VPC is gone, is kept in the state but not served.
func (a *App) loadAPINetworks(nets *service.Networks, taken []netip.Prefix) ([]netip.Prefix, error) {
	vpcs, err := a.store.VPCs()
	if err != nil {
		return nil, fmt.Errorf("read the vpcs of the state: %w", err)
	}
	var blocks []netip.Prefix
	for _, d := range vpcs {
		v := d.ToVPC()
		p, err := netip.ParsePrefix(v.CIDR)
		if err != nil || slices.ContainsFunc(taken, p.Overlaps) {
			a.log.Warn("a vpc made through the API is not served: its block overlaps a vpc of the config", "account", v.AccountID, "vpc", v.ID, "cidr", v.CIDR)
			continue
		}
		nets.AddVPC(v)
		blocks = append(blocks, p)
	}
	subnets, err := a.store.Subnets()
	if err != nil {
		return nil, fmt.Errorf("read the subnets of the state: %w", err)
	}
	for _, d := range subnets {
		sub := d.ToSubnet()
		if !nets.OwnsVPC(d.AccountID, sub.VpcID) {
			a.log.Warn("a subnet made through the API is not served: its vpc is gone", "account", d.AccountID, "subnet", sub.ID, "vpc", sub.VpcID)
			continue
		}
		nets.AddSubnet(sub)
	}
	return blocks, nil
}

// configuredSG is a security group of the config or of a default network.
type configuredSG struct{ id, account, vpcCIDR string }

// loadSecurityGroups registers the security groups made through the API
// and gives every group the rules recorded for it. A record whose VPC or
// configured group is gone from the config is kept but not served (logged).
// A configured group without a record (new in the config, or from a
// release that did not enforce rules) is given service.DefaultRules and
// recorded, so that its groups keep talking as before; so is, once, every
// group recorded by a release that did not enforce rules (the state then
// lacks record.RulesEnforced). A group whose defaults were revoked later
// stays as the user left it.
func (a *App) loadSecurityGroups(nets *service.Networks, configured []configuredSG) error {
	docs, err := a.store.SecurityGroups()
	if err != nil {
		return fmt.Errorf("read the security groups of the state: %w", err)
	}
	_, enforced, err := a.store.RulesEnforced()
	if err != nil {
		return err
	}
	now := a.opts.Clock.Now().UTC()
	// withDefaults gives a served group the default rules it lacks and
	// records it.
	withDefaults := func(accountID, vpcCIDR string, g core.SecurityGroup, why string) error {
		g.Rules = service.WithDefaultRules(g.Rules, vpcCIDR, now)
		if err := a.store.PutSecurityGroup(accountID, g); err != nil {
			return fmt.Errorf("record the default rules of security group %s: %w", g.ID, err)
		}
		nets.AddSecurityGroup(g)
		a.log.Info("security group given its default rules (everything out, everything in from its VPC): "+why,
			"account", accountID, "security_group", g.ID, "vpc_cidr", vpcCIDR, "rules", len(g.Rules))
		return nil
	}
	recorded := map[string]bool{}
	for _, d := range docs {
		recorded[d.ID] = true
		g := d.ToCore()
		cur, ok := nets.SecurityGroup(d.AccountID, d.ID)
		switch {
		case ok && cur.Configured:
			cur.Rules = g.Rules
			g = cur
		case !d.Configured && nets.OwnsVPC(d.AccountID, d.VpcID):
		default:
			a.log.Warn("a recorded security group is not served: its VPC or its entry in the config is gone",
				"account", d.AccountID, "security_group", d.ID, "vpc", d.VpcID, "configured", d.Configured)
			continue
		}
		nets.AddSecurityGroup(g)
		// Recorded by a kcid that enforced no rules: its groups reached
		// everything. Keep that (an upgrade changes no traffic); a kill
		// half-way repeats this, which adds nothing twice.
		if !enforced {
			v, _ := nets.VPC(g.VpcID)
			if err := withDefaults(d.AccountID, v.CIDR, g, "it was recorded before rules were enforced"); err != nil {
				return err
			}
		}
	}
	for _, c := range configured {
		g, ok := nets.SecurityGroup(c.account, c.id)
		if recorded[c.id] || !ok {
			continue
		}
		if err := withDefaults(c.account, c.vpcCIDR, g, "first start with it"); err != nil {
			return err
		}
	}
	if !enforced {
		return a.store.PutRulesEnforced(now)
	}
	return nil
}

// defaultVPCFirst is where default networks start.
var defaultVPCFirst = netip.MustParsePrefix("10.88.0.0/16")

// skippedRange is a block freeVPCRange passed over because of a route.
type skippedRange struct {
	prefix netip.Prefix
	reason string
}

// freeVPCRange picks the first /16 from first (10.88.0.0/16) upwards
// through 10.255.0.0/16, then from 10.0.0.0/16, then 172.16-31 and
// 192.168, that overlaps neither a taken range nor a host route; skipped
// lists the blocks passed over because of a route.
func freeVPCRange(first netip.Prefix, taken []netip.Prefix, routes []HostRoute) (netip.Prefix, []skippedRange, error) {
	if !first.IsValid() {
		first = defaultVPCFirst
	}
	var candidates []netip.Prefix
	b := first.Masked().Addr().As4()
	for second := int(b[1]); second < 256; second++ {
		candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{b[0], byte(second), 0, 0}), 16))
	}
	for second := 0; second < int(b[1]); second++ {
		candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{b[0], byte(second), 0, 0}), 16))
	}
	for second := 16; second < 32; second++ {
		candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(second), 0, 0}), 16))
	}
	candidates = append(candidates, netip.MustParsePrefix("192.168.0.0/16"))
	var skipped []skippedRange
next:
	for _, p := range candidates {
		for _, t := range taken {
			if t.Overlaps(p) {
				continue next
			}
		}
		if r, ok := overlapping(routes, p); ok {
			if len(skipped) < 5 {
				skipped = append(skipped, skippedRange{p, "overlaps " + r.String()})
			}
			continue
		}
		return p, skipped, nil
	}
	return netip.Prefix{}, skipped, errors.New("no free /16 left for a default network (10.x, 172.16-31.x and 192.168.x all overlap a VPC or a route of this host): configure the account's networks in --config")
}

// nodeCapacity is the configured capacity, the machine's where unset.
func nodeCapacity(n config.Node) (cpu, memGiB float64) {
	cpu, memGiB = n.CPU, n.Memory
	if cpu == 0 {
		cpu = float64(goruntime.NumCPU())
	}
	if memGiB == 0 {
		memGiB = machineMemoryGiB()
	}
	return cpu, memGiB
}

// machineMemoryGiB reads MemTotal from /proc/meminfo (0 if unreadable,
// which leaves memory unbounded).
func machineMemoryGiB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "MemTotal: %f kB", &kb); err == nil {
			return kb / (1 << 20)
		}
	}
	return 0
}

// apiGPUs is api.Options.GPUs for the node's declaration: the number of
// devices, or -1 when the cluster's scheduler bounds them.
func apiGPUs(g config.GPUs) int {
	if g.KubernetesResource != "" {
		return -1
	}
	return len(g.Devices)
}
