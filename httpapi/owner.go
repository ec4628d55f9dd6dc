package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/shares"
)

// Shares is what the API needs of the share-link store.
type Shares interface {
	Create(ctx context.Context, runID, by string, ttl time.Duration) (string, shares.Share, error)
	Resolve(ctx context.Context, secret string) (shares.Share, error)
	List(ctx context.Context, runID string) ([]shares.Share, error)
	Revoke(ctx context.Context, runID, id string) error
	DeleteRun(ctx context.Context, runID string) error
}

// grant is what a request may do with one run.
type grant int

const (
	grantNone  grant = iota // not even know it exists: 404
	grantShare              // read it through a share link, nothing else
	grantRead               // read and annotate it
	grantOwner              // also change its visibility, share and delete it
)

// grantFor decides what r may do with run. In open mode everybody is the
// same anonymous owner of every run (today's behaviour on loopback). In
// token mode the owner and admins hold it, any token reads unlisted and
// public runs, and a share link (when allowShare) reads its one run.
func (a *API) grantFor(r *http.Request, run thinkstream.Run, allowShare bool) grant {
	if a.guard.tokens == nil {
		return grantOwner
	}
	p := principalOf(r.Context())
	if !p.Anonymous() {
		switch {
		case p.Can(auth.ScopeAdmin), run.Owner != "" && run.Owner == p.Name:
			return grantOwner
		case run.Visibility.Effective() != thinkstream.VisibilityPrivate:
			return grantRead
		}
	}
	if allowShare && a.shareOpens(r, run.ID) {
		return grantShare
	}
	return grantNone
}

// shareOpens reports whether the request carries a share link of run id.
func (a *API) shareOpens(r *http.Request, id string) bool {
	secret := r.URL.Query().Get("share")
	if secret == "" || a.cfg.Shares == nil {
		return false
	}
	sh, err := a.cfg.Shares.Resolve(r.Context(), secret)
	if err != nil && !errors.Is(err, shares.ErrNotFound) {
		a.log.Error("resolve share link", "err", err)
	}
	return err == nil && sh.ID != "" && sh.RunID == id
}

// listed reports whether a run appears in the caller's GET /v1/runs: their
// own and public ones (admins and open mode: all).
func (a *API) listed(r *http.Request) func(thinkstream.Run) bool {
	if a.guard.tokens == nil {
		return nil
	}
	p := principalOf(r.Context())
	if p.Can(auth.ScopeAdmin) {
		return nil
	}
	return func(run thinkstream.Run) bool {
		return run.Owner != "" && run.Owner == p.Name || run.Visibility == thinkstream.VisibilityPublic
	}
}

// runFor loads a run and checks that r holds at least need on it; else it
// answers (404 for runs r may not even read, so that private runs do not
// show they exist; 403 for readers who are not owners) and returns false.
func (a *API) runFor(w http.ResponseWriter, r *http.Request, id string, need grant) (thinkstream.Run, bool) {
	run, err := a.runs.Get(r.Context(), id)
	if err != nil {
		a.runError(w, r, err)
		return run, false
	}
	g := a.grantFor(r, run, need == grantShare)
	switch {
	case g >= need:
		return run, true
	case g == grantNone:
		a.notFound(w, r)
	default:
		a.problem(w, r, http.StatusForbidden, "not-owner", "Not the owner",
			"only the run's owner (or an admin) can do this", nil)
	}
	return run, false
}

// notFound is the answer for unknown runs and for runs the caller may not
// see: the two must be indistinguishable.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	a.problem(w, r, http.StatusNotFound, "run-not-found", "Run not found", "no run has this id", nil)
}

// patchRun changes a run's visibility (its owner or an admin).
func (a *API) patchRun(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Visibility *string `json:"visibility"`
	}
	if !a.decodeJSON(w, r, &body) {
		return
	}
	id := r.PathValue("id")
	if _, ok := a.runFor(w, r, id, grantOwner); !ok {
		return
	}
	if body.Visibility == nil {
		a.writeRun(w, r, id)
		return
	}
	v, err := thinkstream.ParseVisibility(*body.Visibility)
	if err != nil || *body.Visibility == "" {
		a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field",
			"visibility must be private, unlisted or public", []FieldError{{"visibility", "must be private, unlisted or public"}})
		return
	}
	run, err := a.runs.SetVisibility(r.Context(), id, v)
	if err != nil {
		a.runError(w, r, err)
		return
	}
	a.log.Info("run visibility changed", "run", id, "visibility", v, "by", principalOf(r.Context()).Name)
	writeJSON(w, http.StatusOK, run)
}

