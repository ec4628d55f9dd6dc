package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/thinkstream/thinkstream"
)

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// wireRequest is the body of both endpoints; Messages or Prompt is set.
type wireRequest struct {
	Model             string                `json:"model"`
	Messages          []thinkstream.Message `json:"messages,omitempty"`
	Prompt            string                `json:"prompt,omitempty"`
	Stream            bool                  `json:"stream"`
	StreamOptions     streamOptions         `json:"stream_options"`
	Temperature       *float64              `json:"temperature,omitempty"`
	TopP              *float64              `json:"top_p,omitempty"`
	MaxTokens         int                   `json:"max_tokens,omitempty"`
	Stop              []string              `json:"stop,omitempty"`
	PresencePenalty   *float64              `json:"presence_penalty,omitempty"`
	Seed              *int64                `json:"seed,omitempty"`
	TopK              *int                  `json:"top_k,omitempty"`
	MinP              *float64              `json:"min_p,omitempty"`
	RepetitionPenalty *float64              `json:"repetition_penalty,omitempty"`
}

// chatMLStops end a raw completion at the end of the assistant turn on
// servers that do not stop at the tokenizer's EOS by themselves.
var chatMLStops = []string{"<|im_end|>", "<|endoftext|>"}

// buildBody returns the endpoint path and JSON body for req.
func (e *Engine) buildBody(model string, req thinkstream.Request, mode string) (string, []byte, error) {
	p := req.Params
	w := wireRequest{
		Model:           model,
		Stream:          true,
		StreamOptions:   streamOptions{IncludeUsage: true},
		Temperature:     p.Temperature,
		TopP:            p.TopP,
		MaxTokens:       p.MaxTokens,
		Stop:            p.Stop,
		PresencePenalty: p.PresencePenalty,
	}
	if e.pass[ParamSeed] {
		w.Seed = p.Seed
	}
	if e.pass[ParamTopK] && p.TopK != nil {
		k := *p.TopK
		if k <= 0 {
			// 0 means "off" to us; -1 is the value vLLM, SGLang and
			// llama.cpp all read as disabled (older vLLM rejects 0).
			k = -1
		}
		w.TopK = &k
	}
	if e.pass[ParamMinP] {
		w.MinP = p.MinP
	}
	if e.pass[ParamRepetitionPenalty] {
		w.RepetitionPenalty = p.RepetitionPenalty
	}
	path := "/chat/completions"
	if mode == ModeCompletions {
		path = "/completions"
		w.Prompt = RenderChatML(req.Messages, req.Prefix)
		w.Stop = append(append([]string(nil), p.Stop...), chatMLStops...)
	} else {
		w.Messages = req.Messages
	}
	body, err := json.Marshal(w)
	if err != nil {
		return "", nil, fmt.Errorf("encode upstream request: %w", err)
	}
	return path, body, nil
}

// RenderChatML renders messages in the ChatML template of Qwen2-family models
// (VibeThinker included) and opens the assistant turn, continuing prefix.
// No default system prompt is injected: profiles supply one when they want it.
func RenderChatML(msgs []thinkstream.Message, prefix string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteByte('\n')
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	b.WriteString("<|im_start|>assistant\n")
	b.WriteString(prefix)
	return b.String()
}

func (e *Engine) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	r, err := http.NewRequestWithContext(ctx, method, e.cfg.BaseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if e.cfg.APIKey != "" {
		r.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	return r, nil
}

// resolveModel returns Config.Model, or asks the upstream which model it
// serves. A success is remembered; a failure is not, so a server that was
// still starting is asked again by the next run.
func (e *Engine) resolveModel(ctx context.Context) (string, error) {
	e.modelMu.Lock()
	m := e.model
	e.modelMu.Unlock()
	if m != "" {
		return m, nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.TTFTTimeout)
	defer cancel()
	r, err := e.newRequest(ctx, http.MethodGet, "/models", nil)
	if err != nil {
		return "", err
	}
	resp, err := e.client.Do(r)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return "", engineErr(CodeTimeout, "upstream did not list its models in time", true, err)
		}
		return "", dialError(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", statusError(resp.StatusCode, body)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) == 0 || list.Data[0].ID == "" {
		return "", engineErr(CodeBadResponse, "upstream /models lists no model; set --upstream-model", false, err)
	}
	e.modelMu.Lock()
	e.model = list.Data[0].ID
	e.modelMu.Unlock()
	return list.Data[0].ID, nil
}
