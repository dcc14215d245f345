// Package api is kcid's HTTP edge: it speaks Kingsoft Cloud's OpenAPI
// dialect (KCI 2020-07-02 and the VPC read actions of 2016-03-04). It reads
// a request in any style official clients send (GET query, POST form with
// query merged, POST JSON), authenticates it, decodes and validates its
// parameters, calls the service and writes the JSON response or the KCI
// error envelope. Every action goes through the one chain in ServeHTTP, so
// none can skip authentication.
//
// It also owns what clients can make kcid hold before and after
// authentication: connections per client and in all (LimitListener),
// requests in flight per client, and request bodies, which are read only
// after the signature's head checks passed, under a deadline, into a
// server-wide budget of which unsigned requests get a smaller share.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/openkci/openkci/internal/api/awsquery"
	"github.com/openkci/openkci/internal/auth"
	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/service"
)

// Service is what the API needs of the service layer.
type Service interface {
	CreateGroup(ctx context.Context, req service.CreateRequest) (*core.Group, error)
	DescribeGroups(ctx context.Context, q service.DescribeQuery) ([]service.GroupView, int, error)
	DeleteGroup(ctx context.Context, accountID, id string, dryRun bool) error
	Logs(ctx context.Context, accountID, id, container string, tail int) (string, error)
	CheckContainer(ctx context.Context, accountID, id, container string) error
	GroupStatus(ctx context.Context, accountID, id string) (core.GroupStatus, error)
	CheckExec(ctx context.Context, accountID, id, container string) (service.ExecTarget, error)
	Exec(ctx context.Context, accountID string, t service.ExecTarget, p core.ExecProcess) (int, error)
	GroupUsage(ctx context.Context, accountID, id string, from, to time.Time) (*core.Group, []core.GroupStats, error)
	CountByLabel(ctx context.Context, accountID, key string, values []string) (map[string]int, error)
	Networks() *service.Networks
	CreateVPC(ctx context.Context, accountID, region, name, cidr string) (core.VPC, error)
	DeleteVPC(ctx context.Context, accountID, region, id string) error
	ModifyVPC(ctx context.Context, accountID, region, id, name string) (core.VPC, error)
	ModifySubnet(ctx context.Context, c service.SubnetChange) (core.Subnet, error)
	CreateSubnet(ctx context.Context, spec service.SubnetSpec) (core.Subnet, error)
	DeleteSubnet(ctx context.Context, accountID, region, id string) error
	CreateSecurityGroup(ctx context.Context, c service.SecurityGroupChange) (core.SecurityGroup, error)
	ModifySecurityGroup(ctx context.Context, c service.SecurityGroupChange) (core.SecurityGroup, error)
	DeleteSecurityGroup(ctx context.Context, accountID, region, id string) error
	AuthorizeSecurityGroupEntry(ctx context.Context, accountID, region, id string, r core.SecurityGroupRule) (string, error)
	EnforcesSecurityGroups() bool
	RevokeSecurityGroupEntry(ctx context.Context, accountID, region, id, entryID string) error
	FreeIPs(ctx context.Context, s core.Subnet) (int, error)
}

