package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Block sizes in bytes of the types the kernels handle.
const (
	q8_0Bytes = 34  // f16 d, 32 × int8
	q4KBytes  = 144 // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
	q6KBytes  = 210 // 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 × int8 scales, f16 d
	q8KBytes  = 292 // f32 d, 256 × int8, 16 × int16 sums of 16
)

// Dequantize converts src, holding len(dst) elements of type t, to float32.
func Dequantize(t Type, src []byte, dst []float32) error {
	need, err := t.RowBytes(len(dst))
	if err != nil {
		return err
	}
	if !t.Supported() {
		return fmt.Errorf("%w: %s", ErrUnsupportedType, t)
	}
	if len(src) < need {
		return fmt.Errorf("ggml: dequantize %d %s values needs %d bytes, have %d", len(dst), t, need, len(src))
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16Table[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case Q8_0:
		for b := 0; b < len(dst)/32; b++ {
			dequantQ8_0(src[b*q8_0Bytes:(b+1)*q8_0Bytes], dst[b*32:(b+1)*32])
		}
	case Q4_K:
		for b := 0; b < len(dst)/QK_K; b++ {
			dequantQ4K(src[b*q4KBytes:(b+1)*q4KBytes], dst[b*QK_K:(b+1)*QK_K])
		}
	case Q4_0:
		for b := 0; b < len(dst)/32; b++ {
			dequantQ4_0(src[b*q4_0Bytes:(b+1)*q4_0Bytes], dst[b*32:(b+1)*32])
		}
	case Q5_0:
		for b := 0; b < len(dst)/32; b++ {
			dequantQ5_0(src[b*q5_0Bytes:(b+1)*q5_0Bytes], dst[b*32:(b+1)*32])
		}
	case Q5_K:
		for b := 0; b < len(dst)/QK_K; b++ {
			dequantQ5K(src[b*q5KBytes:(b+1)*q5KBytes], dst[b*QK_K:(b+1)*QK_K])
		}
	case Q6_K:
		for b := 0; b < len(dst)/QK_K; b++ {
			dequantQ6K(src[b*q6KBytes:(b+1)*q6KBytes], dst[b*QK_K:(b+1)*QK_K])
		}
	}
	return nil
}

func f16At(b []byte) float32 { return f16Table[binary.LittleEndian.Uint16(b)] }

func dequantQ8_0(blk []byte, y []float32) {
	d := f16At(blk)
	for i, q := range blk[2:34] {
		y[i] = float32(int8(q)) * d
	}
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K block: the
// first four of each sit in the low six bits of bytes 0–7, the last four
// are split into a nibble in bytes 8–11 and the top two bits of bytes 0–7.
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xf | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

func dequantQ4K(blk []byte, y []float32) {
	d := f16At(blk)
	dmin := f16At(blk[2:])
	scales := blk[4:16]
	q := blk[16:144]
	for p := 0; p < 4; p++ { // four 64-element groups, two sub-blocks each
		sc1, m1 := scaleMinK4(2*p, scales)
		sc2, m2 := scaleMinK4(2*p+1, scales)
		d1, mn1 := d*float32(sc1), dmin*float32(m1)
		d2, mn2 := d*float32(sc2), dmin*float32(m2)
		qs := q[32*p : 32*p+32]
		out := y[64*p : 64*p+64]
		for l, b := range qs {
			out[l] = d1*float32(b&0xf) - mn1
			out[l+32] = d2*float32(b>>4) - mn2
		}
	}
}

func dequantQ6K(blk []byte, y []float32) {
	ql := blk[0:128]
	qh := blk[128:192]
	sc := blk[192:208]
	d := f16At(blk[208:])
	for h := 0; h < 2; h++ { // two 128-element halves
		l4 := ql[64*h : 64*h+64]
		h2 := qh[32*h : 32*h+32]
		s := sc[8*h : 8*h+8]
		out := y[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int32(l4[l]&0xf|(h2[l]&3)<<4) - 32
			q2 := int32(l4[l+32]&0xf|(h2[l]>>2&3)<<4) - 32
			q3 := int32(l4[l]>>4|(h2[l]>>4&3)<<4) - 32
			q4 := int32(l4[l+32]>>4|(h2[l]>>6&3)<<4) - 32
			out[l] = d * float32(int8(s[is])) * float32(q1)
			out[l+32] = d * float32(int8(s[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(s[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(s[is+6])) * float32(q4)
		}
	}
}
