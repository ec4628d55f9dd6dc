package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// benchData is a typical coalesced thinking frame: JSON with an escaped
// newline and a raw one, as the hub hands it to AppendEvent.
var benchData = []byte(`{"seq":1234,"t":56789,"type":"thinking","step":7,"text":" so the sum is \\frac{n(n+1)}{2}, which for n = 100 gives 5050.\n"}`)

func BenchmarkAppendEvent(b *testing.B) {
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = AppendEvent(dst[:0], "r_01HZX3:1234", "thinking", benchData)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEventMultiline(b *testing.B) {
	data := []byte(strings.Repeat("for i in range(n):\r\n    total += i\n", 20))
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = AppendEvent(dst[:0], "r_01HZX3:1234", "code", data)
	}
}

func BenchmarkReader(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream, _ = AppendEvent(stream, "r_01HZX3:1234", "thinking", benchData)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(stream))
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1000 {
			b.Fatalf("%d events", n)
		}
	}
}
