package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Fetcher loads resource attributes from an upstream before a decision:
// GET URL (path parameters filled in, escaped), a JSON object whose listed
// top-level fields become resource attributes. Answers are cached for TTL;
// any failure denies the request. The URL comes from config only (never
// from the client, PRX-07) and redirects are not followed. Safe for
// concurrent use.
type Fetcher struct {
	URL     string
	Attrs   []string
	Timeout time.Duration
	TTL     time.Duration
	client  *http.Client
	now     func() time.Time
	mu      sync.Mutex
	cache   map[string]fetched
}

type fetched struct {
	attrs   map[string]string
	expires time.Time
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// NewFetcher returns a fetcher that sends through tr; nil means a
// transport of its own. A gateway passes a shared transport, so that a
// reload does not leave a pool of idle connections behind (CFG-04).
func NewFetcher(rawURL string, attrs []string, timeout, ttl time.Duration, now func() time.Time, tr http.RoundTripper) *Fetcher {
	if timeout <= 0 {
		timeout = time.Second
	}
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	if tr == nil {
		tr = &http.Transport{DialContext: (&net.Dialer{Timeout: timeout}).DialContext, ResponseHeaderTimeout: timeout, MaxIdleConnsPerHost: 16, Proxy: nil}
	}
	return &Fetcher{URL: rawURL, Attrs: attrs, Timeout: timeout, TTL: ttl, now: now, cache: map[string]fetched{},
		client: &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// pathSegment escapes a request value as one path segment (AZ-06): '/',
// '?', '#' and '%' escaped, and a value of "." or ".." escaped whole, so
// it can never climb out of the configured path.
func pathSegment(v string) string {
	switch v {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(v)
}

// ErrFetch wraps every fetch failure (the request is then denied).
var ErrFetch = errors.New("policy: resource attributes could not be fetched")

const maxFetchBody = 64 << 10

// Fetch returns the attributes of the resource r refers to.
func (f *Fetcher) Fetch(ctx context.Context, r *http.Request) (map[string]string, error) {
	target := placeholderRE.ReplaceAllStringFunc(f.URL, func(m string) string {
		return pathSegment(r.PathValue(m[1 : len(m)-1]))
	})
	now := f.now()
	f.mu.Lock()
	c, ok := f.cache[target]
	f.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.attrs, nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: upstream answered %d", ErrFetch, res.StatusCode)
	}
	var obj map[string]any
	if err := json.NewDecoder(io.LimitReader(res.Body, maxFetchBody)).Decode(&obj); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	attrs := map[string]string{}
	for _, a := range f.Attrs {
		switch v := obj[a].(type) {
		case string:
			attrs[a] = v
		case float64:
			attrs[a] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			attrs[a] = strconv.FormatBool(v)
		}
	}
	f.mu.Lock()
	if len(f.cache) >= 10_000 {
		clear(f.cache)
	}
	f.cache[target] = fetched{attrs: attrs, expires: now.Add(f.TTL)}
	f.mu.Unlock()
	return attrs, nil
}
