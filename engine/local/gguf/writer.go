package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// KV is one metadata entry to write.
type KV struct {
	Key   string
	Value Value
}

// Constructors for metadata values, for writing files.
func StringValue(s string) Value   { return Value{Type: TypeString, s: s} }
func Uint32Value(x uint32) Value   { return Value{Type: TypeUint32, u: uint64(x)} }
func Uint64Value(x uint64) Value   { return Value{Type: TypeUint64, u: x} }
func Int32Value(x int32) Value     { return Value{Type: TypeInt32, i: int64(x)} }
func Float32Value(x float32) Value { return Value{Type: TypeFloat32, f: float64(x)} }
func BoolValue(b bool) Value {
	v := Value{Type: TypeBool}
	if b {
		v.u = 1
	}
	return v
}
func StringsValue(s []string) Value { return Value{Type: TypeArray, Elem: TypeString, arr: s} }
func Int32sValue(a []int32) Value   { return Value{Type: TypeArray, Elem: TypeInt32, arr: a} }

// Writer writes a GGUF v3 file in one pass: NewWriter writes the header and
// tensor directory, then Write takes the tensors' bytes in directory order
// (in as many pieces as the caller likes) and inserts the alignment padding,
// so multi-gigabyte models can be produced without holding them in memory.
type Writer struct {
	w       *bufio.Writer
	align   uint64
	tensors []TensorInfo
	cur     int    // tensor being written
	done    uint64 // bytes of the current tensor written
}

// NewWriter writes the header for the given metadata and tensors (Name,
// Type and Dims are used; Offset and Size are computed).
func NewWriter(w io.Writer, meta []KV, tensors []TensorInfo) (*Writer, error) {
	gw := &Writer{w: bufio.NewWriterSize(w, 1<<20), align: DefaultAlignment}
	for _, kv := range meta {
		if kv.Key == "general.alignment" {
			a, ok := kv.Value.Uint()
			if !ok || a == 0 || a&(a-1) != 0 {
				return nil, fmt.Errorf("%w: general.alignment must be a power of two", ErrInvalidValue)
			}
			gw.align = a
		}
	}
	off := uint64(0)
	for _, t := range tensors {
		ti := TensorInfo{Name: t.Name, Type: t.Type, Dims: append([]uint64(nil), t.Dims...)}
		n := ti.Elements()
		rb, err := t.Type.RowBytes(int(n))
		if err != nil {
			return nil, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
		}
		off = (off + gw.align - 1) / gw.align * gw.align
		ti.Offset, ti.Size = off, uint64(rb)
		off += ti.Size
		gw.tensors = append(gw.tensors, ti)
	}

	b := binary.LittleEndian.AppendUint32(nil, Magic)
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(meta)))
	for _, kv := range meta {
		b = appendString(b, kv.Key)
		b = binary.LittleEndian.AppendUint32(b, uint32(kv.Value.Type))
		var err error
		if b, err = appendValue(b, kv.Value); err != nil {
			return nil, fmt.Errorf("gguf: key %q: %w", kv.Key, err)
		}
	}
	for _, ti := range gw.tensors {
		b = appendString(b, ti.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ti.Dims)))
		for _, d := range ti.Dims {
			b = binary.LittleEndian.AppendUint64(b, d)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(ti.Type))
		b = binary.LittleEndian.AppendUint64(b, ti.Offset)
	}
	for uint64(len(b))%gw.align != 0 {
		b = append(b, 0)
	}
	if _, err := gw.w.Write(b); err != nil {
		return nil, fmt.Errorf("gguf: write header: %w", err)
	}
	return gw, nil
}

// Tensors returns the directory being written, with offsets and sizes.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// Write appends tensor bytes; it never splits padding into a tensor.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if w.cur >= len(w.tensors) {
			return n, errors.New("gguf: more tensor data than the directory declares")
		}
		ti := w.tensors[w.cur]
		if w.done == 0 && w.cur > 0 {
			prev := w.tensors[w.cur-1]
			if pad := ti.Offset - (prev.Offset + prev.Size); pad > 0 {
				if _, err := w.w.Write(make([]byte, pad)); err != nil {
					return n, err
				}
			}
		}
		k := min(uint64(len(p)), ti.Size-w.done)
		if _, err := w.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += int(k)
		p = p[k:]
		w.done += k
		if w.done == ti.Size {
			w.cur++
			w.done = 0
		}
	}
	return n, nil
}

// Close flushes the output and checks that every tensor was written. It
// does not close the underlying writer.
func (w *Writer) Close() error {
	if w.cur != len(w.tensors) {
		return fmt.Errorf("gguf: only %d of %d tensors written", w.cur, len(w.tensors))
	}
	return w.w.Flush()
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v Value) ([]byte, error) {
	switch v.Type {
	case TypeUint8, TypeBool:
		return append(b, byte(v.u)), nil
	case TypeInt8:
		return append(b, byte(v.i)), nil
	case TypeUint16:
		return binary.LittleEndian.AppendUint16(b, uint16(v.u)), nil
	case TypeInt16:
		return binary.LittleEndian.AppendUint16(b, uint16(v.i)), nil
	case TypeUint32:
		return binary.LittleEndian.AppendUint32(b, uint32(v.u)), nil
	case TypeInt32:
		return binary.LittleEndian.AppendUint32(b, uint32(v.i)), nil
	case TypeUint64:
		return binary.LittleEndian.AppendUint64(b, v.u), nil
	case TypeInt64:
		return binary.LittleEndian.AppendUint64(b, uint64(v.i)), nil
	case TypeFloat32:
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v.f))), nil
	case TypeFloat64:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.f)), nil
	case TypeString:
		return appendString(b, v.s), nil
	case TypeArray:
		b = binary.LittleEndian.AppendUint32(b, uint32(v.Elem))
		switch a := v.arr.(type) {
		case []string:
			b = binary.LittleEndian.AppendUint64(b, uint64(len(a)))
			for _, s := range a {
				b = appendString(b, s)
			}
			return b, nil
		case []int32:
			b = binary.LittleEndian.AppendUint64(b, uint64(len(a)))
			for _, x := range a {
				b = binary.LittleEndian.AppendUint32(b, uint32(x))
			}
			return b, nil
		}
		return nil, fmt.Errorf("%w: cannot write array of %s", ErrInvalidValue, v.Elem)
	}
	return nil, fmt.Errorf("%w: unknown value type %d", ErrInvalidValue, uint32(v.Type))
}
