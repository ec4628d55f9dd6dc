package hub

import (
	"strconv"
	"testing"

	"github.com/thinkstream/thinkstream"
)

// BenchmarkPublishLongRun publishes one frame at a time to a run far past
// its window, the shape of a long live run: the cost per publish must not
// grow with the window.
func BenchmarkPublishLongRun(b *testing.B) {
	for _, window := range []int{1024, 4096, 16384} {
		b.Run("window="+strconv.Itoa(window), func(b *testing.B) {
			h := New(nil, Config{Window: window})
			defer h.Close("r")
			h.Open("r", 0)
			data := []byte(`{"type":"thinking","text":"x"}`)
			seq := int64(0)
			for b.Loop() {
				seq++
				if err := h.Publish("r", []Frame{testFrame(seq, thinkstream.EventThinking, data)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
