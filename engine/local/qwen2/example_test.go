package qwen2_test

import (
	"fmt"
	"log"

	"github.com/thinkstream/thinkstream/engine/local/qwen2"
)

// Greedy decoding: process the prompt in one batch, then feed back the
// most likely token one at a time. The cache holds the sequence; Truncate
// rewinds it to reuse a shared prefix.
func Example() {
	m, err := qwen2.Load("testdata/tiny-qwen2-f32.gguf", qwen2.Options{Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	c := m.NewCache(64)
	logits := make([]float32, m.Config.Vocab)
	tokens := []int32{72, 101, 108, 108, 111} // from the tokenizer
	if err := m.Forward(c, tokens, logits); err != nil {
		log.Fatal(err)
	}
	var out []int32
	for range 5 {
		next := int32(0)
		for i, v := range logits {
			if v > logits[next] {
				next = int32(i)
			}
		}
		out = append(out, next)
		if err := m.Forward(c, []int32{next}, logits); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(c.Len(), out)
	// Output: 10 [516 744 493 312 80]
}
