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
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"

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
	// Metadata holds every key/value pair. Prefer the typed accessors
	// below: indexing the map with a missing key yields the zero Value,
	// whose type is uint8, so Metadata["missing"].Uint() reports (0, true).
	// Use the two-result form of the index to test for presence.
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
	data, release, err := mapFile(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("gguf: map %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		_ = release()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.unmap = release
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