// Options configures a Handler.
type Options struct {
	Service Service
	// ImageCaches serves the image cache actions; nil answers them 409
	// IncorrectState.
	ImageCaches ImageCaches
	// Verifier authenticates requests; nil only with Insecure.
	Verifier *auth.Verifier
	// Insecure serves every request as DefaultAccount without a signature.
	Insecure       bool
	DefaultAccount string
	Regions        []config.Region
	// Packages are what DescribeKciPackages lists (config.OfferedPackages).
	Packages  []config.Package
	RateLimit config.RateLimit
	// Limits bound bodies and requests in flight; zero fields take
	// config.Limits' defaults.
	Limits config.Limits
	// Disks bound the disks a create makes on demand (sizes, disks per
	// group); zero fields take config.OnDemandDisks' defaults. The
	// account's count is the service's.
	Disks config.OnDemandDisks
	// GPUs is how many GPUs the node declares (config node.gpus.devices);
	// 0 refuses every Gpu field above 0, and -1 (node.gpus.
	// kubernetesResource) leaves the bound to the cluster's scheduler.
	GPUs   int
	Logger *slog.Logger
	// NewRequestID makes request IDs; nil means random UUIDs.
	NewRequestID func() string
	// Exec enables ExecContainerCommand and its socket; nil turns it off.
	Exec *ExecOptions
	// Observer, if set, is told of every answered request (metrics).
	Observer RequestObserver
	// AcceptUnenforcedRules lets AuthorizeSecurityGroupEntry store rules
	// when the runtime does not enforce them (it is no
	// service.SecurityGroupEnforcer); otherwise they are refused there.
	AcceptUnenforcedRules bool
}

// RequestObserver is told of each answered request: the action (one of
// the table's, "unknown", or "" when none was read), the KCI error code
// ("" for success), the authenticated account ("" before authentication)
// and the time to answer. It must not block.
type RequestObserver interface {
	APIRequest(action, code, account string, d time.Duration)
}

// observedAction bounds the action label to the table's names.
func observedAction(name string) string {
	if _, ok := actions[name]; ok {
		return name
	}
	if name == "" || name == "-" {
		return ""
	}
	return "unknown"
}

// Handler serves the API.
type Handler struct {
	o       Options
	regions map[string]config.Region

	mu       sync.Mutex
	limiters map[string]*keyLimiters

	inFlight *perClient
	// bodies bounds the request bodies held at once; unsignedBodies is the
	// share of it for bodies read before any key was checked.
	bodies, unsignedBodies budget
	// memory returns freed bodies to the OS after a busy spell.
	memory memoryReturner
}

type keyLimiters struct{ mutating, read *rate.Limiter }

// New returns the API handler.
func New(o Options) *Handler {
	o.Limits = o.Limits.WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NewRequestID == nil {
		o.NewRequestID = uuid.NewString
	}
	h := &Handler{o: o, regions: map[string]config.Region{}, limiters: map[string]*keyLimiters{},
		inFlight:       newPerClient(o.Limits.MaxInFlightPerClient),
		bodies:         budget{max: o.Limits.BodyBufferBytes},
		unsignedBodies: budget{max: o.Limits.UnsignedBodyBufferBytes},
	}
	for _, r := range o.Regions {
		h.regions[r.Name] = r
	}
	return h
}

// ServesRegion reports whether region is one of the configured regions.
func (h *Handler) ServesRegion(region string) bool {
	_, ok := h.regions[region]
	return ok
}

// call is one request in flight, as the action handlers see it.
type call struct {
	ctx       context.Context
	requestID string
	params    url.Values
	accountID string
	region    string
	dryRun    bool
	http      *http.Request
}

// action is one entry of the dispatch table.
type action struct {
	service  string // "kci" or "vpc": the SigV4 scope's service
	version  string
	mutating bool
	run      func(h *Handler, c *call) (any, error)
}

const (
	kciVersion = "2020-07-02"
	vpcVersion = "2016-03-04"
)

