package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	"golang.org/x/term"

	"github.com/thinkstream/thinkstream/modelstore"
)

// cmdPull downloads a GGUF model from the Hugging Face hub into the models
// directory and prints its path. HF_TOKEN authorises gated or private
// repositories; HF_ENDPOINT points at a mirror.
func cmdPull(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: thinkstream pull [flags] OWNER/REPO[:QUANT][@REVISION]\n\n"+
			"Example: thinkstream pull mradermacher/VibeThinker-1.5B-GGUF:Q4_K_M\n\nFlags:")
		fs.PrintDefaults()
	}
	dirFlag := modelsDirFlag(fs)
	quiet := fs.Bool("quiet", false, "no progress display")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("pull: need one OWNER/REPO[:QUANT]")
	}
	ref, err := modelstore.ParseRef(fs.Arg(0))
	if err != nil {
		return err
	}
	dir, err := modelsDir(getenv, *dirFlag)
	if err != nil {
		return err
	}
	p := &modelstore.Puller{
		Store:     &modelstore.Store{Dir: dir},
		Endpoint:  getenv("HF_ENDPOINT"),
		Token:     getenv("HF_TOKEN"),
		UserAgent: "thinkstream/" + pullVersion(),
	}
	if !*quiet {
		p.Progress, p.Terminal = stderr, writerIsTerminal(stderr)
	}
	path, err := p.Pull(ctx, ref)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, path)
	return err
}

// writerIsTerminal reports whether w is a terminal (progress bars redraw in
// place there; elsewhere they print lines).
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

func pullVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
