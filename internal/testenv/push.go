package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// pusher pushes blobs and manifests with the registry HTTP API v2. It
// answers the registry's challenge: Basic (distribution's htpasswd) by
// sending the credentials, Bearer by getting a token from the realm with
// them.
type pusher struct {
	reg    LocalRegistry
	client *http.Client

	mu   sync.Mutex
	auth string // Authorization header value once known
}

func newPusher(reg LocalRegistry) *pusher {
	return &pusher{reg: reg, client: &http.Client{}}
}

// Do sends a request to the registry with its credentials (basic auth),
// for tests that talk to it directly.
func (r LocalRegistry) Do(req *http.Request) (*http.Response, error) {
	req.SetBasicAuth(r.Username, r.Password)
	return http.DefaultClient.Do(req)
}

// do sends a request (with a body given as bytes so that it can be sent
// again after a 401) and returns the response.
func (p *pusher) do(ctx context.Context, method, u string, hdr http.Header, body []byte, scope string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.ContentLength = int64(len(body))
		for k, v := range hdr {
			req.Header[k] = v
		}
		p.mu.Lock()
		if p.auth != "" {
			req.Header.Set("Authorization", p.auth)
		}
		p.mu.Unlock()
		resp, err := p.client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, nil
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		drain(resp)
		if err := p.authenticate(ctx, challenge, scope); err != nil {
			return nil, err
		}
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// authenticate sets p.auth from the challenge of a 401.
func (p *pusher) authenticate(ctx context.Context, challenge, scope string) error {
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(p.reg.Username, p.reg.Password)
		p.mu.Lock()
		p.auth = req.Header.Get("Authorization")
		p.mu.Unlock()
		return nil
	case "bearer":
		realm := params["realm"]
		if realm == "" {
			return fmt.Errorf("bearer challenge without realm: %q", challenge)
		}
		q := url.Values{}
		if s := params["service"]; s != "" {
			q.Set("service", s)
		}
		if scope != "" {
			q.Set("scope", scope)
		}
		tu := realm
		if len(q) > 0 {
			tu += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, "GET", tu, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(p.reg.Username, p.reg.Password)
		resp, err := p.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("token from %s: %s: %s", realm, resp.Status, b)
		}
		var tok struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			return fmt.Errorf("token from %s: %w", realm, err)
		}
		t := tok.Token
		if t == "" {
			t = tok.AccessToken
		}
		p.mu.Lock()
		p.auth = "Bearer " + t
		p.mu.Unlock()
		return nil
	default:
		return fmt.Errorf("registry answered 401 with an unknown challenge %q", challenge)
	}
}

// parseChallenge parses `Scheme k="v", k2="v2"`.
func parseChallenge(h string) (string, map[string]string) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(after, `"`) {
			after = after[1:]
			var b strings.Builder
			i := 0
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			v = b.String()
			if i < len(after) {
				i++
			}
			after = after[i:]
		} else {
			end := strings.IndexByte(after, ',')
			if end < 0 {
				end = len(after)
			}
			v, after = strings.TrimSpace(after[:end]), after[end:]
		}
		params[k] = v
		rest = strings.TrimLeft(after, ", ")
	}
	return scheme, params
}

func (p *pusher) base() string { return p.reg.URL() + "/v2/" }

func pushScope(repo string) string { return "repository:" + repo + ":pull,push" }

func respError(what string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return fmt.Errorf("%s: %s: %s", what, resp.Status, strings.TrimSpace(string(b)))
}

// pushBlob uploads the blob unless the registry has it: HEAD, then POST to
// open an upload and a monolithic PUT with ?digest= to close it.
func (p *pusher) pushBlob(ctx context.Context, repo string, b *blob) error {
	scope := pushScope(repo)
	blobURL := p.base() + repo + "/blobs/" + b.digest
	resp, err := p.do(ctx, http.MethodHead, blobURL, nil, nil, scope)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("HEAD %s: %s", blobURL, resp.Status)
	}

	startURL := p.base() + repo + "/blobs/uploads/"
	resp, err = p.do(ctx, http.MethodPost, startURL, nil, nil, scope)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return respError("POST "+startURL, resp)
	}
	drain(resp)
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("POST %s: bad Location %q: %v", startURL, resp.Header.Get("Location"), err)
	}
	q := loc.Query()
	q.Set("digest", b.digest)
	loc.RawQuery = q.Encode()

	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, err = p.do(ctx, http.MethodPut, loc.String(), hdr, b.data, scope)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return respError("PUT blob "+b.digest, resp)
	}
	drain(resp)
	return nil
}

// pushManifest PUTs the manifest under the tag and returns its digest.
func (p *pusher) pushManifest(ctx context.Context, repo, tag, mediaType string, data []byte) (string, error) {
	u := p.base() + repo + "/manifests/" + tag
	hdr := http.Header{"Content-Type": {mediaType}}
	resp, err := p.do(ctx, http.MethodPut, u, hdr, data, pushScope(repo))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", respError("PUT "+u, resp)
	}
	drain(resp)
	d := digestOf(data)
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != d {
		return "", fmt.Errorf("PUT %s: registry says digest %s, want %s", u, got, d)
	}
	return d, nil
}
