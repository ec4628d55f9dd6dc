package thinkstream

// Event types. These are the names on the wire (`event:` lines). None is
// "open", "error" or "message": EventSource dispatches named events to the
// listeners of that name, so those three would fire its connection handlers.
const (
	EventStreamOpen     = "stream.open" // per connection, never logged
	EventViewers        = "viewers"     // live viewer count, never logged
	EventRunCreated     = "run.created"
	EventRunQueued      = "run.queued"
	EventRunStarted     = "run.started"
	EventStep           = "step"
	EventThinking       = "thinking"
	EventCode           = "code"
	EventAnswer         = "answer"
	EventResult         = "result"
	EventStats          = "stats"
	EventAnnotation     = "annotation"
	EventRunPaused      = "run.paused"
	EventRunResumed     = "run.resumed"
	EventRunError       = "run.error"
	EventRunCompleted   = "run.completed"
	EventRunCancelled   = "run.cancelled"
	EventRunFailed      = "run.failed"
	EventRunInterrupted = "run.interrupted"
)

// IsTerminal reports whether an event type ends a run's stream.
func IsTerminal(typ string) bool {
	switch typ {
	case EventRunCompleted, EventRunCancelled, EventRunFailed, EventRunInterrupted:
		return true
	}
	return false
}

// IsDelta reports whether consecutive events of this type carry text that
// can be concatenated (and so coalesced into one frame).
func IsDelta(typ string) bool {
	switch typ {
	case EventThinking, EventCode, EventAnswer:
		return true
	}
	return false
}

// Event is one entry of a run's log and one SSE frame. It is a flat struct
// with optional fields rather than a union so that it encodes once to the
// JSON object viewers see; which fields are set depends on Type (see
// docs/protocol.md).
type Event struct {
	Seq  int64  `json:"seq"`
	T    int64  `json:"t"` // ms since the run was created
	Type string `json:"type"`
	// From is set on coalesced frames: the first seq the frame covers.
	From int64 `json:"from,omitempty"`

	// step: Index. thinking: Text, Step. code: Text, Lang, Block, Channel
	// (and Step when inside the reasoning). answer: Text.
	Text    string `json:"text,omitempty"`
	Index   int    `json:"index,omitempty"` // 1-based step index
	Step    int    `json:"step,omitempty"`  // 1-based step the delta belongs to
	Lang    string `json:"lang,omitempty"`
	Block   int    `json:"block,omitempty"`   // 1-based code block number
	Channel string `json:"channel,omitempty"` // "thinking" | "answer"

	// result
	Answer string `json:"answer,omitempty"`

	// run.queued
	Position int `json:"position,omitempty"`

	// run.resumed when a worker continues a run whose worker stopped:
	// the how-manieth time the run was taken (a resume after a pause has
	// none)
	Attempt int `json:"attempt,omitempty"`

	// viewers (not logged, no id)
	Viewers int `json:"viewers,omitempty"`

	// run.created
	Run *Run `json:"run,omitempty"`

	// stats
	Stats *Stats `json:"stats,omitempty"`

	// annotation
	Annotation *Annotation `json:"annotation,omitempty"`

	// run.error and run.failed
	Error *RunError `json:"error,omitempty"`

	// terminal events
	State RunState `json:"state,omitempty"`
	// FinishReason is the engine's: "stop" or "length" (run.completed).
	FinishReason string   `json:"finish_reason,omitempty"`
	Usage        *Usage   `json:"usage,omitempty"`
	Timings      *Timings `json:"timings,omitempty"`
}

// Stats is the periodic progress report of a running run.
type Stats struct {
	Tokens         int     `json:"tokens"`
	ThinkingTokens int     `json:"thinking_tokens"`
	TokensPerSec   float64 `json:"tokens_per_s"`
	ElapsedMS      int64   `json:"elapsed_ms"`
	Viewers        int     `json:"viewers"`
}

// Annotation marks a reasoning step as important.
type Annotation struct {
	Step int    `json:"step"`
	Note string `json:"note,omitempty"`
	By   string `json:"by,omitempty"`
}

// IsReasoning reports whether an event of this type and channel belongs to
// the chain of thought rather than to the answer: thinking deltas, step
// markers, and code blocks whose channel is "thinking". A code block with no
// or an unknown channel counts as answer, so that text a viewer is shown as
// final is never hidden among the reasoning. This is the one place the rule
// lives on the server; the web client has the same rule (web/src/reasoning.ts),
// and both are tested against testdata/reasoning.json.
func IsReasoning(typ, channel string) bool {
	switch typ {
	case EventThinking, EventStep:
		return true
	case EventCode:
		return channel == "thinking"
	}
	return false
}
