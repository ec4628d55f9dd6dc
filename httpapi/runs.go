package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/runs"
)

type fieldErr struct{ field, msg string }

func (e *fieldErr) Error() string { return e.field + ": " + e.msg }

// createRequest is the body of POST /v1/runs.
type createRequest struct {
	Problem string             `json:"problem"`
	System  string             `json:"system"`
	Profile string             `json:"profile"`
	Params  thinkstream.Params `json:"params"`
	// Visibility: private (default), unlisted or public.
	Visibility string `json:"visibility"`
}

// decodeJSON reads a JSON body strictly: right media type, bounded size,
// valid UTF-8, no unknown fields, no trailing data. It writes the problem
// itself and reports whether decoding succeeded.
func (a *API) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			a.problem(w, r, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send the body as application/json", nil)
			return false
		}
	} else {
		a.problem(w, r, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send the body as application/json", nil)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		a.problem(w, r, http.StatusRequestEntityTooLarge, "body-too-large", "Body too large",
			fmt.Sprintf("the body must be at most %d bytes", a.cfg.MaxBodyBytes), nil)
		return false
	}
	if err != nil {
		a.problem(w, r, http.StatusBadRequest, "invalid-body", "Invalid body", "the body could not be read", nil)
		return false
	}
	if !utf8.Valid(body) {
		a.problem(w, r, http.StatusBadRequest, "invalid-utf8", "Invalid UTF-8", "the body is not valid UTF-8", nil)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a.jsonProblem(w, r, err)
		return false
	}
	if dec.More() {
		a.problem(w, r, http.StatusBadRequest, "invalid-json", "Invalid JSON", "the body has data after the JSON object", nil)
		return false
	}
	return true
}

func (a *API) jsonProblem(w http.ResponseWriter, r *http.Request, err error) {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		a.problem(w, r, http.StatusBadRequest, "invalid-type", "Wrong type",
			fmt.Sprintf("%s must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value),
			[]FieldError{{field, "must be " + jsonKind(te.Type.Kind().String())}})
	case errors.As(err, &se):
		a.problem(w, r, http.StatusBadRequest, "invalid-json", "Invalid JSON",
			fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset), nil)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		a.problem(w, r, http.StatusBadRequest, "unknown-field", "Unknown field",
			fmt.Sprintf("%q is not a known field", field), []FieldError{{field, "unknown field"}})
	case errors.Is(err, io.EOF):
		a.problem(w, r, http.StatusBadRequest, "invalid-json", "Invalid JSON", "the body is empty", nil)
	default:
		a.problem(w, r, http.StatusBadRequest, "invalid-json", "Invalid JSON", "the body is not valid JSON", nil)
	}
}

func jsonKind(k string) string {
	switch k {
	case "float64", "float32", "int", "int64", "int32", "uint", "uint64":
		return "a number"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	case "ptr":
		return "a number"
	}
	return k
}

// validate checks a run request against the rules every front door
// shares (thinkstream.RequestLimits).
func (a *API) validate(req thinkstream.RunRequest) *fieldErr {
	err := thinkstream.RequestLimits{MaxProblemBytes: a.cfg.MaxProblemBytes, MaxTokens: a.cfg.MaxTokens, Profiles: a.cfg.Profiles}.Validate(req)
	var fe *thinkstream.FieldError
	if errors.As(err, &fe) {
		return &fieldErr{fe.Field, fe.Message}
	}
	return nil
}

// create checks a run request by the shared rules and starts the run; on
// failure it has written the problem.
func (a *API) create(w http.ResponseWriter, r *http.Request, req thinkstream.RunRequest) (runs.Created, bool) {
	if fe := a.validate(req); fe != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field", fe.Error(), []FieldError{{fe.field, fe.msg}})
		return runs.Created{}, false
	}
	req.Owner = principalOf(r.Context()).Name
	if req.Visibility == "" {
		req.Visibility = thinkstream.VisibilityPrivate
	}
	c, err := a.runs.Create(r.Context(), req)
	if err != nil {
		a.runError(w, r, err)
		return runs.Created{}, false
	}
	a.log.Info("run created", "run", c.ID, "source", req.Source, "profile", c.Profile, "problem_bytes", len(c.Problem))
	return c, true
}

func (a *API) createRun(w http.ResponseWriter, r *http.Request) {
	var body createRequest
	if !a.decodeJSON(w, r, &body) {
		return
	}
	vis, err := thinkstream.ParseVisibility(body.Visibility)
	if err != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field",
			"visibility must be private, unlisted or public", []FieldError{{"visibility", "must be private, unlisted or public"}})
		return
	}
	req := thinkstream.RunRequest{Problem: body.Problem, System: body.System, Profile: body.Profile, Params: body.Params, Source: "api", Visibility: vis}
	c, ok := a.create(w, r, req)
	if !ok {
		return
	}
	w.Header().Set("Location", "/v1/runs/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			a.problem(w, r, http.StatusBadRequest, "invalid-query", "Invalid query", "limit must be an integer from 1 to 200",
				[]FieldError{{"limit", "must be 1 to 200"}})
			return
		}
		limit = n
	}
	list, next, err := a.runs.ListFunc(r.Context(), limit, r.URL.Query().Get("before"), a.listed(r))
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if list == nil {
		list = []thinkstream.Run{}
	}
	var nextp *string
	if next != "" {
		nextp = &next
	}
	writeJSON(w, http.StatusOK, struct {
		Runs []thinkstream.Run `json:"runs"`
		Next *string           `json:"next"`
	}{list, nextp})
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, ok := a.runFor(w, r, id, grantShare)
	if !ok {
		return
	}
	snap, err := a.runs.Snapshot(r.Context(), id)
	if err != nil {
		a.runError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Run      thinkstream.Run `json:"run"`
		Snapshot any             `json:"snapshot"`
		NextSeq  int64           `json:"next_seq"`
		Viewers  int             `json:"viewers"`
	}{run, snap, snap.LastSeq + 1, a.runs.Viewers(id)})
}

func (a *API) action(fn func(ctx context.Context, id, token string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, ok := a.runFor(w, r, id, grantRead); !ok {
			return
		}
		if err := fn(r.Context(), id, r.Header.Get("X-Thinkstream-Owner")); err != nil {
			a.runError(w, r, err)
			return
		}
		run, err := a.runs.Get(r.Context(), id)
		if err != nil {
			a.runError(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, run)
	}
}

func (a *API) annotate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Step int    `json:"step"`
		Note string `json:"note"`
		By   string `json:"by"`
	}
	if !a.decodeJSON(w, r, &body) {
		return
	}
	if body.Step < 1 {
		a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field", "step must be a step index (1 or more)",
			[]FieldError{{"step", "must be 1 or more"}})
		return
	}
	for _, f := range []struct{ name, v string }{{"note", body.Note}, {"by", body.By}} {
		if fe := thinkstream.CheckText(f.name, f.v, false, 280); fe != nil {
			a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field", fe.Error(), []FieldError{{fe.Field, fe.Message}})
			return
		}
	}
	if _, ok := a.runFor(w, r, r.PathValue("id"), grantRead); !ok {
		return
	}
	// In token mode an annotation carries its author's token name, not a
	// name the client chose; open mode has no names to check, and keeps
	// the free-text one.
	if a.guard.tokens != nil {
		body.By = principalOf(r.Context()).Name
	}
	ev, err := a.runs.Annotate(r.Context(), r.PathValue("id"), thinkstream.Annotation{Step: body.Step, Note: body.Note, By: body.By})
	if err != nil {
		a.runError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ev)
}
