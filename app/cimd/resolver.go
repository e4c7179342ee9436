package cimd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Cache bounds: a document is kept for its Cache-Control max-age (or
// until its Expires), at least MinCacheAge and at most MaxCacheAge;
// DefaultCacheAge without either header.
const (
	MinCacheAge     = 5 * time.Minute
	MaxCacheAge     = 24 * time.Hour
	DefaultCacheAge = time.Hour
	// FailureMemory is how long a fetch that failed for a transient
	// reason (network error, timeout, 5xx, 429) is remembered by one
	// instance before the URL is tried again, so that a client whose
	// document is down (or an attacker's URL) costs one fetch per URL per
	// FailureMemory, not one per request. A document that answered but
	// was refused is not remembered (the draft forbids caching invalid
	// documents): once fixed, it works on the next request.
	FailureMemory = 10 * time.Second
	// FetchTimeout bounds one fetch, connection included.
	FetchTimeout = 5 * time.Second
)

// Mode values of the setting client_id_metadata_documents.
const (
	ModeOff       = "off"
	ModeAllowlist = "allowlist"
	ModeAny       = "any"
)

// Store is what the resolver needs of models.Store.
type Store interface {
	GetClient(ctx context.Context, clientID string) (*models.Client, error)
	UpsertMetadataClient(ctx context.Context, c *models.Client) (bool, error)
}

// SettingsSource gives the settings in force (settings.Service).
type SettingsSource interface {
	Load(ctx context.Context) (settings.Values, error)
}

// Getter fetches a URL (an outbound.Client).
type Getter interface {
	Do(req *http.Request) (*outbound.Response, error)
}

// Options configure a Resolver.
type Options struct {
	Store    Store
	Settings SettingsSource
	// HTTP fetches the documents: an outbound.Client, capped at
	// MaxDocumentBytes (NewHTTP builds one).
	HTTP Getter
	Now  func() time.Time // time.Now when nil
	Log  *slog.Logger     // slog.Default() when nil
}

// NewHTTP returns the outbound client documents are fetched with: the
// guarded client of app/outbound, at most MaxDocumentBytes per response,
// FetchTimeout per request.
func NewHTTP(o outbound.Options) *outbound.Client {
	o.MaxResponseBytes = MaxDocumentBytes
	if o.Timeout <= 0 || o.Timeout > FetchTimeout {
		o.Timeout = FetchTimeout
	}
	return outbound.New(o)
}

// Resolver turns client ID URLs into clients (see the package comment).
// It is safe for concurrent use.
type Resolver struct {
	o Options

	mu       sync.Mutex
	inflight map[string]*call
	failures map[string]failure
	// fetching bounds the fetches in flight at once (MaxConcurrentFetches):
	// unauthenticated requests naming new URLs cannot tie up the server.
	fetching chan struct{}
}

// MaxConcurrentFetches is how many documents one instance fetches at once;
// a request that would start another is refused for now (transiently).
const MaxConcurrentFetches = 16

type call struct {
	done chan struct{}
	c    *models.Client
	err  error
}

type failure struct {
	until time.Time
	err   error
}

// maxFailures bounds the failure memory (it is emptied when full).
const maxFailures = 1000

// NewResolver returns a Resolver.
func NewResolver(o Options) *Resolver {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Resolver{o: o, inflight: map[string]*call{}, failures: map[string]failure{}, fetching: make(chan struct{}, MaxConcurrentFetches)}
}

// Model is an oauth.Model whose GetClient also knows the clients of Client
// ID Metadata Documents; every other method is the wrapped Model's.
type Model struct {
	oauth.Model
	Resolver *Resolver
}

// GetClient implements oauth.ClientModel.
func (m Model) GetClient(ctx context.Context, clientID string) (*oauth.Client, error) {
	return m.Resolver.GetClient(ctx, clientID, m.Model.GetClient)
}

// GetClient returns the client with that ID. IDs that are not URLs, and
// URL IDs of clients made any other way (an admin may name a client by a
// URL), are next's. Otherwise, with the setting on and the URL allowed,
// it is the stored document while fresh, else the document fetched again
// and stored. A refusal is an *oauth.Error (invalid_client) saying why;
// with the setting off, a URL is an unknown client (store.ErrNotFound).
func (r *Resolver) GetClient(ctx context.Context, clientID string, next func(context.Context, string) (*oauth.Client, error)) (*oauth.Client, error) {
	if !IsCandidate(clientID) {
		return next(ctx, clientID)
	}
	row, err := r.o.Store.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		row = nil
	case err != nil:
		return nil, err
	case row.Registration != models.ClientMetadataDocument:
		// Made by an admin: the wrapped model's (which also opens a
		// client_secret_jwt client's secret).
		return next(ctx, clientID)
	}
	v, err := r.o.Settings.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := Allowed(v, clientID); err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			return nil, refusal(re)
		}
		return nil, err
	}
	now := r.o.Now()
	if row != nil && row.MetadataExpiresAt != nil && now.Before(*row.MetadataExpiresAt) {
		return models.OAuthClient(row), nil
	}
	c, err := r.refresh(ctx, clientID)
	if err != nil {
		// An expired document that cannot be fetched again is not used
		// (the draft: the server SHOULD abort the request).
		var re *RefusedError
		if !errors.As(err, &re) {
			return nil, err
		}
		return nil, refusal(re)
	}
	return models.OAuthClient(c), nil
}