// actions is the whole API surface. Adding an action here is all it takes
// to route it through authentication, rate limiting and error handling.
var actions = map[string]action{
	"CreateContainerGroup":         {service: "kci", version: kciVersion, mutating: true, run: (*Handler).createContainerGroup},
	"DescribeContainerGroup":       {service: "kci", version: kciVersion, run: (*Handler).describeContainerGroup},
	"DescribeContainerLog":         {service: "kci", version: kciVersion, run: (*Handler).describeContainerLog},
	"DeleteContainerGroup":         {service: "kci", version: kciVersion, mutating: true, run: (*Handler).deleteContainerGroup},
	"ExecContainerCommand":         {service: "kci", version: kciVersion, mutating: true, run: (*Handler).execContainerCommand},
	"DescribeRegions":              {service: "kci", version: kciVersion, run: (*Handler).describeRegions},
	"DescribeContainerGroupEvents": {service: "kci", version: kciVersion, run: (*Handler).describeContainerGroupEvents},
	"DescribeContainerGroupCount":  {service: "kci", version: kciVersion, run: (*Handler).describeContainerGroupCount},
	"DescribeKciPackages":          {service: "kci", version: kciVersion, run: (*Handler).describeKciPackages},
	// An OpenKCI extension (docs/api.md).
	"DescribeContainerGroupMetric": {service: "kci", version: kciVersion, run: (*Handler).describeContainerGroupMetric},
	"CreateImageCache":             {service: "kci", version: kciVersion, mutating: true, run: (*Handler).createImageCache},
	"UpdateImageCache":             {service: "kci", version: kciVersion, mutating: true, run: (*Handler).updateImageCache},
	"DeleteImageCache":             {service: "kci", version: kciVersion, mutating: true, run: (*Handler).deleteImageCache},
	"DescribeImageCache":           {service: "kci", version: kciVersion, run: (*Handler).describeImageCache},
	"MatchImageCache":              {service: "kci", version: kciVersion, run: (*Handler).matchImageCache},
	"DescribeImageCacheEvent":      {service: "kci", version: kciVersion, run: (*Handler).describeImageCacheEvent},
	"DescribeVpcs":                 {service: "vpc", version: vpcVersion, run: (*Handler).describeVpcs},
	"DescribeSubnets":              {service: "vpc", version: vpcVersion, run: (*Handler).describeSubnets},
	"DescribeSecurityGroups":       {service: "vpc", version: vpcVersion, run: (*Handler).describeSecurityGroups},
	"CreateVpc":                    {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).createVpc},
	"DeleteVpc":                    {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).deleteVpc},
	"CreateSubnet":                 {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).createSubnet},
	"DeleteSubnet":                 {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).deleteSubnet},
	"ModifyVpc":                    {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).modifyVpc},
	"ModifySubnet":                 {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).modifySubnet},
	"CreateSecurityGroup":          {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).createSecurityGroup},
	"DeleteSecurityGroup":          {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).deleteSecurityGroup},
	"ModifySecurityGroup":          {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).modifySecurityGroup},
	"AuthorizeSecurityGroupEntry":  {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).authorizeSecurityGroupEntry},
	"RevokeSecurityGroupEntry":     {service: "vpc", version: vpcVersion, mutating: true, run: (*Handler).revokeSecurityGroupEntry},
}

