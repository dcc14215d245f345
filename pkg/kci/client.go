package kci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Defaults of Config.
const (
	DefaultEndpoint    = "http://127.0.0.1:8080"
	DefaultRegion      = "cn-beijing-6"
	DefaultMaxAttempts = 5
	DefaultMinBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// maxResponse bounds what is read of a response: a 100-group page is well
// under a megabyte.
const maxResponse = 64 << 20

// Config configures a Client. The zero value talks to a local kcid without
// signing.
type Config struct {
	// Endpoint is the server's URL, such as https://kci.api.ksyun.com or
	// http://127.0.0.1:8080 (the default). A bare host:port means http.
	Endpoint string
	// Region signs the requests (default cn-beijing-6).
	Region string
	// AccessKeyID and SecretAccessKey sign requests with SigV4. When both
	// are empty requests go unsigned (for kcid --insecure-no-auth).
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient sends the requests (default: a client with a 60 s
	// timeout).
	HTTPClient *http.Client
	// MaxAttempts is the number of tries of one call, retries included
	// (default 5; 1 turns retries off).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the delay before a retry: it grows
	// exponentially from MinBackoff, with full jitter, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// UserAgent is sent as User-Agent (default "openkci-go/kci").
	UserAgent string
	// Clock gives the signing time (default time.Now).
	Clock func() time.Time
	// NoClientToken stops CreateContainerGroup from adding a ClientToken
	// to requests without one. kcid answers a repeated token with the
	// group the first request made, so creates with a token are retried
	// like reads; a server that ignores the token (Kingsoft's own) would
	// make a second group, so against one set NoClientToken, and creates
	// are then sent again only when the server did nothing.
	NoClientToken bool
}

// Client calls the KCI and VPC APIs. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	signer   *v4.Signer
	// sleep waits before a retry; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	endpoint, err := normalizeEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("kci: the access key ID and the secret access key go together: give both or neither")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "openkci-go/kci"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Client{cfg: cfg, endpoint: endpoint, signer: v4.NewSigner(), sleep: sleepCtx}, nil
}

// Endpoint is the URL requests go to.
func (c *Client) Endpoint() string { return c.endpoint }

// Region is the region requests are signed for.
func (c *Client) Region() string { return c.cfg.Region }

func normalizeEndpoint(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("kci: endpoint %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("kci: endpoint %q: want http(s)://host[:port]", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// Do calls any action: in is flattened with Flatten (nil sends only Action
// and Version), out receives the JSON answer. service is "kci" or "vpc"
// (it names the SigV4 scope). Errors from the server are *APIError.
//
// Only transient failures are retried. Describe* actions,
// DeleteContainerGroup (a repeated delete answers ContainerGroupNotFound)
// and a CreateContainerGroup with a ClientToken (kcid answers a repeat with
// the first group) are retried on transient answers (APIError.Transient:
// throttling, ServiceUnavailable, ServiceTimeout, a proxy's 502/503/504)
// and on transport errors. Other actions, which must not be done twice,
// are retried only when the server says it did nothing (throttling, or its
// ServiceUnavailable error) or when the connection was never made: a
// refused create (InvalidParameterValue, InsufficientResource,
// ResourceInUse, InternalError, …) is sent once.
func (c *Client) Do(ctx context.Context, service, version, action string, in, out any) error {
	params := Flatten(in)
	params.Set("Action", action)
	params.Set("Version", version)
	body := params.Encode()
	for attempt := 1; ; attempt++ {
		retryAfter, err := c.send(ctx, service, action, body, out)
		if err == nil {
			return nil
		}
		if attempt >= c.cfg.MaxAttempts || !c.retryable(action, params, err) || ctx.Err() != nil {
			return err
		}
		delay := c.backoff(attempt)
		if retryAfter > 0 {
			delay = min(max(delay, retryAfter), c.cfg.MaxBackoff)
		}
		if serr := c.sleep(ctx, delay); serr != nil {
			return err
		}
	}
}

// backoff is the delay before retry n (1-based): exponential with full
// jitter, so that clients throttled together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.cfg.MinBackoff << min(n-1, 20)
	if ceil <= 0 || ceil > c.cfg.MaxBackoff {
		ceil = c.cfg.MaxBackoff
	}
	return c.cfg.MinBackoff/2 + rand.N(ceil-c.cfg.MinBackoff/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idempotent calls may be sent again whatever happened to the first try.
func idempotent(action string, params url.Values) bool {
	return strings.HasPrefix(action, "Describe") || action == "DeleteContainerGroup" ||
		action == "CreateContainerGroup" && params.Get("ClientToken") != ""
}

func (c *Client) retryable(action string, params url.Values, err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		if idempotent(action, params) {
			return ae.Transient()
		}
		return ae.nothingDone()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if idempotent(action, params) {
		return true
	}
	// A failed dial sent nothing: safe to repeat even a create.
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// send makes one attempt. It returns the server's Retry-After, if any.
func (c *Client) send(ctx context.Context, service, action, body string, out any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("kci: %s: %w", action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.cfg.AccessKeyID != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: c.cfg.AccessKeyID, SecretAccessKey: c.cfg.SecretAccessKey}
		if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, c.cfg.Region, c.cfg.Clock()); err != nil {
			return 0, fmt.Errorf("kci: %s: sign: %w", action, err)
		}
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("kci: %s: %w", action, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, fmt.Errorf("kci: %s: read response: %w", action, err)
	}
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"))
	if apiErr := decodeError(action, resp, raw); apiErr != nil {
		return retryAfter, apiErr
	}
	if out == nil {
		return 0, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return 0, fmt.Errorf("kci: %s: decode response (HTTP %d): %w", action, resp.StatusCode, err)
	}
	return 0, nil
}

// decodeError returns the APIError of a failed answer, nil on success. A
// success body never has an Error key, so its presence means failure even
// with a 2xx status (the Python SDK reasons the same way).
func decodeError(action string, resp *http.Response, raw []byte) *APIError {
	var env ErrorResponse
	jsonErr := json.Unmarshal(raw, &env)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok && (jsonErr != nil || env.Error == nil) {
		return nil
	}
	e := &APIError{Action: action, StatusCode: resp.StatusCode, RequestID: env.RequestID}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Kci-Request-Id")
	}
	if env.Error != nil {
		e.Type, e.Code, e.Message = env.Error.Type, env.Error.Code, env.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}
