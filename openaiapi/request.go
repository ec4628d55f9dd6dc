package openaiapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/thinkstream/thinkstream"
)

// chatRequest is the subset of the Chat Completions request we read. Fields
// we do not know are ignored, as OpenAI-compatible servers do; SDKs send
// many.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	RepetitionPenalty   *float64        `json:"repetition_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	// Profile is our extension: which profile the run uses.
	Profile string `json:"profile"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parsedRequest is a validated request.
type parsedRequest struct {
	model        string
	stream       bool
	includeUsage bool
	run          thinkstream.RunRequest
}

// parseRequest reads and validates a request body. Its errors are apiErrors
// with messages written for the client.
func (h *Handler) parseRequest(r *http.Request, body io.Reader) (parsedRequest, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return parsedRequest{}, apiError{status: http.StatusRequestEntityTooLarge, typ: typeInvalidRequest,
				code: "request_too_large", msg: fmt.Sprintf("Request body is larger than %d bytes.", h.opts.MaxBodyBytes)}
		}
		return parsedRequest{}, badRequest("", "Could not read the request body.")
	}
	var req chatRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&req); err != nil {
		return parsedRequest{}, apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: "invalid_json",
			msg: "We could not parse the JSON body of your request: " + jsonProblem(err)}
	}
	if dec.More() {
		return parsedRequest{}, apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: "invalid_json",
			msg: "The request body has data after the JSON object."}
	}

	p := parsedRequest{model: req.Model, stream: req.Stream}
	if p.model == "" {
		p.model = h.opts.Models[0]
	}
	profile, ok := h.models[p.model]
	if !ok {
		return p, apiError{status: http.StatusNotFound, typ: typeInvalidRequest, code: "model_not_found", param: "model",
			msg: "The model '" + clip(p.model) + "' does not exist. GET /v1/models lists the models served."}
	}
	if req.Profile != "" {
		if !h.profiles[req.Profile] {
			return p, badRequest("profile", "Unknown profile '"+clip(req.Profile)+"'. Known: "+strings.Join(h.opts.Profiles, ", ")+".")
		}
		profile = req.Profile
	}
	if req.StreamOptions != nil {
		if !req.Stream {
			return p, badRequest("stream_options", "stream_options is only allowed when stream is true.")
		}
		p.includeUsage = req.StreamOptions.IncludeUsage
	}
	if req.N != nil && *req.N != 1 {
		return p, badRequest("n", "Only n=1 is supported.")
	}
	msgs, problem, err := convertMessages(req.Messages)
	if err != nil {
		return p, err
	}
	params, err := h.params(req)
	if err != nil {
		return p, err
	}
	p.run = thinkstream.RunRequest{Problem: problem, Profile: profile, Params: params, Messages: msgs, Source: "openai"}
	return p, nil
}

// jsonProblem describes a decoding error without echoing internals.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field '%s' has the wrong type.", typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short."
	}
	return "invalid JSON."
}

// convertMessages checks roles and flattens content parts; problem is the
// last user message, which is what /r/{id} shows as the run's problem.
func convertMessages(in []chatMessage) ([]thinkstream.Message, string, error) {
	if len(in) == 0 {
		return nil, "", badRequest("messages", "messages must contain at least one message.")
	}
	out := make([]thinkstream.Message, 0, len(in))
	var problem string
	for i, m := range in {
		param := fmt.Sprintf("messages[%d]", i)
		role := m.Role
		switch role {
		case "developer":
			role = "system" // the newer name; chat templates know only system
		case "system", "user", "assistant":
		default:
			return nil, "", badRequest(param+".role", "Unsupported role '"+clip(m.Role)+"': use system, developer, user or assistant.")
		}
		text, err := contentText(m.Content)
		if err != nil {
			return nil, "", badRequest(param+".content", err.Error())
		}
		if role == "user" {
			problem = text
		}
		out = append(out, thinkstream.Message{Role: role, Content: text})
	}
	if problem == "" {
		return nil, "", badRequest("messages", "messages must contain a user message with text.")
	}
	return out, problem, nil
}

// contentText accepts a string or an array of parts of which only text
// parts are supported (the model reads text only).
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", errors.New("only text content parts are supported; got '" + clip(p.Type) + "'")
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func (h *Handler) params(req chatRequest) (thinkstream.Params, error) {
	p := thinkstream.Params{
		Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK, MinP: req.MinP,
		RepetitionPenalty: req.RepetitionPenalty, PresencePenalty: req.PresencePenalty, Seed: req.Seed,
	}
	if v := p.Temperature; v != nil && (*v < 0 || *v > 2) {
		return p, badRequest("temperature", "temperature must be between 0 and 2.")
	}
	if v := p.TopP; v != nil && (*v <= 0 || *v > 1) {
		return p, badRequest("top_p", "top_p must be greater than 0 and at most 1.")
	}
	if v := p.TopK; v != nil && *v < -1 {
		return p, badRequest("top_k", "top_k must be -1 (off), 0 (off) or positive.")
	}
	if v := p.MinP; v != nil && (*v < 0 || *v > 1) {
		return p, badRequest("min_p", "min_p must be between 0 and 1.")
	}
	if v := p.PresencePenalty; v != nil && (*v < -2 || *v > 2) {
		return p, badRequest("presence_penalty", "presence_penalty must be between -2 and 2.")
	}
	if v := p.RepetitionPenalty; v != nil && *v <= 0 {
		return p, badRequest("repetition_penalty", "repetition_penalty must be positive.")
	}
	if p.TopK != nil && *p.TopK == -1 {
		p.TopK = new(int) // -1 and 0 both mean off; the engines speak 0
	}
	param, maxTok := "max_tokens", req.MaxTokens
	if req.MaxCompletionTokens != nil {
		param, maxTok = "max_completion_tokens", req.MaxCompletionTokens
	}
	if maxTok != nil {
		if *maxTok < 1 {
			return p, badRequest(param, param+" must be at least 1.")
		}
		if c := h.opts.MaxTokensCap; c > 0 && *maxTok > c {
			return p, badRequest(param, fmt.Sprintf("%s is %d; this server allows at most %d.", param, *maxTok, c))
		}
		p.MaxTokens = *maxTok
	}
	stop, err := stopList(req.Stop)
	if err != nil {
		return p, err
	}
	p.Stop = stop
	return p, nil
}

// stopList accepts a string or up to four strings, as OpenAI does.
func stopList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("stop", "stop must be a string or an array of strings.")
	}
	if len(many) > 4 {
		return nil, badRequest("stop", "stop may hold at most 4 sequences.")
	}
	return many, nil
}

// clip shortens a client-supplied name echoed in an error message, so a
// megabyte "model" is not sent back whole.
func clip(s string) string {
	const limit = 64
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}
