package sim

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/thinkstream/thinkstream"
)

func TestEchoStreamsTextVerbatim(t *testing.T) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1, Jitter: -1})
	want := "<think>a <script>x</script>\n\nb</think>\n`javascript:alert(1)` \\boxed{1}"
	for _, suffix := range []string{"", "\nLet's think step by step and output the final answer within \\boxed{}."} {
		problem := "sim:echo " + strconvQuote(want) + suffix
		var got strings.Builder
		_, err := e.Generate(context.Background(), thinkstream.Request{RunID: "r", Messages: []thinkstream.Message{{Role: "user", Content: problem}}},
			func(tok thinkstream.Token) error { got.WriteString(tok.Text); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want {
			t.Errorf("suffix %q: got %q, want %q", suffix, got.String(), want)
		}
	}
	for _, bad := range []string{"sim:echo unquoted", `sim:echo ""`} {
		_, err := e.Generate(context.Background(), thinkstream.Request{RunID: "r", Messages: []thinkstream.Message{{Role: "user", Content: bad}}},
			func(thinkstream.Token) error { return nil })
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLongIgnoresAppendedInstructions(t *testing.T) {
	n, ok, err := parseLong("sim:long 40000\nLet's think step by step.")
	if err != nil || !ok || n != 40000 {
		t.Fatalf("parseLong = %d, %v, %v", n, ok, err)
	}
}

func strconvQuote(s string) string { return strconv.Quote(s) }
