package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// errUsage reports a usage error whose message was already printed.
var errUsage = errors.New("usage")

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand may touch of the outside world.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func commands() map[string]command {
	return map[string]command{
		"serve":    {"run the server with the web UI", cmdServe},
		"worker":   {"generate runs that cluster gateways queued (needs --nats-url)", cmdWorker},
		"version":  {"print the version", cmdVersion},
		"generate": {"run the embedded engine on a prompt, without a server", plain(cmdGenerate)},
		"tokenize": {"print the token ids of a text", plain(cmdTokenize)},
		"pull":     {"download a GGUF model from the Hugging Face hub", plain(cmdPull)},
		"models":   {"list downloaded models", plain(cmdModels)},
		"ask":      {"ask a question and stream the reasoning", cmdAsk},
		"watch":    {"follow a run's reasoning live", cmdWatch},
		"runs":     {"list recent runs", cmdRuns},
		"bench":    {"benchmarks: bench fanout, bench engine, bench soak", cmdBench},
		"token":    {"make, list or revoke API tokens (token access mode)", cmdToken},
		"doctor":   {"check the event log of a data dir and repair it", cmdDoctor},
	}
}

// plain adapts commands written against explicit writers.
func plain(f func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		return f(ctx, args, e.getenv, e.stdout, e.stderr)
	}
}

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	// The engine's assembly kernels can be switched off to compare them
	// with the portable Go ones; read once, before any model loads.
	if getenv("THINKSTREAM_NOASM") == "1" {
		ggml.SetAssembly(false)
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	args, err := hoistGlobalFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "thinkstream: %v\n\n", err)
		usage(stderr, cmds)
		return errUsage
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "thinkstream: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return errUsage
	}
	err = c.run(ctx, e, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// globalFlags may also stand before the command: "thinkstream --server URL
// runs" means "thinkstream runs --server URL".
var globalFlags = []string{"server"}

// hoistGlobalFlags moves global flags given before the command to after it.
func hoistGlobalFlags(args []string) ([]string, error) {
	var moved []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		known := false
		for _, g := range globalFlags {
			known = known || name == g
		}
		switch {
		case !known:
			return nil, fmt.Errorf("%s must come after the command (only --%s may come before it)", args[0], strings.Join(globalFlags, ", --"))
		case hasValue:
			moved, args = append(moved, args[0]), args[1:]
		case len(args) < 2:
			return nil, fmt.Errorf("%s needs a value", args[0])
		default:
			moved, args = append(moved, args[0], args[1]), args[2:]
		}
	}
	if len(args) == 0 {
		return nil, errors.New("no command given")
	}
	return append(append([]string{args[0]}, moved...), args[1:]...), nil
}

// setUsage gives a flag set a usage text that names the command, instead
// of the flag package's bare "Usage of NAME:".
func setUsage(fs *flag.FlagSet, w io.Writer, synopsis, about string) {
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: thinkstream %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: thinkstream <command> [flags] [args]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'thinkstream <command> -h' for a command's flags.")
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// parse parses args; a bad flag is a usage error whose message the flag
// package has printed already (with the usage), so it is not printed again.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// parseFlags parses args and then fills every flag the command line left
// unset from the environment (THINKSTREAM_<NAME>) and then from a config
// file, giving the precedence flag > env > file.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, file map[string]string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		key := "THINKSTREAM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(key); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", key, v, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config file %s=%q: %w", f.Name, v, e)
			}
		}
	})
	return err
}

func cmdVersion(ctx context.Context, e *env, args []string) error {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Fprintln(e.stdout, "thinkstream", v)
	return nil
}
