package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/thinkstream/thinkstream"
)

func TestEncodeWireChunk(t *testing.T) {
	for _, n := range []int{0, 1, 200, 5000, 70000} {
		data := []byte(`{"text":"` + strings.Repeat("x", n) + `"}`)
		wire, err := EncodeWire(42, thinkstream.EventThinking, data)
		if err != nil {
			t.Fatal(err)
		}
		frame := sseOf(wire)
		if want := fmt.Sprintf("%x\r\n%s\r\n", len(frame), frame); string(wire) != want {
			t.Errorf("n=%d: chunk %q..., want %q...", n, wire[:min(20, len(wire))], want[:min(20, len(want))])
		}
		if want := "id: 42\nevent: thinking\ndata: " + string(data) + "\n\n"; string(frame) != want {
			t.Errorf("n=%d: frame %q..., want %q...", n, frame[:min(40, len(frame))], want[:min(40, len(want))])
		}
	}
	// Frames outside the log (the viewer count) carry no id to resume from.
	wire, err := EncodeWire(0, thinkstream.EventViewers, []byte(`{"viewers":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sseOf(wire)); got != "event: viewers\ndata: {\"viewers\":2}\n\n" {
		t.Errorf("viewers frame %q", got)
	}
}
