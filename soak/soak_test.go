package soak

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/thinkstream/thinkstream/bench"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestShort runs the short form of every scenario against a freshly built
// server binary. It takes minutes and starts many processes and sockets,
// so it runs only when THINKSTREAM_SOAK=1 (CI sets it in its own step);
// THINKSTREAM_SOAK_SCENARIOS=kill,lock narrows it.
func TestShort(t *testing.T) {
	if os.Getenv("THINKSTREAM_SOAK") != "1" {
		t.Skip("set THINKSTREAM_SOAK=1 to run the soak and chaos suite's short form")
	}
	bin := filepath.Join(t.TempDir(), "thinkstream")
	build := exec.Command("go", "build", "-o", bin, "github.com/thinkstream/thinkstream/cmd/thinkstream")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the server: %v\n%s", err, out)
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		t.Fatalf("raise the open-file limit: %v", err)
	}
	names := Names()
	if s := os.Getenv("THINKSTREAM_SOAK_SCENARIOS"); s != "" {
		names = strings.Split(s, ",")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()
			res, err := Run(ctx, Config{Bin: bin, Scenarios: []string{name}, Short: true, TempDir: t.TempDir(), Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			Print(&out, res)
			t.Log("\n" + out.String())
			for _, r := range res {
				for _, f := range r.Failures {
					t.Errorf("%s: %s", r.Scenario, f)
				}
			}
		})
	}
}
