package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thinkstream/thinkstream/auth"
)

// cmdToken manages the API tokens of token mode. The server re-reads the
// token file when it changes, so tokens work at once.
func cmdToken(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(e.stderr, "Usage: thinkstream token create --name NAME --scope SCOPES [--ttl D]\n       thinkstream token list\n       thinkstream token revoke ID|NAME\n\nScopes: create, watch, annotate, admin (admin implies all). Each takes --data-dir or --tokens-file.")
		return errUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dataDir := fs.String("data-dir", filepath.Join(e.getenv("HOME"), ".local", "share", "thinkstream"), "the server's data directory")
	file := fs.String("tokens-file", "", "token file (default: DATA-DIR/tokens.json)")
	var name, scopes *string
	var ttl *time.Duration
	jsonOut := fs.Bool("json", false, "print JSON")
	switch sub {
	case "create":
		setUsage(fs, e.stderr, "token create --name NAME --scope SCOPES [--ttl D]", "Makes a token and prints it once (only its hash is stored).")
		name = fs.String("name", "", "who holds the token (annotations carry it)")
		scopes = fs.String("scope", "watch", "comma-separated: create, watch, annotate, admin")
		ttl = fs.Duration("ttl", 0, "expire after this long (0: never)")
	case "list":
		setUsage(fs, e.stderr, "token list", "Lists the tokens (never their secrets).")
	case "revoke":
		setUsage(fs, e.stderr, "token revoke ID|NAME", "Deletes a token; requests with it are refused at once.")
	}
	if err := parseFlags(fs, args[1:], e.getenv, nil); err != nil {
		return err
	}
	path := *file
	if path == "" {
		path = filepath.Join(*dataDir, "tokens.json")
	}
	store, err := auth.OpenStore(path)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		if *name == "" {
			fmt.Fprintln(e.stderr, "thinkstream token create: --name is required (who holds the token)")
			return errUsage
		}
		sc, err := auth.ParseScopes(*scopes)
		if err != nil {
			return err
		}
		tok, info, err := store.Create(*name, sc, *ttl)
		if err != nil {
			return err
		}
		if *jsonOut {
			return json.NewEncoder(e.stdout).Encode(map[string]any{"token": tok, "id": info.ID, "name": info.Name, "scopes": info.Scopes})
		}
		fmt.Fprintln(e.stdout, tok)
		fmt.Fprintf(e.stderr, "token %s for %s (%s) saved in %s; it is shown only now\n", info.ID, info.Name, joinScopes(info.Scopes), path)
		return nil
	case "list":
		toks, err := store.List()
		if err != nil {
			return err
		}
		if *jsonOut {
			for i := range toks {
				toks[i].Hash = ""
			}
			return json.NewEncoder(e.stdout).Encode(toks)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tEXPIRES")
		for _, t := range toks {
			exp := "never"
			if !t.Expires.IsZero() {
				exp = t.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, joinScopes(t.Scopes), t.Created.Format(time.RFC3339), exp)
		}
		return tw.Flush()
	default:
		if fs.NArg() != 1 {
			fmt.Fprintln(e.stderr, "Usage: thinkstream token revoke ID|NAME")
			return errUsage
		}
		t, err := store.Revoke(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "revoked token %s (%s)\n", t.ID, t.Name)
		return nil
	}
}

func joinScopes(ss []auth.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
