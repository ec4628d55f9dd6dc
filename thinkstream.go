// Package thinkstream holds the domain types shared by every part of the
// server: what an engine produces (Token), what a run is (Run), and what a
// viewer receives (Event). Packages that do one job (reasoning, eventlog,
// hub, sse, engines, httpapi) depend on these types and not on each other.
package thinkstream

import (
	"context"
	"errors"
	"time"
)

// Channel says where a piece of engine output belongs. Most engines emit raw
// text and let the reasoning parser find the <think> tags; upstream servers
// with a reasoning parser of their own have already split the two.
type Channel uint8

const (
	ChannelRaw       Channel = iota // parser decides (inline <think>…</think>)
	ChannelReasoning                // already known to be chain of thought
	ChannelAnswer                   // already known to be the final answer
)

// Token is one piece of model output as an engine produced it.
type Token struct {
	Text    string
	Channel Channel
	// ID is the engine's token id, or -1 when the engine does not know it
	// (remote servers stream text, not ids).
	ID int
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Params are the sampling parameters of a run. Pointers distinguish "not
// set" (engine or profile default) from an explicit zero.
type Params struct {
	Temperature       *float64 `json:"temperature,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	TopK              *int     `json:"top_k,omitempty"`
	MinP              *float64 `json:"min_p,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	PresencePenalty   *float64 `json:"presence_penalty,omitempty"`
	MaxTokens         int      `json:"max_tokens,omitempty"`
	Seed              *int64   `json:"seed,omitempty"`
	Stop              []string `json:"stop,omitempty"`
}

// Request is what an engine is asked to generate.
type Request struct {
	// RunID identifies the run for logs and upstream request ids.
	RunID    string
	Messages []Message
	Params   Params
	// Prefix is assistant text already generated; the engine continues it
	// (used to resume an interrupted run). Engines that cannot continue a
	// prefix return ErrUnsupported when it is set.
	Prefix string
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	ReasoningTokens  int `json:"reasoning_tokens"`
	// Estimated is set when the engine counted the tokens itself because
	// the model server reported none (its stream broke before the usage).
	Estimated bool `json:"estimated,omitempty"`
}

// Timings describe how fast a run went. Durations are milliseconds.
type Timings struct {
	QueueMS            int64   `json:"queue_ms"`
	TTFTMS             int64   `json:"ttft_ms"`
	TotalMS            int64   `json:"total_ms"`
	ThinkingMS         int64   `json:"thinking_ms,omitempty"`
	PromptMS           float64 `json:"prompt_ms,omitempty"`
	PromptPerSecond    float64 `json:"prompt_per_second,omitempty"`
	PredictedMS        float64 `json:"predicted_ms,omitempty"`
	PredictedPerSecond float64 `json:"predicted_per_second,omitempty"`
}

// Result is what an engine reports when generation ends without error.
type Result struct {
	// FinishReason is "stop" (end of text or stop string), "length"
	// (max_tokens or context) or "cancelled".
	FinishReason string
	Usage        Usage
	// Timings filled by the engine: prompt and predicted rates. The run
	// manager fills queue, TTFT and totals itself.
	Timings Timings
}

// Engine generates text. Generate blocks until generation ends, calling emit
// for every token in order; if emit returns an error, Generate stops and
// returns it. Cancelling ctx stops generation within one token.
type Engine interface {
	Name() string
	Generate(ctx context.Context, req Request, emit func(Token) error) (Result, error)
}

// Pauser is implemented by engines that can pause a generation and resume it
// later without recomputing what was already processed.
type Pauser interface {
	Pause(runID string) error
	Resume(runID string) error
}

// EngineInfo is optional engine metadata for /v1/models and the UI.
type EngineInfo struct {
	Model     string `json:"model"`
	Simulated bool   `json:"simulated"`
	// MaxParallel is how many generations the engine runs at once; the run
	// manager admits that many by default.
	MaxParallel int `json:"max_parallel"`
	// MaxTokens is the largest max_tokens the engine accepts (0 = no cap known).
	MaxTokens int `json:"max_tokens,omitempty"`
}

// Describer is implemented by engines that can describe themselves.
type Describer interface {
	Info() EngineInfo
}

// EngineError is an error an engine wants a viewer to read. Code is stable
// and machine-readable; Message is safe to show (no internal detail).
type EngineError struct {
	Code      string
	Message   string
	Retryable bool
	Err       error
}

func (e *EngineError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *EngineError) Unwrap() error { return e.Err }

// ErrUnsupported is returned by engines for features they lack.
var ErrUnsupported = errors.New("not supported by this engine")

// RunState is the lifecycle of a run.
type RunState string

const (
	StateQueued      RunState = "queued"
	StateRunning     RunState = "running"
	StateCompleted   RunState = "completed"
	StateCancelled   RunState = "cancelled"
	StateFailed      RunState = "failed"
	StateInterrupted RunState = "interrupted"
)

// Terminal reports whether no more events can follow.
func (s RunState) Terminal() bool {
	switch s {
	case StateCompleted, StateCancelled, StateFailed, StateInterrupted:
		return true
	}
	return false
}

// Run is the metadata of one run, as stored and as returned by the API.
type Run struct {
	ID        string   `json:"id"`
	State     RunState `json:"state"`
	Problem   string   `json:"problem"`
	System    string   `json:"system,omitempty"`
	Profile   string   `json:"profile,omitempty"`
	Params    Params   `json:"params"`
	Engine    string   `json:"engine"`
	Model     string   `json:"model,omitempty"`
	Simulated bool     `json:"simulated"`
	Source    string   `json:"source,omitempty"` // "api", "infer", "openai"
	// Owner is the name of the token that created the run; empty for
	// runs made in open mode (everybody is the same anonymous owner).
	Owner string `json:"owner,omitempty"`
	// Visibility says who else may read the run; empty (runs stored
	// before it existed) reads as private.
	Visibility Visibility `json:"visibility,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	// LastSeq is the highest sequence number logged so far.
	LastSeq int64     `json:"last_seq"`
	Answer  string    `json:"answer,omitempty"`
	Usage   *Usage    `json:"usage,omitempty"`
	Timings *Timings  `json:"timings,omitempty"`
	Error   *RunError `json:"error,omitempty"`
	// OwnerKey is the SHA-256 (hex) of the run's owner token: kept with
	// the stored metadata so that the token still cancels and pauses the
	// run after a restart continued it; never shown to clients.
	OwnerKey string `json:"-"`
	// Taken says a cluster's worker took the run from the work queue
	// (kept with the stored metadata, never shown): from then on only
	// that worker ends it, and a gateway sends it commands instead.
	Taken bool `json:"-"`
	// InWorkQueue says a gateway handed the run to the cluster's work
	// queue (kept with the stored metadata, never shown): its workers
	// continue it, a server recovering from a crash leaves it alone.
	InWorkQueue bool `json:"-"`
}

// RunError is the error a failed run ended with, safe to show.
type RunError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// RunRequest asks for a new run. Problem is what the user typed; Messages,
// when set (the OpenAI-compatible API), is the whole conversation and is sent
// as-is after the profile is applied.
type RunRequest struct {
	Problem  string    `json:"problem"`
	System   string    `json:"system,omitempty"`
	Profile  string    `json:"profile,omitempty"`
	Params   Params    `json:"params"`
	Messages []Message `json:"messages,omitempty"`
	// Source says which front door created the run: "api", "infer", "openai".
	Source string `json:"-"`
	// Owner and Visibility are set by the front door from who asked (the
	// authenticated token's name) and what it asked for (default private).
	Owner      string     `json:"-"`
	Visibility Visibility `json:"-"`
}

// ErrRunNotFound is returned by stores and managers for unknown runs.
var ErrRunNotFound = errors.New("run not found")

// ErrLogConflict is returned by a log append that was made on the
// condition that the run's log still ends where the writer read it, when
// another writer appended meanwhile.
var ErrLogConflict = errors.New("another writer appended to the run")

// Record is one logged event: its per-run sequence, its type and time (so
// readers need not parse the JSON the process wrote itself), and its JSON
// encoding.
type Record struct {
	Seq  int64
	Type string
	T    int64 // ms since the run was created
	Data []byte
	// Raw is the model output (token texts) that the run consumed since
	// the previous record with Raw, logged with the last event it made:
	// a run resumed elsewhere feeds it back to its engine and parser.
	Raw []string
}