// Allowed checks a client ID URL against the settings: an error when the
// setting is off (store.ErrNotFound: an unknown client, as before the
// feature), a *RefusedError when the URL is invalid or its host is not on
// the allowlist.
func Allowed(v settings.Values, clientID string) error {
	switch v.ClientIDMetadataDocuments {
	case ModeAllowlist, ModeAny:
	default:
		return fmt.Errorf("client %q: %w", clientID, store.ErrNotFound)
	}
	u, err := ParseClientIDURL(clientID)
	if err != nil {
		return err
	}
	if v.ClientIDMetadataDocuments == ModeAllowlist && !settings.HostAllowed(v.ClientIDMetadataHosts, u.Hostname()) {
		return refused("metadata documents from %s are not accepted by this server (it is not in client_id_metadata_hosts)", u.Hostname())
	}
	return nil
}

// refusal is the core's error for a refused document.
func refusal(re *RefusedError) error {
	return oauth.ErrInvalidClient.WithDescription("the application's client metadata document was refused: %s", re.Reason)
}

// refresh fetches, validates and stores the document, once per URL at a
// time in this instance (concurrent requests share the fetch); failures
// are remembered for FailureMemory.
func (r *Resolver) refresh(ctx context.Context, clientID string) (*models.Client, error) {
	r.mu.Lock()
	if f, ok := r.failures[clientID]; ok {
		if r.o.Now().Before(f.until) {
			r.mu.Unlock()
			return nil, f.err
		}
		delete(r.failures, clientID)
	}
	if c, ok := r.inflight[clientID]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.c, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	r.inflight[clientID] = c
	r.mu.Unlock()

	// The fetch is shared: it must not end with the first caller's
	// request, only with its own timeout.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FetchTimeout+time.Second)
	// A caller that read the store before another fetch of this
	// instance (or of another) stored the document finds it here rather
	// than fetching it again.
	if row, err := r.o.Store.GetClient(fctx, clientID); err == nil && row.Registration == models.ClientMetadataDocument &&
		row.MetadataExpiresAt != nil && r.o.Now().Before(*row.MetadataExpiresAt) {
		c.c = row
	} else {
		c.c, c.err = r.fetchAndStore(fctx, clientID)
	}
	cancel()

	r.mu.Lock()
	delete(r.inflight, clientID)
	var re *RefusedError
	if errors.As(c.err, &re) && re.Transient {
		if len(r.failures) >= maxFailures {
			clear(r.failures)
		}
		r.failures[clientID] = failure{until: r.o.Now().Add(FailureMemory), err: c.err}
	}
	r.mu.Unlock()
	close(c.done)
	return c.c, c.err
}

