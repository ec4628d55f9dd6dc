package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// reader decodes little-endian fields, remembering the first error so that
// call sites can check once after a group of reads.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrTruncated, n, r.off, r.left())
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// strBytes reads a length-prefixed string without copying it.
func (r *reader) strBytes(max uint64) []byte {
	n := r.u64()
	if r.err != nil {
		return nil
	}
	if n > max || n > uint64(r.left()) {
		r.err = fmt.Errorf("%w: string of %d bytes at offset %d, %d bytes left", ErrTruncated, n, r.off-8, r.left())
		return nil
	}
	return r.take(int(n))
}

func (r *reader) str(max uint64) string { return string(r.strBytes(max)) }

func (r *reader) value(t ValueType, depth int) Value {
	v := Value{Type: t}
	switch t {
	case TypeUint8:
		v.u = uint64(r.u8())
	case TypeInt8:
		v.i = int64(int8(r.u8()))
	case TypeUint16:
		v.u = uint64(r.u16())
	case TypeInt16:
		v.i = int64(int16(r.u16()))
	case TypeUint32:
		v.u = uint64(r.u32())
	case TypeInt32:
		v.i = int64(int32(r.u32()))
	case TypeUint64:
		v.u = r.u64()
	case TypeInt64:
		v.i = int64(r.u64())
	case TypeFloat32:
		v.f = float64(math.Float32frombits(r.u32()))
	case TypeFloat64:
		v.f = math.Float64frombits(r.u64())
	case TypeBool:
		b := r.u8()
		if r.err == nil && b > 1 {
			r.err = fmt.Errorf("%w: bool byte %d", ErrInvalidValue, b)
		}
		v.u = uint64(b)
	case TypeString:
		v.s = r.str(math.MaxUint64)
	case TypeArray:
		if depth >= maxArrayDepth {
			r.err = fmt.Errorf("%w: arrays nested deeper than %d", ErrInvalidValue, maxArrayDepth)
			return v
		}
		v.Elem = ValueType(r.u32())
		v.arr = r.array(v.Elem, depth)
	default:
		r.err = fmt.Errorf("%w: unknown value type %d", ErrInvalidValue, uint32(t))
	}
	return v
}

func (r *reader) array(elem ValueType, depth int) any {
	n := r.u64()
	if r.err != nil {
		return nil
	}
	minSize := elem.size()
	switch elem {
	case TypeString, TypeArray:
		minSize = 8 // length or type+count prefix
	case TypeUint8, TypeInt8, TypeBool, TypeUint16, TypeInt16, TypeUint32, TypeInt32, TypeFloat32, TypeUint64, TypeInt64, TypeFloat64:
	default:
		r.err = fmt.Errorf("%w: unknown array element type %d", ErrInvalidValue, uint32(elem))
		return nil
	}
	if n > uint64(r.left()/minSize) {
		r.err = fmt.Errorf("%w: array of %d %s cannot fit in %d bytes", ErrTruncated, n, elem, r.left())
		return nil
	}
	cnt := int(n)
	switch elem {
	case TypeString:
		return r.strings(cnt)
	case TypeArray:
		out := make([]Value, cnt)
		for i := range out {
			out[i] = r.value(TypeArray, depth+1)
			if r.err != nil {
				return nil
			}
		}
		return out
	case TypeBool:
		p := r.take(cnt)
		out := make([]bool, cnt)
		for i, b := range p {
			if b > 1 {
				r.err = fmt.Errorf("%w: bool byte %d", ErrInvalidValue, b)
				return nil
			}
			out[i] = b == 1
		}
		return out
	}
	p := r.take(cnt * minSize)
	switch elem {
	case TypeUint8:
		return append([]uint8(nil), p...)
	case TypeInt8:
		return decodeInts(p, 1, func(b []byte) int8 { return int8(b[0]) })
	case TypeUint16:
		return decodeInts(p, 2, binary.LittleEndian.Uint16)
	case TypeInt16:
		return decodeInts(p, 2, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
	case TypeUint32:
		return decodeInts(p, 4, binary.LittleEndian.Uint32)
	case TypeInt32:
		return decodeInts(p, 4, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
	case TypeUint64:
		return decodeInts(p, 8, binary.LittleEndian.Uint64)
	case TypeInt64:
		return decodeInts(p, 8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
	case TypeFloat32:
		return decodeInts(p, 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
	default: // TypeFloat64
		return decodeInts(p, 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	}
}

func decodeInts[T any](p []byte, size int, get func([]byte) T) []T {
	out := make([]T, len(p)/size)
	for i := range out {
		out[i] = get(p[i*size:])
	}
	return out
}

// strings decodes n strings into one shared backing buffer: the tokenizer
// arrays hold ~150k short strings and one allocation beats 150k.
func (r *reader) strings(n int) []string {
	start := r.off
	total := 0
	for i := 0; i < n; i++ {
		s := r.strBytes(math.MaxUint64)
		if r.err != nil {
			return nil
		}
		total += len(s)
	}
	buf := make([]byte, 0, total)
	out := make([]string, n)
	r2 := reader{b: r.b, off: start}
	for i := range out {
		s := r2.strBytes(math.MaxUint64)
		lo := len(buf)
		buf = append(buf, s...)
		if len(s) > 0 {
			out[i] = unsafe.String(&buf[lo], len(s))
		}
	}
	return out
}

func (r *reader) tensorInfo() (TensorInfo, error) {
	var ti TensorInfo
	ti.Name = r.str(maxNameLen)
	nd := r.u32()
	if r.err != nil {
		return ti, r.err
	}
	if nd == 0 || nd > maxDims {
		return ti, fmt.Errorf("%w: %q has %d dimensions (want 1…%d)", ErrInvalidInfo, ti.Name, nd, maxDims)
	}
	ti.Dims = make([]uint64, nd)
	elems := uint64(1)
	for i := range ti.Dims {
		d := r.u64()
		if r.err != nil {
			return ti, r.err
		}
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > 1<<48 {
			return ti, fmt.Errorf("%w: %q has absurd shape", ErrInvalidInfo, ti.Name)
		}
		elems = lo
		ti.Dims[i] = d
	}
	ti.Type = ggml.Type(r.u32())
	ti.Offset = r.u64()
	if r.err != nil {
		return ti, r.err
	}
	if !ti.Type.Known() {
		return ti, fmt.Errorf("%w: %q has type %d", ggml.ErrUnknownType, ti.Name, uint32(ti.Type))
	}
	if ti.Dims[0]%uint64(ti.Type.BlockSize()) != 0 {
		return ti, fmt.Errorf("%w: %q row length %d is not a multiple of the %s block size %d", ErrInvalidInfo, ti.Name, ti.Dims[0], ti.Type, ti.Type.BlockSize())
	}
	ti.Size = elems / uint64(ti.Type.BlockSize()) * uint64(ti.Type.BlockBytes())
	return ti, nil
}
