package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
)

// testMeta is a minimal GGUF metadata reader for these tests, so the
// tokenizer can be tested without the model-loading packages.
type testMeta map[string]any

func (m testMeta) String(k string) (string, bool) { v, ok := m[k].(string); return v, ok }
func (m testMeta) Uint(k string) (uint64, bool) {
	switch v := m[k].(type) {
	case uint32:
		return uint64(v), true
	case uint64:
		return v, true
	case int32:
		return uint64(v), v >= 0
	}
	return 0, false
}
func (m testMeta) Strings(k string) ([]string, bool) { v, ok := m[k].([]string); return v, ok }
func (m testMeta) Int32s(k string) ([]int32, bool)   { v, ok := m[k].([]int32); return v, ok }

type ggufReader struct {
	b   []byte
	off int
	err error
}

func (r *ggufReader) take(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.err = errors.New("gguf: truncated")
		return make([]byte, max(n, 0))
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}
func (r *ggufReader) u32() uint32  { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *ggufReader) u64() uint64  { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *ggufReader) str() string  { return string(r.take(int(r.u64()))) }
func (r *ggufReader) value(typ uint32) any {
	switch typ {
	case 0, 1, 7:
		return r.take(1)[0]
	case 2, 3:
		return binary.LittleEndian.Uint16(r.take(2))
	case 4:
		return r.u32()
	case 5:
		return int32(r.u32())
	case 6:
		return math.Float32frombits(r.u32())
	case 8:
		return r.str()
	case 10, 11:
		return r.u64()
	case 12:
		return math.Float64frombits(r.u64())
	case 9:
		et, n := r.u32(), int(r.u64())
		switch et {
		case 8:
			out := make([]string, 0, n)
			for i := 0; i < n && r.err == nil; i++ {
				out = append(out, r.str())
			}
			return out
		case 5:
			out := make([]int32, 0, n)
			for i := 0; i < n && r.err == nil; i++ {
				out = append(out, int32(r.u32()))
			}
			return out
		default:
			for i := 0; i < n && r.err == nil; i++ {
				r.value(et)
			}
			return nil
		}
	}
	r.err = fmt.Errorf("gguf: unknown type %d", typ)
	return nil
}

func readTestMeta(path string) (testMeta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &ggufReader{b: b}
	if string(r.take(4)) != "GGUF" {
		return nil, errors.New("not gguf")
	}
	r.u32()
	r.u64()
	n := r.u64()
	m := testMeta{}
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.str()
		m[k] = r.value(r.u32())
	}
	return m, r.err
}

var qwenOnce = sync.OnceValues(func() (*Tokenizer, error) {
	md, err := readTestMeta("testdata/vocab-qwen2.gguf")
	if err != nil {
		return nil, err
	}
	return FromMetadata(md)
})

// qwen returns the real Qwen2.5 tokenizer, built once per test binary.
func qwen(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := qwenOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
