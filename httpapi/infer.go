package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/sse"
)

// infer serves the original article's page: GET /infer?problem=… streams a
// run as unnamed messages (so `onmessage` sees them all) whose data is
// {"event", "data", "id"}. The SSE id is "<run>:<seq>", so when that page's
// EventSource reconnects with Last-Event-ID it resumes the same run instead
// of starting a new one.
func (a *API) infer(w http.ResponseWriter, r *http.Request) {
	var opts streamOptions
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		id, seq, ok := strings.Cut(last, ":")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil || n < 0 || id == "" {
			a.problem(w, r, http.StatusBadRequest, "invalid-event-id", "Invalid event id",
				"Last-Event-ID must be <run id>:<seq> as sent by this endpoint", nil)
			return
		}
		opts.after, opts.resumed, opts.encode = n, true, compatEncoder(id)
		a.serveStream(w, r, id, opts)
		return
	}
	req := thinkstream.RunRequest{Problem: r.URL.Query().Get("problem"), Profile: r.URL.Query().Get("profile"), Source: "infer"}
	if fe := a.validate(req); fe != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field", fe.Error(), []FieldError{{fe.field, fe.msg}})
		return
	}
	c, err := a.runs.Create(r.Context(), req)
	if err != nil {
		a.runError(w, r, err)
		return
	}
	a.log.Info("run created", "run", c.ID, "source", "infer", "problem_bytes", len(c.Problem))
	opts.encode = compatEncoder(c.ID)
	a.serveStream(w, r, c.ID, opts)
}

// compatText is the "data" string of a compat message.
func compatText(ev thinkstream.Event) string {
	switch {
	case ev.Text != "":
		return ev.Text
	case ev.Type == thinkstream.EventResult:
		return ev.Answer
	case ev.Type == thinkstream.EventStep:
		return fmt.Sprintf("Step %d", ev.Index)
	case ev.Type == thinkstream.EventRunQueued:
		return fmt.Sprintf("queued at position %d", ev.Position)
	case ev.Error != nil:
		return ev.Error.Message
	case ev.Stats != nil:
		return fmt.Sprintf("%d tokens, %.1f tokens/s", ev.Stats.Tokens, ev.Stats.TokensPerSec)
	case ev.State != "":
		return string(ev.State)
	case ev.Type == thinkstream.EventRunCreated && ev.Run != nil:
		return ev.Run.ID
	}
	return ""
}

// compatEncoder re-encodes a run's frames as compat messages.
func compatEncoder(runID string) func(dst []byte, f hub.Frame) []byte {
	return func(dst []byte, f hub.Frame) []byte {
		var ev thinkstream.Event
		if err := json.Unmarshal(f.Data, &ev); err != nil {
			return dst
		}
		data, _ := json.Marshal(struct {
			Event string `json:"event"`
			Data  string `json:"data"`
			ID    int64  `json:"id"`
		}{ev.Type, compatText(ev), ev.Seq})
		out, _ := sse.AppendEvent(dst, runID+":"+strconv.FormatInt(f.Seq, 10), "", data)
		return out
	}
}
