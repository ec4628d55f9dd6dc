package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// requestTimeout bounds every API call, so that a wedged server becomes a
// failure that says which call hung instead of a suite that never ends.
const requestTimeout = 15 * time.Second

// api is a small client of the runs API, enough for the scenarios.
type api struct {
	hc   *http.Client
	base string
}

type runInfo struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	LastSeq    int64     `json:"last_seq"`
	CreatedAt  time.Time `json:"created_at"`
	OwnerToken string    `json:"owner_token"`
}

type runDetail struct {
	Run      runInfo `json:"run"`
	NextSeq  int64   `json:"next_seq"`
	Snapshot struct {
		Annotations []annotation `json:"annotations"`
		Events      []annotated  `json:"events"` // only seq, t, type and annotation are decoded
		LastSeq     int64        `json:"last_seq"`
	} `json:"snapshot"`
}

type annotation struct {
	Step int    `json:"step"`
	Note string `json:"note"`
	By   string `json:"by"`
}

// statusError is an answer with an unexpected status.
type statusError struct {
	call   string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.call, e.status, e.body)
}

func (a api) do(ctx context.Context, method, path string, body any, h http.Header, want int, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	call := method + " " + path
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s: read: %w", call, err)
	}
	if resp.StatusCode != want {
		return &statusError{call: call, status: resp.StatusCode, body: string(bytes.TrimSpace(b[:min(len(b), 300)]))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
	}
	return nil
}

// create starts a run of the sim engine's long form: tokens reasoning
// tokens and a short answer.
func (a api) create(ctx context.Context, tokens int) (runInfo, error) {
	var r runInfo
	body := map[string]any{
		"problem": fmt.Sprintf("sim:long %d", tokens),
		// The answer comes after the reasoning: leave it room.
		"params": map[string]any{"max_tokens": min(tokens+200, maxRunTokens)},
	}
	err := a.do(ctx, http.MethodPost, "/v1/runs", body, nil, http.StatusCreated, &r)
	return r, err
}

// maxRunTokens is the server's default cap on max_tokens (the built-in
// profiles' max_tokens_cap): the longest single run the suite can ask for.
const maxRunTokens = 40960

func (a api) get(ctx context.Context, id string) (runDetail, error) {
	var d runDetail
	err := a.do(ctx, http.MethodGet, "/v1/runs/"+id, nil, nil, http.StatusOK, &d)
	return d, err
}

// annotated is the logged annotation event the server answers with.
type annotated struct {
	Seq        int64      `json:"seq"`
	T          int64      `json:"t"`
	Type       string     `json:"type"`
	Annotation annotation `json:"annotation"`
}

func (a api) annotate(ctx context.Context, id string, an annotation) (annotated, error) {
	var ev annotated
	err := a.do(ctx, http.MethodPost, "/v1/runs/"+id+"/annotations", an, nil, http.StatusCreated, &ev)
	return ev, err
}

func (a api) healthz(ctx context.Context) error {
	return a.do(ctx, http.MethodGet, "/healthz", nil, nil, http.StatusOK, nil)
}

// waitState polls a run until it reaches a terminal state or ctx ends.
func (a api) waitEnded(ctx context.Context, id string) (runDetail, error) {
	for {
		d, err := a.get(ctx, id)
		if err != nil {
			return d, err
		}
		switch d.Run.State {
		case "completed", "cancelled", "failed", "interrupted":
			return d, nil
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("run %s still %s: %w", id, d.Run.State, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
