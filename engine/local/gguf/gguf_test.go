package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// sample builds a small valid file with every kind of value the writer
// supports and two tensors.
func sample(t testing.TB) []byte {
	t.Helper()
	meta := []KV{
		{"general.architecture", StringValue("qwen2")},
		{"general.alignment", Uint32Value(64)},
		{"qwen2.block_count", Uint32Value(2)},
		{"qwen2.rope.freq_base", Float32Value(10000)},
		{"x.neg", Int32Value(-5)},
		{"x.u64", Uint64Value(1 << 40)},
		{"x.flag", BoolValue(true)},
		{"tokenizer.ggml.tokens", StringsValue([]string{"a", "", "héllo", "<|im_end|>"})},
		{"tokenizer.ggml.token_type", Int32sValue([]int32{1, 1, 1, 3})},
	}
	tensors := []TensorInfo{
		{Name: "a", Type: ggml.F32, Dims: []uint64{3, 2}},
		{Name: "b", Type: ggml.Q8_0, Dims: []uint64{32}},
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, meta, tensors)
	if err != nil {
		t.Fatal(err)
	}
	// Write in odd pieces to exercise the padding logic.
	payload := make([]byte, 24+34)
	for i := range payload {
		payload[i] = byte(i + 1)
	}
	for _, p := range [][]byte{payload[:5], payload[5:30], payload[30:]} {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	f, err := Parse(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	if s, ok := f.String("general.architecture"); !ok || s != "qwen2" {
		t.Errorf("architecture = %q, %v", s, ok)
	}
	if n, ok := f.Uint("qwen2.block_count"); !ok || n != 2 {
		t.Errorf("block_count = %d, %v", n, ok)
	}
	if x, ok := f.Float("qwen2.rope.freq_base"); !ok || x != 10000 {
		t.Errorf("freq_base = %v, %v", x, ok)
	}
	if _, ok := f.Uint("x.neg"); ok {
		t.Error("negative value read as uint")
	}
	if x, ok := f.Int("x.neg"); !ok || x != -5 {
		t.Errorf("x.neg = %d, %v", x, ok)
	}
	if x, ok := f.Uint("x.u64"); !ok || x != 1<<40 {
		t.Errorf("x.u64 = %d", x)
	}
	if b, ok := f.Bool("x.flag"); !ok || !b {
		t.Errorf("flag = %v, %v", b, ok)
	}
	for _, key := range []string{"missing", "also.missing"} {
		if _, ok := f.Uint(key); ok {
			t.Errorf("Uint(%q) reported a value", key)
		}
		if _, ok := f.Int(key); ok {
			t.Errorf("Int(%q) reported a value", key)
		}
		if _, ok := f.Float(key); ok {
			t.Errorf("Float(%q) reported a value", key)
		}
		if _, ok := f.Bool(key); ok {
			t.Errorf("Bool(%q) reported a value", key)
		}
		if _, ok := f.String(key); ok {
			t.Errorf("String(%q) reported a value", key)
		}
		if _, ok := f.Strings(key); ok {
			t.Errorf("Strings(%q) reported a value", key)
		}
		if _, ok := f.Int32s(key); ok {
			t.Errorf("Int32s(%q) reported a value", key)
		}
	}
	if _, ok := f.String("qwen2.block_count"); ok {
		t.Error("uint read as string")
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if diff := cmp.Diff([]string{"a", "", "héllo", "<|im_end|>"}, toks); !ok || diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	tt, ok := f.Int32s("tokenizer.ggml.token_type")
	if diff := cmp.Diff([]int32{1, 1, 1, 3}, tt); !ok || diff != "" {
		t.Errorf("token_type (-want +got):\n%s", diff)
	}
	wantKeys := []string{"general.architecture", "general.alignment", "qwen2.block_count", "qwen2.rope.freq_base", "x.neg", "x.u64", "x.flag", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type"}
	if diff := cmp.Diff(wantKeys, f.Keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	a, ti, err := f.TensorData("a")
	if err != nil {
		t.Fatal(err)
	}
	if ti.Type != ggml.F32 || !cmp.Equal(ti.Dims, []uint64{3, 2}) || len(a) != 24 || a[0] != 1 || a[23] != 24 {
		t.Errorf("tensor a: %+v %v", ti, a)
	}
	b, ti, err := f.TensorData("b")
	if err != nil {
		t.Fatal(err)
	}
	if ti.Offset != 64 || len(b) != 34 || b[0] != 25 || b[33] != 58 {
		t.Errorf("tensor b: %+v %v", ti, b)
	}
	if _, _, err := f.TensorData("c"); !errors.Is(err, ErrNoTensor) {
		t.Errorf("missing tensor: err = %v", err)
	}
}

func TestOpenModel(t *testing.T) {
	f, err := Open(filepath.Join("..", "qwen2", "testdata", "tiny-qwen2-q4_k_m.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if arch, _ := f.String("general.architecture"); arch != "qwen2" {
		t.Errorf("architecture %q", arch)
	}
	if ft, _ := f.Uint("general.file_type"); ft != 15 {
		t.Errorf("file_type %d", ft)
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) != 1024 || toks[1023] != "<|im_end|>" || toks[0] != "!" {
		t.Errorf("tokens: %d entries, ok=%v", len(toks), ok)
	}
	merges, ok := f.Strings("tokenizer.ggml.merges")
	if !ok || len(merges) != 765 {
		t.Errorf("merges: %d, ok=%v", len(merges), ok)
	}
	if len(f.Tensors) != 2+2*12 {
		t.Errorf("%d tensors", len(f.Tensors))
	}
	d, ti, err := f.TensorData("blk.1.ffn_down.weight")
	if err != nil {
		t.Fatal(err)
	}
	if ti.Type != ggml.Q6_K || !cmp.Equal(ti.Dims, []uint64{256, 768}) || len(d) != 768*210 {
		t.Errorf("ffn_down: %+v, %d bytes", ti, len(d))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.TensorData("blk.1.ffn_down.weight"); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	// Metadata outlives the mapping.
	if toks[1023] != "<|im_end|>" {
		t.Error("token strings changed after Close")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.gguf")); err == nil {
		t.Error("missing file: no error")
	}
	empty := filepath.Join(dir, "empty.gguf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty file: %v", err)
	}
}

func header(version uint32, nTensors, nKV uint64) []byte {
	b := binary.LittleEndian.AppendUint32(nil, Magic)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, nTensors)
	return binary.LittleEndian.AppendUint64(b, nKV)
}

func tensorEntry(b []byte, name string, dims []uint64, typ, off uint64) []byte {
	b = appendString(b, name)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(dims)))
	for _, d := range dims {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(typ))
	return binary.LittleEndian.AppendUint64(b, off)
}

func kvEntry(b []byte, key string, typ uint32, payload ...byte) []byte {
	b = appendString(b, key)
	b = binary.LittleEndian.AppendUint32(b, typ)
	return append(b, payload...)
}

func pad(b []byte, n int) []byte {
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	return append(b, make([]byte, n)...)
}

func TestParseErrors(t *testing.T) {
	u64 := func(x uint64) []byte { return binary.LittleEndian.AppendUint64(nil, x) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), ErrBadMagic},
		{"version 1", header(1, 0, 0), ErrVersion},
		{"version 4", header(4, 0, 0), ErrVersion},
		{"short header", header(3, 0, 0)[:20], ErrTruncated},
		{"absurd kv count", header(3, 0, 1<<62), ErrTruncated},
		{"absurd tensor count", header(3, 1<<60, 0), ErrTruncated},
		{"huge key", append(header(3, 0, 1), u64(1<<40)...), ErrTruncated},
		{"unknown value type", kvEntry(header(3, 0, 1), "k", 13, 0, 0, 0, 0), ErrInvalidValue},
		{"bad bool", kvEntry(header(3, 0, 1), "k", uint32(TypeBool), 2), ErrInvalidValue},
		{"huge array", kvEntry(header(3, 0, 1), "k", uint32(TypeArray), append([]byte{byte(TypeInt32), 0, 0, 0}, u64(1<<40)...)...), ErrTruncated},
		{"unknown array type", kvEntry(header(3, 0, 1), "k", uint32(TypeArray), append([]byte{42, 0, 0, 0}, u64(1)...)...), ErrInvalidValue},
		{"huge string in array", kvEntry(header(3, 0, 1), "k", uint32(TypeArray), append(append([]byte{byte(TypeString), 0, 0, 0}, u64(1)...), u64(1<<50)...)...), ErrTruncated},
		{"bad alignment", kvEntry(header(3, 0, 1), "general.alignment", uint32(TypeUint32), 3, 0, 0, 0), ErrInvalidValue},
		{"duplicate key", kvEntry(kvEntry(header(3, 0, 2), "k", uint32(TypeUint8), 1), "k", uint32(TypeUint8), 1), ErrInvalidValue},
		{"too many dims", pad(tensorEntry(header(3, 1, 0), "t", []uint64{1, 1, 1, 1, 1}, 0, 0), 64), ErrInvalidInfo},
		{"zero dims", pad(tensorEntry(header(3, 1, 0), "t", nil, 0, 0), 64), ErrInvalidInfo},
		{"absurd shape", pad(tensorEntry(header(3, 1, 0), "t", []uint64{1 << 40, 1 << 40}, 0, 0), 64), ErrInvalidInfo},
		{"unknown tensor type", pad(tensorEntry(header(3, 1, 0), "t", []uint64{4}, 4, 0), 64), ggml.ErrUnknownType},
		{"partial block", pad(tensorEntry(header(3, 1, 0), "t", []uint64{16}, uint64(ggml.Q8_0), 0), 64), ErrInvalidInfo},
		{"misaligned", pad(tensorEntry(header(3, 1, 0), "t", []uint64{4}, 0, 8), 64), ErrInvalidInfo},
		{"data out of bounds", pad(tensorEntry(header(3, 1, 0), "t", []uint64{32}, 0, 0), 64), ErrTruncated},
		{"offset out of bounds", pad(tensorEntry(header(3, 1, 0), "t", []uint64{1}, 0, 1<<62), 64), ErrTruncated},
		{"duplicate tensor", pad(tensorEntry(tensorEntry(header(3, 2, 0), "t", []uint64{1}, 0, 0), "t", []uint64{1}, 0, 32), 64), ErrInvalidInfo},
		{"no data section", tensorEntry(header(3, 1, 0), "t", []uint64{1}, 0, 0), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseTruncations(t *testing.T) {
	data := sample(t)
	for n := 0; n < len(data); n++ {
		if _, err := Parse(data[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed without error", n, len(data))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	f.Add(header(3, 0, 0))
	f.Add(pad(tensorEntry(header(3, 1, 0), "t", []uint64{8}, 0, 0), 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		for _, ti := range g.Tensors {
			d, _, err := g.TensorData(ti.Name)
			if err != nil || uint64(len(d)) != ti.Size {
				t.Fatalf("tensor %q: %d bytes, err %v", ti.Name, len(d), err)
			}
		}
		for _, k := range g.Keys {
			v := g.Metadata[k]
			_ = v.GoString()
			v.Int32s()
		}
	})
}