func (a *API) writeRun(w http.ResponseWriter, r *http.Request, id string) {
	run, err := a.runs.Get(r.Context(), id)
	if err != nil {
		a.runError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

// deleteRun forgets a run (its owner or an admin): a live one is cancelled
// first, so its viewers get the terminal event; then its events, metadata
// and share links go.
func (a *API) deleteRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.runFor(w, r, id, grantOwner); !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if err := a.runs.Delete(ctx, id); err != nil {
		a.runError(w, r, err)
		return
	}
	if a.cfg.Shares != nil {
		if err := a.cfg.Shares.DeleteRun(ctx, id); err != nil {
			a.log.Error("delete share links of a deleted run", "run", id, "err", err)
		}
	}
	a.log.Info("run deleted", "run", id, "by", principalOf(r.Context()).Name)
	w.WriteHeader(http.StatusNoContent)
}

// shareLink is a share link as the API shows it.
type shareLink struct {
	shares.Share
	// Path and URL open the run page read-only; Secret is the link's
	// capability, shown only when it is created.
	Path   string `json:"path,omitempty"`
	URL    string `json:"url,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// maxShareTTL bounds expires_in (a year).
const maxShareTTL = 365 * 24 * time.Hour

func (a *API) createShare(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ExpiresIn *int64 `json:"expires_in"` // seconds
	}
	if r.ContentLength != 0 && !a.decodeJSON(w, r, &body) {
		return
	}
	id := r.PathValue("id")
	if !a.sharesOn(w, r) {
		return
	}
	if _, ok := a.runFor(w, r, id, grantOwner); !ok {
		return
	}
	var ttl time.Duration
	if body.ExpiresIn != nil {
		if *body.ExpiresIn < 1 || *body.ExpiresIn > int64(maxShareTTL/time.Second) {
			a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field",
				"expires_in must be a number of seconds from 1 to 31536000", []FieldError{{"expires_in", "must be 1 to 31536000 seconds"}})
			return
		}
		ttl = time.Duration(*body.ExpiresIn) * time.Second
	}
	secret, sh, err := a.cfg.Shares.Create(r.Context(), id, principalOf(r.Context()).Name, ttl)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.log.Info("share link created", "run", id, "share", sh.ID, "by", sh.By)
	path := "/s/" + secret
	w.Header().Set("Location", path)
	writeJSON(w, http.StatusCreated, shareLink{Share: sh, Path: path, URL: origin(r) + path, Secret: secret})
}

// origin is the scheme and host the client reached us at.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *API) sharesOn(w http.ResponseWriter, r *http.Request) bool {
	if a.cfg.Shares == nil {
		a.problem(w, r, http.StatusNotImplemented, "unsupported", "Not supported", "this server keeps no share links", nil)
		return false
	}
	return true
}

func (a *API) listShares(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.sharesOn(w, r) {
		return
	}
	if _, ok := a.runFor(w, r, id, grantOwner); !ok {
		return
	}
	list, err := a.cfg.Shares.List(r.Context(), id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	out := make([]shareLink, len(list))
	for i, sh := range list {
		out[i] = shareLink{Share: sh}
	}
	writeJSON(w, http.StatusOK, struct {
		Shares []shareLink `json:"shares"`
	}{out})
}

func (a *API) revokeShare(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.sharesOn(w, r) {
		return
	}
	if _, ok := a.runFor(w, r, id, grantOwner); !ok {
		return
	}
	err := a.cfg.Shares.Revoke(r.Context(), id, r.PathValue("share"))
	if errors.Is(err, shares.ErrNotFound) {
		a.problem(w, r, http.StatusNotFound, "share-not-found", "Share link not found", "this run has no share link with this id", nil)
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.log.Info("share link revoked", "run", id, "share", r.PathValue("share"))
	w.WriteHeader(http.StatusNoContent)
}

// resolveShare tells the page (or an embedding element) which run a share
// link opens. It needs no token: the secret is the capability.
func (a *API) resolveShare(w http.ResponseWriter, r *http.Request) {
	if !a.sharesOn(w, r) {
		return
	}
	sh, err := a.cfg.Shares.Resolve(r.Context(), r.PathValue("secret"))
	if err != nil {
		if !errors.Is(err, shares.ErrNotFound) {
			a.log.Error("resolve share link", "err", err)
		}
		a.problem(w, r, http.StatusNotFound, "share-not-found", "Share link not found",
			"this share link is unknown, revoked or expired", nil)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		RunID   string    `json:"run_id"`
		Expires time.Time `json:"expires_at,omitzero"`
	}{sh.RunID, sh.Expires})
}
