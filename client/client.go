// Package client is a Go client of thinkstream's runs API (v1): create,
// list, get and cancel runs, and follow a run's event stream with automatic
// reconnection that resumes where it left off, so a caller sees every event
// of a run exactly once and in order even across network drops.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/thinkstream/thinkstream"
)

// Client talks to one thinkstream server. It is safe for concurrent use.
type Client struct {
	base string // without a trailing slash
	hc   *http.Client
}

// New returns a client of the server at baseURL (e.g.
// "http://127.0.0.1:8080"). httpClient nil means http.DefaultClient; it must
// not have a Timeout, which would cut long event streams: bound calls with
// their context instead.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: httpClient}
}

// BaseURL returns the server's base URL as given to New.
func (c *Client) BaseURL() string { return c.base }

// Created is the answer to Create: the run and the token that lets its
// creator cancel, pause and resume it.
type Created struct {
	thinkstream.Run
	OwnerToken string `json:"owner_token"`
}

// CreateRequest is the body of POST /v1/runs.
type CreateRequest struct {
	Problem string             `json:"problem"`
	System  string             `json:"system,omitempty"`
	Profile string             `json:"profile,omitempty"`
	Params  thinkstream.Params `json:"params"`
}

// Snapshot is a run's state folded from its log.
type Snapshot struct {
	Events      []thinkstream.Event      `json:"events"`
	Thinking    string                   `json:"thinking"`
	Answer      string                   `json:"answer"`
	Result      string                   `json:"result,omitempty"`
	Steps       int                      `json:"steps"`
	Annotations []thinkstream.Annotation `json:"annotations"`
	LastSeq     int64                    `json:"last_seq"`
}

// RunDetail is the answer to Get.
type RunDetail struct {
	Run      thinkstream.Run `json:"run"`
	Snapshot Snapshot        `json:"snapshot"`
	NextSeq  int64           `json:"next_seq"`
	Viewers  int             `json:"viewers"`
}

// Page is one page of List.
type Page struct {
	Runs []thinkstream.Run `json:"runs"`
	// Next is the cursor of the following page ("" on the last one).
	Next string `json:"next"`
}

// FieldError names an offending request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error answer of the server (an RFC 9457 problem document, or
// a bare status when the body was not one).
type Error struct {
	Status int
	Type   string // e.g. "/problems/invalid-field"
	Title  string
	Detail string
	Fields []FieldError
}

func (e *Error) Error() string {
	msg := e.Title
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Detail != "" {
		msg = e.Detail
	}
	return fmt.Sprintf("server said %d %s: %s", e.Status, http.StatusText(e.Status), msg)
}

// Temporary reports whether retrying the same request later may succeed.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// Create starts a run.
func (c *Client) Create(ctx context.Context, req CreateRequest) (Created, error) {
	var out Created
	body, err := json.Marshal(req)
	if err != nil {
		return out, fmt.Errorf("create run: %w", err)
	}
	err = c.do(ctx, http.MethodPost, "/v1/runs", bytes.NewReader(body), nil, http.StatusCreated, &out)
	if err != nil {
		return out, fmt.Errorf("create run: %w", err)
	}
	return out, nil
}

// Get returns a run with its snapshot.
func (c *Client) Get(ctx context.Context, id string) (RunDetail, error) {
	var out RunDetail
	if err := c.do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id), nil, nil, http.StatusOK, &out); err != nil {
		return out, fmt.Errorf("get run %s: %w", id, err)
	}
	return out, nil
}

// List returns up to limit runs, newest first, older than the cursor before
// ("" for the newest). limit 0 takes the server's default.
func (c *Client) List(ctx context.Context, limit int, before string) (Page, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before != "" {
		q.Set("before", before)
	}
	path := "/v1/runs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var raw struct {
		Runs []thinkstream.Run `json:"runs"`
		Next *string           `json:"next"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, http.StatusOK, &raw); err != nil {
		return Page{}, fmt.Errorf("list runs: %w", err)
	}
	p := Page{Runs: raw.Runs}
	if raw.Next != nil {
		p.Next = *raw.Next
	}
	return p, nil
}

// Cancel asks the server to cancel a run; ownerToken is Created.OwnerToken.
func (c *Client) Cancel(ctx context.Context, id, ownerToken string) (thinkstream.Run, error) {
	var out thinkstream.Run
	h := http.Header{"X-Thinkstream-Owner": {ownerToken}}
	if err := c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/cancel", nil, h, http.StatusAccepted, &out); err != nil {
		return out, fmt.Errorf("cancel run %s: %w", id, err)
	}
	return out, nil
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, h http.Header, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return readError(resp)
	}
	// A bounded body: a list of 200 runs with answers stays far below.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// readError turns a non-success response into an *Error.
func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var p struct {
			Type   string       `json:"type"`
			Title  string       `json:"title"`
			Detail string       `json:"detail"`
			Errors []FieldError `json:"errors"`
		}
		if json.Unmarshal(b, &p) == nil {
			e.Type, e.Title, e.Detail, e.Fields = p.Type, p.Title, p.Detail, p.Errors
			return e
		}
	}
	// Not a problem document (a proxy's page, say): keep a short excerpt.
	if s := strings.TrimSpace(string(b)); s != "" && len(s) < 200 {
		e.Detail = s
	}
	return e
}

// IsNotFound reports whether err is the server's 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
