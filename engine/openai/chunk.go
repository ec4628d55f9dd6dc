package openai

import (
	"encoding/json"
	"errors"
)

// chunk is what one SSE data payload of a streaming chat or text completion
// tells us, flattened to the first choice (we never ask for n > 1).
type chunk struct {
	// Reasoning is chain-of-thought text from a server-side reasoning
	// parser, from reasoning_content (vLLM, SGLang, llama.cpp) or reasoning
	// (newer vLLM, Ollama). Servers that send both carry the same text in
	// both, so only one is used.
	Reasoning string
	// Content is delta.content of a chat chunk or text of a completion chunk.
	Content string
	// FinishReason is set on the choice's last chunk.
	FinishReason string
	Usage        *wireUsage
	Timings      *wireTimings
	// ErrorMessage is set when the payload is an error object (vLLM and
	// llama.cpp report failures after the 200 this way).
	ErrorMessage string
	IsError      bool
}

type wireChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
			Reasoning        *string `json:"reasoning"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Timings *wireTimings    `json:"timings"`
	Error   json.RawMessage `json:"error"`
}

type wireUsage struct {
	PromptTokens            int `json:"prompt_tokens"`
	CompletionTokens        int `json:"completion_tokens"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// wireTimings is llama.cpp server's per-request timing block.
type wireTimings struct {
	PromptMS           float64 `json:"prompt_ms"`
	PromptPerSecond    float64 `json:"prompt_per_second"`
	PredictedMS        float64 `json:"predicted_ms"`
	PredictedPerSecond float64 `json:"predicted_per_second"`
}

var errNotObject = errors.New("chunk is not a json object")

// parseChunk decodes one data payload. It fails on anything that is not a
// JSON object, so garbage and truncated payloads are reported, not skipped.
func parseChunk(data []byte) (chunk, error) {
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return chunk{}, err
	}
	if !isObject(data) {
		return chunk{}, errNotObject
	}
	var c chunk
	if len(w.Error) > 0 && string(w.Error) != "null" {
		c.IsError = true
		c.ErrorMessage = sanitize(messageOf(w.Error))
		return c, nil
	}
	for _, ch := range w.Choices {
		if ch.Index != 0 {
			continue
		}
		switch {
		case ch.Delta.ReasoningContent != nil && *ch.Delta.ReasoningContent != "":
			c.Reasoning = *ch.Delta.ReasoningContent
		case ch.Delta.Reasoning != nil:
			c.Reasoning = *ch.Delta.Reasoning
		}
		if ch.Delta.Content != nil {
			c.Content = *ch.Delta.Content
		} else if ch.Text != nil {
			c.Content = *ch.Text
		}
		if ch.FinishReason != nil {
			c.FinishReason = *ch.FinishReason
		}
	}
	c.Usage = w.Usage
	c.Timings = w.Timings
	return c, nil
}

// isObject reports whether the first non-space byte opens an object; Unmarshal
// into a struct accepts "null" silently, which is not a chunk.
func isObject(data []byte) bool {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}
