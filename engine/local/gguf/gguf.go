// Package gguf reads GGUF v2/v3 model files: the metadata key/value pairs
// and the tensor directory. Open memory-maps the file so that tensor data is
// never copied; TensorData hands out slices of the mapping. Parse does the
// same over a byte slice and is what Open (and the fuzz tests) use.
//
// Every count and length read from the file is checked against the bytes
// that remain before anything is allocated, so a corrupt or hostile file
// yields an error, never a panic or a huge allocation.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"syscall"
	"unsafe"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// Magic is "GGUF" read as a little-endian uint32.
const Magic = 0x46554747

// DefaultAlignment is used when general.alignment is absent.
const DefaultAlignment = 32

// Limits on the directory, far above anything a real model uses, that stop
// a corrupt header from driving allocations or loops.
const (
	maxDims       = 4 // GGML_MAX_DIMS
	maxNameLen    = 64 << 10
	maxArrayDepth = 8
)

// Errors callers may want to tell apart.
var (
	ErrBadMagic     = errors.New("gguf: bad magic (not a GGUF file)")
	ErrVersion      = errors.New("gguf: unsupported version")
	ErrTruncated    = errors.New("gguf: truncated file")
	ErrNoTensor     = errors.New("gguf: no such tensor")
	ErrClosed       = errors.New("gguf: file is closed")
	ErrInvalidValue = errors.New("gguf: invalid metadata")
	ErrInvalidInfo  = errors.New("gguf: invalid tensor info")
)

// TensorInfo describes one tensor. Dims are in GGML order: Dims[0] is the
// row length (the fastest-varying index). Offset is relative to the start
// of the data section.
type TensorInfo struct {
	Name   string
	Type   ggml.Type
	Dims   []uint64
	Offset uint64
	// Size is the tensor's size in bytes.
	Size uint64
}

// Elements returns the number of elements of the tensor.
func (ti TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range ti.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file.
type File struct {
	Version   uint32
	Alignment int
	// Metadata holds every key/value pair; the typed accessors below are the
	// usual way to read it.
	Metadata map[string]Value
	// Keys lists the metadata keys in file order.
	Keys []string
	// Tensors lists the tensors in file order.
	Tensors []TensorInfo
	// DataOffset is the file offset of the tensor data section.
	DataOffset uint64

	data   []byte // whole file
	index  map[string]int
	unmap  func() error
	closed bool
}

// Open memory-maps path read-only and parses it. Close releases the mapping;
// slices from TensorData must not be used after that.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrTruncated, path)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("gguf: %s is too large to map", path)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: mmap %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.unmap = func() error { return syscall.Munmap(data) }
	return f, nil
}

// Close releases the file mapping (a no-op for files from Parse).
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		if err := f.unmap(); err != nil {
			return fmt.Errorf("gguf: munmap: %w", err)
		}
	}
	return nil
}