// ActionNames lists the served actions (for tests and docs).
func ActionNames() []string {
	out := make([]string, 0, len(actions))
	for name := range actions {
		out = append(out, name)
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := h.o.NewRequestID()
	w.Header().Set("X-Kci-Request-Id", requestID)
	actionName := "-"
	status := http.StatusOK
	code, account := "", ""
	defer func() {
		if p := recover(); p != nil {
			h.o.Logger.Error("panic serving request", "request_id", requestID, "action", actionName, "panic", p)
			ae, _ := toAPIError(errdefs.ErrInternal)
			status, code = ae.Status, ae.Code
			writeJSON(w, status, ae.envelope(requestID))
		}
		h.o.Logger.Info("request", "request_id", requestID, "method", r.Method, "action", actionName,
			"status", status, "code", code, "remote", r.RemoteAddr, "duration", time.Since(start).Round(time.Microsecond))
		if h.o.Observer != nil {
			h.o.Observer.APIRequest(observedAction(actionName), code, account, time.Since(start))
		}
	}()

	resp, name, err := h.serve(w, r, requestID, &account)
	actionName = name
	if err != nil {
		ae, logDetail := toAPIError(err)
		if ae.Status >= 500 {
			h.o.Logger.Error("request failed", "request_id", requestID, "action", name, "code", ae.Code, "err", err)
		} else if logDetail {
			h.o.Logger.Info("request refused", "request_id", requestID, "action", name, "code", ae.Code, "err", err)
		}
		status, code = ae.Status, ae.Code
		writeJSON(w, status, ae.envelope(requestID))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		ae, _ := toAPIError(errdefs.ErrInternal)
		b, _ = json.Marshal(ae.envelope(w.Header().Get("X-Kci-Request-Id")))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serve runs the chain: check the signature's head, read the body, parse,
// authenticate, route, authorize, rate limit, then the action (which decodes
// and validates). Until authentication only the head is trusted, and only
// as far as CheckHead proved it.
// The authenticated account is stored in *account once known.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, requestID string, account *string) (any, string, error) {
	client := clientOf(r.RemoteAddr)
	if !h.inFlight.acquire(client) {
		return nil, "-", &apiError{Status: http.StatusConflict, Code: "LimitExceeded",
			Message: withDetail(msgLimitExceeded, fmt.Sprintf("this client has %d requests in flight", h.o.Limits.MaxInFlightPerClient))}
	}
	defer h.inFlight.release(client)
	// The method says nothing about the API, and no body is read for it.
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, "-", &apiError{Status: http.StatusBadRequest, Code: "InvalidMethod", Message: fmt.Sprintf(msgInvalidMethod, clip(r.Method))}
	}
	signed := h.o.Insecure
	if !h.o.Insecure {
		var err error
		if signed, err = h.o.Verifier.CheckHead(r); err != nil {
			return nil, "-", err
		}
	}
	body, release, err := h.readBody(w, r, signed)
	if err != nil {
		return nil, "-", err
	}
	defer release()
	r.Body = io.NopCloser(bytes.NewReader(body))

	// Parse errors wait until the caller is authenticated; until then the
	// Action (for the signature's service) counts only if it is unique.
	params, parseErr := parseParams(r, body)
	name := ""
	if vs := params["Action"]; parseErr == nil && len(vs) > 0 && !slices.ContainsFunc(vs, func(v string) bool { return v != vs[0] }) {
		name = vs[0]
	}
	act, known := actions[name]

	// Authenticate first: an anonymous caller learns nothing, not even
	// whether an action exists.
	c := &call{requestID: requestID, params: params}
	var id *auth.Identity
	if !h.o.Insecure {
		svc := ""
		if known {
			svc = act.service
		}
		id, err = h.o.Verifier.Verify(r, body, svc)
		if err != nil {
			return nil, clip(name), err
		}
		c.accountID, c.region = id.AccountID, id.Region
		*account = c.accountID
	}
	if parseErr != nil {
		return nil, "-", parseErr
	}
	// Parameters that steer the whole request must not be given twice with
	// different values (query and body are merged).
	for _, k := range []string{"Action", "Version", "DryRun", "Region"} {
		if vs := params[k]; len(vs) > 1 && slices.ContainsFunc(vs, func(v string) bool { return v != vs[0] }) {
			return nil, "-", paramError("InvalidQueryParameter", k, "it is given more than once with different values")
		}
	}
	name = params.Get("Action")
	if h.o.Insecure {
		c.accountID = h.o.DefaultAccount
		*account = c.accountID
		c.region = params.Get("Region")
		if c.region == "" {
			c.region = h.o.Regions[0].Name
		}
		if !h.ServesRegion(c.region) {
			return nil, name, paramError("InvalidParameterValue", "Region", fmt.Sprintf("region %q is not served here", clip(c.region)))
		}
	}

	switch {
	case name == "":
		return nil, "-", paramError("MissingParameter", "Action", "")
	case !known:
		return nil, clip(name), &apiError{Status: http.StatusNotFound, Code: "NoSuchEntity",
			Message: withDetail(msgNoSuchEntity, fmt.Sprintf("unknown Action %q", clip(name)))}
	case params.Get("Version") == "":
		return nil, name, paramError("MissingParameter", "Version", "")
	case params.Get("Version") != act.version:
		return nil, name, &apiError{Status: http.StatusNotFound, Code: "NoSuchEntity",
			Message: withDetail(msgNoSuchEntity, fmt.Sprintf("Action %s has no Version %q; use %s", name, clip(params.Get("Version")), act.version))}
	}
	if id != nil {
		if err := auth.Authorize(id, name); err != nil {
			return nil, name, err
		}
	}
	if !h.allow(c.accountID, id, act.mutating) {
		return nil, name, &apiError{Status: http.StatusConflict, Code: "LimitExceeded", Message: msgLimitExceeded}
	}
	if v := params.Get("DryRun"); v != "" {
		dry, err := strconv.ParseBool(v)
		if err != nil {
			return nil, name, paramError("InvalidParameterValue", "DryRun", "must be true or false")
		}
		c.dryRun = dry
	}
	c.ctx = r.Context()
	c.http = r
	resp, err := act.run(h, c)
	return resp, name, err
}

// readBody reads r's body under the size limit and the body deadline, into
// the body budget: signed says CheckHead found an existing key in the head,
// otherwise the body also counts against the unsigned share. A body over the
// limit by its Content-Length is refused without reading it. release gives
// the budget back once the request is done with the body.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, signed bool) (body []byte, release func(), err error) {
	lim := h.o.Limits
	tooLarge := &apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
		Message: fmt.Sprintf("The request body exceeds the limit of %d bytes.", lim.MaxBodyBytes)}
	switch {
	case r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody:
		return nil, func() {}, nil
	case r.ContentLength > lim.MaxBodyBytes:
		w.Header().Set("Connection", "close")
		return nil, nil, tooLarge
	}
	n := r.ContentLength
	if n < 0 { // chunked: reserve the most it may be
		n = lim.MaxBodyBytes
	}
	busy := &apiError{Status: http.StatusConflict, Code: "LimitExceeded",
		Message: withDetail(msgLimitExceeded, "kcid holds as many request bodies as it may; retry shortly")}
	if !h.bodies.reserve(n) {
		w.Header().Set("Connection", "close")
		return nil, nil, busy
	}
	release = func() {
		if idle, peak := h.bodies.release(n); idle && peak >= returnMemoryAfter {
			h.memory.request()
		}
	}
	if !signed {
		if !h.unsignedBodies.reserve(n) {
			release()
			w.Header().Set("Connection", "close")
			return nil, nil, busy
		}
		releaseAll := release
		release = func() { h.unsignedBodies.release(n); releaseAll() }
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(time.Duration(lim.BodyTimeout))) == nil {
		// No deadline while the action runs: a late one would cancel the
		// request's context.
		defer rc.SetReadDeadline(time.Time{})
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, lim.MaxBodyBytes+1))
		if err == nil && int64(len(body)) > lim.MaxBodyBytes {
			err = tooLarge
		}
	}
	if err != nil {
		release()
		w.Header().Set("Connection", "close")
		if err == tooLarge {
			return nil, nil, tooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, nil, &apiError{Status: http.StatusRequestTimeout, Code: "RequestTimeout",
				Message: fmt.Sprintf("The request body did not arrive within %s.", time.Duration(lim.BodyTimeout))}
		}
		return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "InvalidQueryParameter", Message: "The request body could not be read."}
	}
	return body, release, nil
}