func (r *Resolver) fetchAndStore(ctx context.Context, clientID string) (*models.Client, error) {
	select {
	case r.fetching <- struct{}{}:
		defer func() { <-r.fetching }()
	default:
		return nil, &RefusedError{Reason: "too many metadata documents are being fetched at once; try again in a moment", Transient: true}
	}
	doc, age, err := r.Fetch(ctx, clientID)
	if err != nil {
		return nil, err
	}
	exp := r.o.Now().Add(age)
	row := &models.Client{
		ClientID: clientID, Name: doc.Name, Icon: doc.LogoURI, Homepage: doc.ClientURI,
		Public:                  doc.TokenEndpointAuthMethod != oauth.AuthPrivateKeyJWT,
		TokenEndpointAuthMethod: doc.TokenEndpointAuthMethod, JWKS: doc.JWKS, JWKSURI: doc.JWKSURI,
		RedirectURIs: doc.RedirectURIs, GrantTypes: doc.GrantTypes, Scopes: []string{},
		Registration: models.ClientMetadataDocument, ClientMetadata: models.JSONObject(doc.Extra),
		MetadataExpiresAt: &exp,
	}
	stored, err := r.o.Store.UpsertMetadataClient(ctx, row)
	if err != nil {
		return nil, err
	}
	if !stored {
		// Made by an admin meanwhile: theirs wins.
		return r.o.Store.GetClient(ctx, clientID)
	}
	return row, nil
}

// Fetch GETs the document at clientID and validates it; age is how long
// it may be kept (its cache headers, bounded).
func (r *Resolver) Fetch(ctx context.Context, clientID string) (*Document, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return nil, 0, refused("the client_id is not a valid URL")
	}
	req.Header.Set("Accept", "application/json")
	res, err := r.o.HTTP.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, outbound.ErrResponseTooLarge):
			return nil, 0, refused("the metadata document is larger than %d bytes", MaxDocumentBytes)
		case errors.Is(err, outbound.ErrForbiddenAddress):
			// Worded as an unknown host: the page must not tell whether an
			// internal name exists.
			r.o.Log.Info("client metadata document host is not public", "client_id", clientID, "error", err)
			return nil, 0, refused("its URL could not be fetched (unknown host, or not a public address)")
		}
		r.o.Log.Info("client metadata document fetch failed", "client_id", clientID, "error", err)
		return nil, 0, &RefusedError{Reason: "its URL could not be fetched (" + fetchErrorWords(err) + ")", Transient: true}
	}
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return nil, 0, refused("its URL answered with a redirect (HTTP %d), and redirects are not followed", res.StatusCode)
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return nil, 0, &RefusedError{Reason: fmt.Sprintf("its URL answered HTTP %d", res.StatusCode), Transient: true}
	default:
		return nil, 0, refused("its URL answered HTTP %d instead of the document", res.StatusCode)
	}
	doc, err := ParseDocument(clientID, res.Body)
	if err != nil {
		return nil, 0, err
	}
	return doc, CacheAge(res.Header, r.o.Now()), nil
}

// fetchErrorWords says why a fetch failed in a few words that reveal
// nothing about the network beyond what the client's own URL does.
func fetchErrorWords(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "timed out"), errors.Is(err, context.DeadlineExceeded), strings.Contains(s, "timeout"):
		return "timed out"
	case strings.Contains(s, "certificate"), strings.Contains(s, "tls:"):
		return "TLS certificate not trusted"
	case strings.Contains(s, "no such host"):
		return "unknown host, or not a public address"
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	}
	return "network error"
}

// CacheAge is how long a document may be kept, from its response headers
// (outbound.CacheAge): DefaultCacheAge without caching headers, bounded
// to [MinCacheAge, MaxCacheAge].
func CacheAge(h http.Header, now time.Time) time.Duration {
	return outbound.CacheAge(h, now, DefaultCacheAge, MinCacheAge, MaxCacheAge)
}