// Parse reads a GGUF file held in data. Tensor data slices returned later
// alias data. Metadata strings are copied, so they stay valid after Close.
func Parse(data []byte) (*File, error) {
	r := &reader{b: data}
	magic := r.u32()
	if r.err != nil {
		return nil, ErrTruncated
	}
	if magic != Magic {
		return nil, fmt.Errorf("%w: %#08x", ErrBadMagic, magic)
	}
	f := &File{Version: r.u32(), Alignment: DefaultAlignment, data: data}
	if r.err == nil && f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("%w: %d (want 2 or 3)", ErrVersion, f.Version)
	}
	nTensors := r.u64()
	nKV := r.u64()
	if r.err != nil {
		return nil, r.err
	}
	// Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes and
	// each tensor info 8 + 4 + 4 + 8 bytes.
	if nKV > uint64(r.left())/13 {
		return nil, fmt.Errorf("%w: %d metadata entries cannot fit in %d bytes", ErrTruncated, nKV, r.left())
	}
	if nTensors > uint64(r.left())/24 {
		return nil, fmt.Errorf("%w: %d tensors cannot fit in %d bytes", ErrTruncated, nTensors, r.left())
	}

	f.Metadata = make(map[string]Value, nKV)
	f.Keys = make([]string, 0, nKV)
	for i := uint64(0); i < nKV; i++ {
		key := r.str(maxNameLen)
		typ := ValueType(r.u32())
		if r.err != nil {
			return nil, fmt.Errorf("metadata entry %d: %w", i, r.err)
		}
		v := r.value(typ, 0)
		if r.err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, r.err)
		}
		if _, dup := f.Metadata[key]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrInvalidValue, key)
		}
		f.Metadata[key] = v
		f.Keys = append(f.Keys, key)
	}
	if v, ok := f.Metadata["general.alignment"]; ok {
		a, ok := v.Uint()
		if !ok || a == 0 || a > 1<<20 || bits.OnesCount64(a) != 1 {
			return nil, fmt.Errorf("%w: general.alignment %s is not a power of two", ErrInvalidValue, v.GoString())
		}
		f.Alignment = int(a)
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.index = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		ti, err := r.tensorInfo()
		if err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.index[ti.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrInvalidInfo, ti.Name)
		}
		f.index[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}

	align := uint64(f.Alignment)
	f.DataOffset = (uint64(r.off) + align - 1) / align * align
	if len(f.Tensors) > 0 && f.DataOffset > uint64(len(data)) {
		return nil, fmt.Errorf("%w: data section starts at %d, file has %d bytes", ErrTruncated, f.DataOffset, len(data))
	}
	dataLen := uint64(0)
	if f.DataOffset < uint64(len(data)) {
		dataLen = uint64(len(data)) - f.DataOffset
	}
	for _, ti := range f.Tensors {
		if ti.Offset%align != 0 {
			return nil, fmt.Errorf("%w: tensor %q offset %d is not a multiple of the alignment %d", ErrInvalidInfo, ti.Name, ti.Offset, align)
		}
		if ti.Offset > dataLen || ti.Size > dataLen-ti.Offset {
			return nil, fmt.Errorf("%w: tensor %q data [%d, +%d) lies beyond the %d-byte data section", ErrTruncated, ti.Name, ti.Offset, ti.Size, dataLen)
		}
	}
	return f, nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorData returns the named tensor's bytes: a slice of the mapping, not
// a copy. It is valid until Close.
func (f *File) TensorData(name string) ([]byte, TensorInfo, error) {
	if f.closed {
		return nil, TensorInfo{}, ErrClosed
	}
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("%w: %q", ErrNoTensor, name)
	}
	start := f.DataOffset + ti.Offset
	return f.data[start : start+ti.Size : start+ti.Size], ti, nil
}

// Value returns the raw metadata value for key.
func (f *File) Value(key string) (Value, bool) {
	v, ok := f.Metadata[key]
	return v, ok
}

// get returns the value of key, or a value of no type (every accessor
// reports false) when the key is absent.
func (f *File) get(key string) Value {
	if v, ok := f.Metadata[key]; ok {
		return v
	}
	return Value{Type: typeNone}
}

// String returns a string-valued key.
func (f *File) String(key string) (string, bool) { return f.get(key).String() }

// Uint returns an integer-valued key that is non-negative.
func (f *File) Uint(key string) (uint64, bool) { return f.get(key).Uint() }

// Int returns an integer-valued key.
func (f *File) Int(key string) (int64, bool) { return f.get(key).Int() }

// Float returns a float-valued key. Integer values are accepted too, since
// writers are not consistent about e.g. rope.freq_base.
func (f *File) Float(key string) (float64, bool) {
	v := f.get(key)
	if x, ok := v.Float(); ok {
		return x, true
	}
	if x, ok := v.Int(); ok {
		return float64(x), true
	}
	return 0, false
}

// Bool returns a bool-valued key.
func (f *File) Bool(key string) (bool, bool) { return f.get(key).Bool() }

// Strings returns an array-of-strings key.
func (f *File) Strings(key string) ([]string, bool) { return f.get(key).Strings() }

// Int32s returns an array-of-integers key as int32.
func (f *File) Int32s(key string) ([]int32, bool) { return f.get(key).Int32s() }

// Float32s returns an array-of-float32 key.
func (f *File) Float32s(key string) ([]float32, bool) { return f.get(key).Float32s() }

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
