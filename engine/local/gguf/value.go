package gguf

import (
	"fmt"
	"strconv"
)

// ValueType is the type tag of a GGUF metadata value.
type ValueType uint32

// Metadata value types, numbered as in the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12

	// typeNone marks an absent key; it never comes from a file.
	typeNone ValueType = 1<<32 - 1
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "valuetype(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// size returns the encoded size of a fixed-size scalar, or 0 for strings
// and arrays.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// Value is one decoded metadata value. Scalars are widened to the largest
// type of their kind; arrays keep a typed Go slice of their elements so that
// the large tokenizer arrays cost one allocation each.
type Value struct {
	// Type is the stored type; for arrays, Elem is the element type.
	Type ValueType
	Elem ValueType

	u   uint64  // unsigned integers and bool
	i   int64   // signed integers
	f   float64 // floats
	s   string
	arr any // []uint8 … []float64, []bool, []string or []Value (nested arrays)
}

// Uint returns an unsigned or non-negative signed integer value.
func (v Value) Uint() (uint64, bool) {
	switch v.Type {
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64:
		return v.u, true
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		if v.i >= 0 {
			return uint64(v.i), true
		}
	}
	return 0, false
}

// Int returns a signed or representable unsigned integer value.
func (v Value) Int() (int64, bool) {
	switch v.Type {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		return v.i, true
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64:
		if v.u <= 1<<63-1 {
			return int64(v.u), true
		}
	}
	return 0, false
}

// Float returns a floating-point value.
func (v Value) Float() (float64, bool) {
	if v.Type == TypeFloat32 || v.Type == TypeFloat64 {
		return v.f, true
	}
	return 0, false
}

// Bool returns a boolean value.
func (v Value) Bool() (bool, bool) {
	if v.Type == TypeBool {
		return v.u != 0, true
	}
	return false, false
}

// String returns a string value.
func (v Value) String() (string, bool) {
	if v.Type == TypeString {
		return v.s, true
	}
	return "", false
}

// Strings returns an array of strings.
func (v Value) Strings() ([]string, bool) {
	s, ok := v.arr.([]string)
	return s, ok && v.Type == TypeArray
}

// Int32s returns an array of int32 (or of a narrower integer type, widened).
func (v Value) Int32s() ([]int32, bool) {
	if v.Type != TypeArray {
		return nil, false
	}
	switch a := v.arr.(type) {
	case []int32:
		return a, true
	case []int8:
		return widen(a), true
	case []int16:
		return widen(a), true
	case []uint8:
		return widen(a), true
	case []uint16:
		return widen(a), true
	case []uint32:
		out := make([]int32, len(a))
		for i, x := range a {
			if x > 1<<31-1 {
				return nil, false
			}
			out[i] = int32(x)
		}
		return out, true
	}
	return nil, false
}

func widen[T int8 | int16 | uint8 | uint16](a []T) []int32 {
	out := make([]int32, len(a))
	for i, x := range a {
		out[i] = int32(x)
	}
	return out
}

// Float32s returns an array of float32.
func (v Value) Float32s() ([]float32, bool) {
	a, ok := v.arr.([]float32)
	return a, ok && v.Type == TypeArray
}

// Array returns the raw typed slice of an array value ([]uint8 … []float64,
// []bool, []string, or []Value for nested arrays) and its length.
func (v Value) Array() (any, int) {
	if v.Type != TypeArray {
		return nil, 0
	}
	switch a := v.arr.(type) {
	case []uint8:
		return a, len(a)
	case []int8:
		return a, len(a)
	case []uint16:
		return a, len(a)
	case []int16:
		return a, len(a)
	case []uint32:
		return a, len(a)
	case []int32:
		return a, len(a)
	case []uint64:
		return a, len(a)
	case []int64:
		return a, len(a)
	case []float32:
		return a, len(a)
	case []float64:
		return a, len(a)
	case []bool:
		return a, len(a)
	case []string:
		return a, len(a)
	case []Value:
		return a, len(a)
	}
	return nil, 0
}

// GoString renders the value briefly, for debugging and error messages.
func (v Value) GoString() string {
	switch v.Type {
	case TypeArray:
		_, n := v.Array()
		return fmt.Sprintf("[%d]%s", n, v.Elem)
	case TypeString:
		return strconv.Quote(v.s)
	case TypeFloat32, TypeFloat64:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case TypeBool:
		return strconv.FormatBool(v.u != 0)
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		return strconv.FormatInt(v.i, 10)
	}
	return strconv.FormatUint(v.u, 10)
}
