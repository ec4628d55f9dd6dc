package ggml_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// modelDir holds the tiny models; the qwen2 package owns the copies.
var modelDir = filepath.Join("..", "qwen2", "testdata")

type dequantRef struct {
	File         string `json:"file"`
	Tensor       string `json:"tensor"`
	Type         string `json:"type"`
	RowLength    int    `json:"row_length"`
	RowStart     int    `json:"row_start"`
	NRows        int    `json:"n_rows"`
	OffsetFloats int    `json:"offset_floats"`
}

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func ulps(a, b float32) int64 {
	ia, ib := int64(int32(math.Float32bits(a))), int64(int32(math.Float32bits(b)))
	if ia < 0 {
		ia = math.MinInt32 - ia
	}
	if ib < 0 {
		ib = math.MinInt32 - ib
	}
	if ia > ib {
		return ia - ib
	}
	return ib - ia
}

// TestDequantizeReference compares against rows dequantized by ggml itself.
func TestDequantizeReference(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("testdata", "dequant-rows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []dequantRef
	if err := json.Unmarshal(js, &refs); err != nil {
		t.Fatal(err)
	}
	want := readFloats(t, filepath.Join("testdata", "dequant-rows.bin"))
	files := map[string]*gguf.File{}
	t.Cleanup(func() {
		for _, f := range files {
			f.Close()
		}
	})
	for _, ref := range refs {
		t.Run(ref.Tensor+"/"+ref.Type, func(t *testing.T) {
			f := files[ref.File]
			if f == nil {
				if f, err = gguf.Open(filepath.Join(modelDir, ref.File)); err != nil {
					t.Fatal(err)
				}
				files[ref.File] = f
			}
			data, ti, err := f.TensorData(ref.Tensor)
			if err != nil {
				t.Fatal(err)
			}
			typ, ok := ggml.ParseType(ref.Type)
			if !ok || typ != ti.Type {
				t.Fatalf("type %s, file says %s", ref.Type, ti.Type)
			}
			rowBytes, _ := typ.RowBytes(ref.RowLength)
			got := make([]float32, ref.NRows*ref.RowLength)
			src := data[ref.RowStart*rowBytes : (ref.RowStart+ref.NRows)*rowBytes]
			if err := ggml.Dequantize(typ, src, got); err != nil {
				t.Fatal(err)
			}
			exp := want[ref.OffsetFloats : ref.OffsetFloats+len(got)]
			worst := int64(0)
			for i := range got {
				if u := ulps(got[i], exp[i]); u > worst {
					worst = u
					if u > 1 {
						t.Fatalf("element %d: got %g, want %g (%d ulps)", i, got[i], exp[i], u)
					}
				}
			}
			t.Logf("max %d ulp", worst)
		})
	}
}

func TestDequantizeErrors(t *testing.T) {
	dst := make([]float32, 32)
	if err := ggml.Dequantize(ggml.Q8_0, make([]byte, 33), dst); err == nil {
		t.Error("short source: no error")
	}
	if err := ggml.Dequantize(ggml.Q4_K, make([]byte, 144), dst); err == nil {
		t.Error("partial block: no error")
	}
	if err := ggml.Dequantize(ggml.Q3_K, make([]byte, 110), make([]float32, 256)); err == nil {
		t.Error("unsupported type: no error")
	}
	if err := ggml.Dequantize(ggml.Type(4), nil, nil); err == nil {
		t.Error("unknown type: no error")
	}
}