// errDryRun is returned by actions after all checks passed under DryRun.
var errDryRun = &apiError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation", Message: msgDryRun}

// maxParams bounds the parameters of one request (query and body
// together), as net/url does by default; each costs a map entry and two
// strings.
const maxParams = 10000

// parseParams merges the query string with a form or JSON body. Java puts
// Action and Version in the query and the rest in the body, so both count.
func parseParams(r *http.Request, body []byte) (url.Values, error) {
	params := url.Values{}
	counts := map[string]int{}
	if err := parseForm(params, counts, r.URL.RawQuery); err != nil {
		if errors.Is(err, errBadEscape) {
			return nil, &apiError{Status: http.StatusBadRequest, Code: "InvalidQueryParameter",
				Message: withDetail(fmt.Sprintf(msgInvalidQueryParameter, "string"), "it is not valid URL encoding")}
		}
		return nil, err
	}
	if r.Method != http.MethodPost || len(body) == 0 {
		return params, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		bodyParams, err := awsquery.FlattenJSON(body)
		if err != nil {
			return nil, err
		}
		for k, vs := range bodyParams {
			params[k] = append(params[k], vs...)
		}
	case "application/x-www-form-urlencoded", "":
		if err := parseForm(params, counts, string(body)); err != nil {
			if errors.Is(err, errBadEscape) {
				return nil, &apiError{Status: http.StatusBadRequest, Code: "InvalidQueryParameter",
					Message: withDetail(fmt.Sprintf(msgInvalidQueryParameter, "body"), "it is not valid form encoding")}
			}
			return nil, err
		}
	default:
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Code: "InvalidQueryParameter",
			Message: fmt.Sprintf("Content-Type %q is not supported; send application/x-www-form-urlencoded or application/json.", clip(ct))}
	}
	return params, nil
}

