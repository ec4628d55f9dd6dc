package modelpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream/modelstore"
)

// Offer is the body of GET /v1/models/pulls: what can be downloaded and
// the latest pull.
type Offer struct {
	Repo         string `json:"repo"`
	DefaultQuant string `json:"default_quant"`
	Pull         *Pull  `json:"pull,omitempty"`
}

// Files is the body of GET /v1/models/pulls/files.
type Files struct {
	Repo         string        `json:"repo"`
	DefaultQuant string        `json:"default_quant"`
	Files        []OfferedFile `json:"files"`
}

// OfferedFile is a file offered, with what an earlier attempt left of it.
type OfferedFile struct {
	modelstore.RemoteFile
	// Partial is the bytes of an interrupted download a new pull resumes from.
	Partial int64 `json:"partial,omitempty"`
}

// Register adds the pull API to mux. Access control is the caller's (the
// server admits these routes to admin tokens only).
//
//	GET    /v1/models/pulls              the offer and the latest pull
//	GET    /v1/models/pulls/files        the quantizations, with sizes (asks the hub)
//	POST   /v1/models/pulls              {"quant": "Q4_K_M"} starts a pull (202)
//	GET    /v1/models/pulls/{id}         one pull
//	GET    /v1/models/pulls/{id}/events  its progress as SSE ("pull" events) until it ends
//	DELETE /v1/models/pulls/{id}         cancels it (what arrived is kept)
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/models/pulls", m.offerHandler)
	mux.HandleFunc("GET /v1/models/pulls/files", m.filesHandler)
	mux.HandleFunc("POST /v1/models/pulls", m.startHandler)
	mux.HandleFunc("GET /v1/models/pulls/{id}", m.getHandler)
	mux.HandleFunc("GET /v1/models/pulls/{id}/events", m.eventsHandler)
	mux.HandleFunc("DELETE /v1/models/pulls/{id}", m.cancelHandler)
}

func (m *Manager) offerHandler(w http.ResponseWriter, r *http.Request) {
	o := Offer{Repo: m.cfg.Repo, DefaultQuant: m.cfg.DefaultQuant}
	if p, ok := m.Current(); ok {
		o.Pull = &p
	}
	writeJSON(w, http.StatusOK, o)
}

func (m *Manager) filesHandler(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	files, err := m.Files(ctx)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	out := Files{Repo: m.cfg.Repo, DefaultQuant: m.cfg.DefaultQuant, Files: []OfferedFile{}}
	for _, f := range files {
		out.Files = append(out.Files, OfferedFile{RemoteFile: f, Partial: m.partial(f)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (m *Manager) startHandler(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Quant string `json:"quant"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		problem(w, r, http.StatusBadRequest, "invalid-json", "Invalid JSON", "the body must be a JSON object like {\"quant\": \"Q4_K_M\"}")
		return
	}
	if body.Quant == "" {
		body.Quant = m.cfg.DefaultQuant
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p, err := m.Start(ctx, body.Quant)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/models/pulls/"+p.ID)
	writeJSON(w, http.StatusAccepted, p)
}

func (m *Manager) getHandler(w http.ResponseWriter, r *http.Request) {
	p, _, err := m.Get(r.PathValue("id"))
	if err != nil {
		m.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (m *Manager) cancelHandler(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p, err := m.Cancel(ctx, r.PathValue("id"))
	if err != nil {
		m.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// eventsHandler streams a pull's state as "pull" events, one per change
// (coalesced: a slow reader gets the latest), ending after the last.
func (m *Manager) eventsHandler(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, changed, err := m.Get(id)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		b, _ := json.Marshal(p)
		if _, err := fmt.Fprintf(w, "event: pull\ndata: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if p.State.Ended() {
			return
		}
		// At most about four frames a second: progress, not a firehose.
		throttle := time.NewTimer(250 * time.Millisecond)
	wait:
		for {
			select {
			case <-r.Context().Done():
				throttle.Stop()
				return
			case <-keepAlive.C:
				if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
					throttle.Stop()
					return
				}
			case <-changed:
				<-throttle.C
				break wait
			}
		}
		if p, changed, err = m.Get(id); err != nil {
			return
		}
	}
}

func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	var uq *UnknownQuantError
	switch {
	case errors.As(err, &uq):
		problem(w, r, http.StatusUnprocessableEntity, "unknown-quant", "Unknown quantization",
			fmt.Sprintf("%s offers no %q; choose one of: %s", m.cfg.Repo, clip(uq.Quant), strings.Join(uq.Available, ", ")))
	case errors.Is(err, ErrBusy):
		problem(w, r, http.StatusConflict, "pull-running", "A download is running", "wait for it to end, or cancel it")
	case errors.Is(err, ErrNotFound):
		problem(w, r, http.StatusNotFound, "pull-not-found", "Download not found", "no download has this id")
	case errors.Is(err, ErrHub):
		problem(w, r, http.StatusBadGateway, "hub-unreachable", "Model hub unreachable",
			"the server could not list "+m.cfg.Repo+" on the model hub; check its internet access (or HF_ENDPOINT) and try again")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		problem(w, r, http.StatusServiceUnavailable, "timeout", "Timed out", "the server did not finish in time; try again")
	default:
		m.log.Error("model pull request failed", "path", r.URL.Path, "err", err)
		problem(w, r, http.StatusInternalServerError, "internal", "Internal error", "the server could not complete the request")
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func problem(w http.ResponseWriter, r *http.Request, status int, slug, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "/problems/" + slug, "title": title, "status": status, "detail": detail, "instance": r.URL.Path})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
