package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local"
	"github.com/thinkstream/thinkstream/modelstore"
)

// stopFlags is a repeatable string flag.
type stopFlags []string

func (s *stopFlags) String() string     { return strings.Join(*s, ",") }
func (s *stopFlags) Set(v string) error { *s = append(*s, v); return nil }

// cmdGenerate runs the embedded engine on one prompt and prints the output
// as it is generated, like llama.cpp's CLI: the chat template applies
// unless --raw; --json prints one JSON object per token and a summary.
func cmdGenerate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: thinkstream generate --model NAME|PATH [flags] PROMPT\n\nFlags:")
		fs.PrintDefaults()
	}
	model, dirFlag := modelFlags(fs, getenv)
	raw := fs.Bool("raw", false, "send the prompt as is, without the ChatML template (special tokens in it are parsed)")
	system := fs.String("system", "", "system prompt (not with --raw)")
	temp := fs.Float64("temperature", local.DefaultTemperature, "sampling temperature; 0 is greedy")
	topP := fs.Float64("top-p", local.DefaultTopP, "nucleus sampling: keep the most likely tokens up to this probability; 1 is off")
	topK := fs.Int("top-k", 0, "keep the K most likely tokens; 0 is off")
	minP := fs.Float64("min-p", 0, "drop tokens less likely than this fraction of the most likely; 0 is off")
	repeat := fs.Float64("repeat-penalty", 1, "penalty for tokens among the last 64; 1 is off")
	seed := fs.Int64("seed", -1, "random seed; -1 picks one")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate; 0 is until the context is full")
	ctxSize := fs.Int("context", 0, fmt.Sprintf("context size in tokens; 0 is the model's, at most %d", local.DefaultContextSize))
	threads := fs.Int("threads", 0, "threads; 0 is all cores")
	jsonOut := fs.Bool("json", false, `print {"id":…,"text":"…"} per token and a final summary`)
	var stops stopFlags
	fs.Var(&stops, "stop", "stop when this text is generated (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prompt := strings.Join(fs.Args(), " ")
	if prompt == "" || *model == "" {
		fs.Usage()
		return errors.New("generate: need --model and a prompt")
	}
	if *raw && *system != "" {
		return errors.New("generate: --system does not apply with --raw")
	}
	path, err := resolveModelArg(getenv, *dirFlag, *model)
	if err != nil {
		return err
	}
	eng, err := local.New(local.Config{ModelPath: path, Threads: *threads, ContextSize: *ctxSize})
	if err != nil {
		return err
	}
	defer eng.Close()

	params := thinkstream.Params{Temperature: temp, TopP: topP, TopK: topK, MinP: minP,
		RepetitionPenalty: repeat, MaxTokens: *maxTokens, Stop: stops}
	if *seed >= 0 {
		params.Seed = seed
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	emit := func(tok thinkstream.Token) error {
		if *jsonOut {
			return enc.Encode(struct {
				ID   int    `json:"id"`
				Text string `json:"text"`
			}{tok.ID, tok.Text})
		}
		_, err := io.WriteString(stdout, tok.Text)
		return err
	}
	var res thinkstream.Result
	if *raw {
		res, err = eng.GenerateRaw(ctx, prompt, params, emit)
	} else {
		var msgs []thinkstream.Message
		if *system != "" {
			msgs = append(msgs, thinkstream.Message{Role: "system", Content: *system})
		}
		msgs = append(msgs, thinkstream.Message{Role: "user", Content: prompt})
		res, err = eng.Generate(ctx, thinkstream.Request{Messages: msgs, Params: params}, emit)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return printGenerateSummary(res, *jsonOut, stdout, stderr)
}

func printGenerateSummary(res thinkstream.Result, jsonOut bool, stdout, stderr io.Writer) error {
	t := res.Timings
	if jsonOut {
		enc := json.NewEncoder(stdout)
		return enc.Encode(map[string]any{
			"done":                 true,
			"finish_reason":        res.FinishReason,
			"prompt_tokens":        res.Usage.PromptTokens,
			"completion_tokens":    res.Usage.CompletionTokens,
			"prompt_ms":            t.PromptMS,
			"prompt_per_second":    t.PromptPerSecond,
			"predicted_ms":         t.PredictedMS,
			"predicted_per_second": t.PredictedPerSecond,
		})
	}
	fmt.Fprintf(stderr, "\n\nprompt: %d tokens in %.0f ms (%.1f tokens/s); generation: %d tokens in %.0f ms (%.1f tokens/s); finish: %s\n",
		res.Usage.PromptTokens, t.PromptMS, t.PromptPerSecond,
		res.Usage.CompletionTokens, t.PredictedMS, t.PredictedPerSecond, res.FinishReason)
	return nil
}

// modelFlags adds the flags that name a model: --model (default
// $THINKSTREAM_MODEL) and --models-dir.
func modelFlags(fs *flag.FlagSet, getenv func(string) string) (model, modelsDir *string) {
	model = fs.String("model", getenv("THINKSTREAM_MODEL"), "GGUF model: a path, or a name from 'thinkstream models' (env THINKSTREAM_MODEL)")
	return model, modelsDirFlag(fs)
}

func modelsDirFlag(fs *flag.FlagSet) *string {
	return fs.String("models-dir", "", "models directory (default $THINKSTREAM_MODELS, else $XDG_DATA_HOME/thinkstream/models)")
}

// modelsDir is dir, or the default models directory when dir is empty.
func modelsDir(getenv func(string) string, dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return modelstore.DefaultDir(getenv)
}

// resolveModelArg finds a model given as a path or a store name. Without a
// models directory (no HOME either) only paths resolve.
func resolveModelArg(getenv func(string) string, dir, nameOrPath string) (string, error) {
	if dir == "" {
		dir, _ = modelstore.DefaultDir(getenv)
	}
	return modelstore.ResolveModel(dir, nameOrPath)
}