var errBadEscape = errors.New("invalid URL escape or ';' in a query")

// parseForm adds the pairs of a URL-encoded query or form to params, as
// url.ParseQuery does, but with a limit error a client can act on: past
// maxParams it names the list that holds most of the parameters
// ("Container.N"). counts carries the per-list tallies across calls.
func parseForm(params url.Values, counts map[string]int, s string) error {
	n := 0
	for _, vs := range params {
		n += len(vs)
	}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return errBadEscape
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return errBadEscape
		}
		list := listName(k)
		if len(counts) < 1000 || counts[list] > 0 {
			counts[list]++
		}
		if n++; n > maxParams {
			// Keep counting (cheaply) to name the list that is too long.
			for rest := range strings.SplitSeq(s, "&") {
				if k, _, _ := strings.Cut(rest, "="); k != "" {
					if k, err := url.QueryUnescape(k); err == nil && counts[listName(k)] > 0 {
						counts[listName(k)]++
					}
				}
			}
			top := list
			for name, c := range counts {
				if c > counts[top] || (c == counts[top] && name < top) {
					top = name
				}
			}
			return paramError("InvalidParameterValue", top, fmt.Sprintf("a request may carry at most %d parameters; this one has %d under %s", maxParams, counts[top], top))
		}
		params[k] = append(params[k], v)
	}
	return nil
}

// listName is the list a wire key belongs to: "Container.N" for
// "Container.3.Port.1.Port", the key itself for a scalar.
func listName(key string) string {
	first, rest, ok := strings.Cut(key, ".")
	if !ok {
		return key
	}
	idx, _, _ := strings.Cut(rest, ".")
	if idx != "" && strings.Trim(idx, "0123456789") == "" {
		return first + ".N"
	}
	return first
}

// allow applies the per-key token buckets.
func (h *Handler) allow(accountID string, id *auth.Identity, mutating bool) bool {
	key := "account:" + accountID
	if id != nil {
		key = id.AccessKeyID
	}
	h.mu.Lock()
	l := h.limiters[key]
	if l == nil {
		rl := h.o.RateLimit
		l = &keyLimiters{
			mutating: rate.NewLimiter(rate.Limit(rl.MutatingPerSecond), rl.MutatingBurst),
			read:     rate.NewLimiter(rate.Limit(rl.ReadPerSecond), rl.ReadBurst),
		}
		h.limiters[key] = l
	}
	h.mu.Unlock()
	if mutating {
		return l.mutating.Allow()
	}
	return l.read.Allow()
}

// decode fills dst from the call's parameters.
func (c *call) decode(dst any) error { return awsquery.Decode(c.params, dst) }

// Healthz answers liveness probes without authentication.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}
