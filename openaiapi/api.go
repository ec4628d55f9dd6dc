// Package openaiapi serves an OpenAI-compatible Chat Completions API on top
// of thinkstream runs, so any OpenAI client (the official SDKs, Open WebUI,
// another thinkstream) can use the model — and every such request is an
// ordinary run that anyone can watch live at /r/{id} while the client
// streams. The run id is returned in X-Thinkstream-Run-Id and Location.
//
// Chain of thought is sent as delta.reasoning_content and, with the same
// text, delta.reasoning (the two names vLLM and Ollama use); the answer is
// delta.content. A client that disconnects cancels its run, as with vLLM.
package openaiapi

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream"
)

// Runs is what the handler needs of the run manager.
type Runs interface {
	Create(ctx context.Context, req thinkstream.RunRequest) (thinkstream.Run, error)
	Follow(ctx context.Context, id string, after int64) iter.Seq2[thinkstream.Event, error] // every logged event after seq `after`, live, ends after the terminal event
	Cancel(ctx context.Context, id string) error
}

// Options configure a Handler.
type Options struct {
	// Models are the model ids served; the first is the default for a
	// request without "model". Empty: "vibethinker-1.5b".
	Models []string
	// Aliases are model ids accepted too but not listed: names clients may
	// be configured with that would misdescribe the engine if listed (a
	// simulator answering as "vibethinker-1.5b").
	Aliases []string
	// OwnedBy is the models' owned_by (default "thinkstream").
	OwnedBy string
	// Profiles are the profile names a request may select, by the
	// "profile" field or as a model id suffix ("vibethinker-1.5b-code").
	// Empty: no profile selection (the run manager's default applies).
	Profiles []string
	// MaxTokensCap rejects larger max_tokens with a 400 (0: no check here).
	MaxTokensCap int
	// ErrorStatus maps an error from Runs.Create to an HTTP status:
	// http.StatusTooManyRequests when the manager is full,
	// http.StatusServiceUnavailable when it is shutting down, 400 for a
	// request it rejects. Nil or 0: 500.
	ErrorStatus func(error) int
	// KeepAlive is the period of SSE comments sent while a run is queued or
	// thinking without output, so proxies keep the connection (default 15s).
	KeepAlive time.Duration
	// WriteTimeout bounds each write of a stream; a client that reads
	// nothing for this long is treated as gone and its run cancelled
	// (default 30s).
	WriteTimeout time.Duration
	// MaxBodyBytes bounds a request body (default 4 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Now is the clock for "created" (default time.Now).
	Now func() time.Time
}

// Handler serves the API. Create it with New.
type Handler struct {
	runs    Runs
	opts    Options
	log     *slog.Logger
	started int64
	// models maps every listed model id to its profile ("" = default).
	models   map[string]string
	modelIDs []string
	profiles map[string]bool
}

// DefaultModel is the model id served when Options.Models is empty.
const DefaultModel = "vibethinker-1.5b"

// New returns a Handler serving runs.
func New(runs Runs, opts Options) *Handler {
	if len(opts.Models) == 0 {
		opts.Models = []string{DefaultModel}
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OwnedBy == "" {
		opts.OwnedBy = "thinkstream"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{runs: runs, opts: opts, log: log, started: opts.Now().Unix(),
		models: make(map[string]string), profiles: make(map[string]bool)}
	for _, p := range opts.Profiles {
		h.profiles[p] = true
	}
	for _, m := range opts.Models {
		h.addModel(m, "")
	}
	for _, m := range opts.Models {
		for _, p := range opts.Profiles {
			h.addModel(m+"-"+p, p)
		}
	}
	listed := len(h.modelIDs)
	for _, m := range opts.Aliases {
		h.addModel(m, "")
		for _, p := range opts.Profiles {
			h.addModel(m+"-"+p, p)
		}
	}
	h.modelIDs = h.modelIDs[:listed]
	return h
}

func (h *Handler) addModel(id, profile string) {
	if _, dup := h.models[id]; dup {
		return
	}
	h.models[id] = profile
	h.modelIDs = append(h.modelIDs, id)
}

// Register adds the API's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/chat/completions", h.chatCompletions)
	mux.HandleFunc("GET /v1/models", h.listModels)
	mux.HandleFunc("GET /v1/models/{model...}", h.getModel)
}

type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	data := make([]model, 0, len(h.modelIDs))
	for _, id := range h.modelIDs {
		data = append(data, model{ID: id, Object: "model", Created: h.started, OwnedBy: h.opts.OwnedBy})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("model")
	if _, ok := h.models[id]; !ok {
		writeError(w, apiError{status: http.StatusNotFound, typ: typeInvalidRequest, code: "model_not_found", param: "model",
			msg: "The model '" + clip(id) + "' does not exist."})
		return
	}
	writeJSON(w, http.StatusOK, model{ID: id, Object: "model", Created: h.started, OwnedBy: h.opts.OwnedBy})
}

// Error types of the OpenAI error object.
const (
	typeInvalidRequest = "invalid_request_error"
	typeRateLimit      = "rate_limit_error"
	typeServer         = "server_error"
)

// apiError is an OpenAI-shaped error; msg is always safe to show.
type apiError struct {
	status int
	typ    string
	code   string
	param  string
	msg    string
}

func (e apiError) Error() string { return e.msg }

type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e apiError) body() errorBody {
	b := errorBody{Error: errorObject{Message: e.msg, Type: e.typ}}
	if e.param != "" {
		b.Error.Param = &e.param
	}
	if e.code != "" {
		b.Error.Code = &e.code
	}
	return b
}

func badRequest(param, msg string) apiError {
	return apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: "invalid_value", param: param, msg: msg}
}

var errInternal = apiError{status: http.StatusInternalServerError, typ: typeServer, code: "internal_error",
	msg: "The server had an error while processing your request."}

// createError maps a Runs.Create failure; its text is logged, never sent,
// except a request rule's message, which is written for clients.
func (h *Handler) createError(err error) apiError {
	var fe *thinkstream.FieldError
	if errors.As(err, &fe) {
		return badRequest(openAIParam(fe.Field), fe.Field+": "+fe.Message)
	}
	status := 0
	if h.opts.ErrorStatus != nil {
		status = h.opts.ErrorStatus(err)
	}
	switch status {
	case http.StatusTooManyRequests:
		return apiError{status: status, typ: typeRateLimit, code: "server_busy",
			msg: "The server is at capacity; retry after a short wait."}
	case http.StatusServiceUnavailable:
		return apiError{status: status, typ: typeServer, code: "unavailable",
			msg: "The server is shutting down or unavailable; retry later."}
	case http.StatusBadRequest:
		return badRequest("", "The request was rejected by the run manager.")
	}
	return errInternal
}

// openAIParam names a run request field as the OpenAI request calls it.
func openAIParam(field string) string {
	switch {
	case field == "problem" || field == "system":
		return "messages"
	case strings.HasPrefix(field, "messages"):
		return field
	}
	return strings.TrimPrefix(field, "params.")
}

func writeError(w http.ResponseWriter, e apiError) {
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"encoding failed","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// asAPIError returns err's apiError, or the generic internal one.
func asAPIError(err error) apiError {
	if e, ok := errors.AsType[apiError](err); ok {
		return e
	}
	return errInternal
}
