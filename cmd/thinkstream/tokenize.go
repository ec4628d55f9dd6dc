package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/thinkstream/thinkstream/engine/local/gguf"
	"github.com/thinkstream/thinkstream/engine/local/tokenizer"
)

// cmdTokenize prints the token ids of a text as the model's tokenizer
// makes them: special tokens parsed, no BOS, which is what the engine
// feeds the model. A vocabulary-only GGUF file works too.
func cmdTokenize(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: thinkstream tokenize --model NAME|PATH [--json] TEXT\n\nFlags:")
		fs.PrintDefaults()
	}
	model, dirFlag := modelFlags(fs, getenv)
	jsonOut := fs.Bool("json", false, "print the ids as one JSON array")
	noSpecial := fs.Bool("no-special", false, "tokenize special-token spellings such as <|im_start|> as plain text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("tokenize: need --model and a text")
	}
	text := strings.Join(fs.Args(), " ")
	path, err := resolveModelArg(getenv, *dirFlag, *model)
	if err != nil {
		return err
	}
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tok, err := tokenizer.FromMetadata(f)
	if err != nil {
		return err
	}
	ids := tok.Encode(text, !*noSpecial)
	if *jsonOut {
		if ids == nil {
			ids = []int32{}
		}
		return json.NewEncoder(stdout).Encode(ids)
	}
	for _, id := range ids {
		if _, err := fmt.Fprintf(stdout, "%d\t%q\n", id, tok.Piece(id)); err != nil {
			return err
		}
	}
	return nil
}
