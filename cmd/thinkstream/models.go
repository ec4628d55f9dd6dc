package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/thinkstream/thinkstream/modelstore"
)

// cmdModels lists the models in the models directory.
func cmdModels(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setUsage(fs, stderr, "models [--dir DIR] [--json]", "Lists the downloaded models.")
	dirFlag := modelsDirFlag(fs)
	jsonOut := fs.Bool("json", false, "print a JSON array")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := modelsDir(getenv, *dirFlag)
	if err != nil {
		return err
	}
	models, err := (&modelstore.Store{Dir: dir}).List()
	if err != nil {
		return err
	}
	if *jsonOut {
		type entry struct {
			Name  string `json:"name"`
			Ref   string `json:"ref,omitempty"`
			Path  string `json:"path"`
			Size  int64  `json:"size"`
			Quant string `json:"quant,omitempty"`
			Arch  string `json:"arch,omitempty"`
		}
		out := make([]entry, 0, len(models))
		for _, m := range models {
			out = append(out, entry{m.Name, m.Ref, m.Path, m.Size, m.Quant, m.Arch})
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	if len(models) == 0 {
		fmt.Fprintf(stderr, "no models in %s; get one with: thinkstream pull mradermacher/VibeThinker-1.5B-GGUF:Q4_K_M\n", dir)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tQUANT\tSIZE\tFILE")
	for _, m := range models {
		name := m.Ref
		if name == "" {
			name = m.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, m.Quant, modelsHumanSize(m.Size), m.Name)
	}
	return tw.Flush()
}

func modelsHumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
