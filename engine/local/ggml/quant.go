package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
)

// nearestInt rounds to the nearest integer, ties to even, the way ggml's
// quantizers do (adding 1.5·2^23 and reading the mantissa). |f| < 2^22.
func nearestInt(f float32) int32 {
	return int32(math.Float32bits(f+12582912)&0x7fffff) - 0x400000
}

// Quantize encodes src in type t into dst (len(dst) must be t.RowBytes(len(src))).
// Q8_0, Q4_K and Q6_K use simple, deterministic min/max quantizers: good enough
// to generate test models, not the error-minimising search of llama.cpp's
// quantize tool.
func Quantize(t Type, src []float32, dst []byte) error {
	need, err := t.RowBytes(len(src))
	if err != nil {
		return err
	}
	if len(dst) != need {
		return fmt.Errorf("ggml: quantize %d %s values needs %d bytes, have %d", len(src), t, need, len(dst))
	}
	switch t {
	case F32:
		for i, x := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
		}
	case F16:
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(x))
		}
	case BF16:
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(x))
		}
	case Q8_0:
		for b := 0; b < len(src)/32; b++ {
			quantQ8_0Block(src[32*b:32*b+32], dst[q8_0Bytes*b:q8_0Bytes*(b+1)])
		}
	case Q4_K:
		for b := 0; b < len(src)/QK_K; b++ {
			quantQ4KBlock(src[QK_K*b:QK_K*(b+1)], dst[q4KBytes*b:q4KBytes*(b+1)])
		}
	case Q4_0:
		for b := 0; b < len(src)/32; b++ {
			quantQ4_0Block(src[32*b:32*b+32], dst[q4_0Bytes*b:q4_0Bytes*(b+1)])
		}
	case Q5_0:
		for b := 0; b < len(src)/32; b++ {
			quantQ5_0Block(src[32*b:32*b+32], dst[q5_0Bytes*b:q5_0Bytes*(b+1)])
		}
	case Q5_K:
		for b := 0; b < len(src)/QK_K; b++ {
			quantQ5KBlock(src[QK_K*b:QK_K*(b+1)], dst[q5KBytes*b:q5KBytes*(b+1)])
		}
	case Q6_K:
		for b := 0; b < len(src)/QK_K; b++ {
			quantQ6KBlock(src[QK_K*b:QK_K*(b+1)], dst[q6KBytes*b:q6KBytes*(b+1)])
		}
	default:
		return fmt.Errorf("%w: cannot quantize to %s", ErrUnsupportedType, t)
	}
	return nil
}

func absMax(x []float32) float32 {
	m := float32(0)
	for _, v := range x {
		if v < 0 {
			v = -v
		}
		if v > m {
			m = v
		}
	}
	return m
}

func quantQ8_0Block(x []float32, blk []byte) {
	amax := absMax(x)
	d := amax / 127
	id := float32(0)
	if amax != 0 {
		id = 127 / amax
	}
	binary.LittleEndian.PutUint16(blk, F32ToF16(d))
	for i, v := range x {
		blk[2+i] = byte(int8(nearestInt(v * id)))
	}
}

func clampInt(v, lo, hi int32) int32 { return max(lo, min(hi, v)) }

func quantQ4KBlock(x []float32, blk []byte) {
	var scale, mins [8]float32
	for j := 0; j < 8; j++ {
		sub := x[32*j : 32*j+32]
		lo, hi := float32(0), sub[0]
		for _, v := range sub {
			lo = min(lo, v)
			hi = max(hi, v)
		}
		scale[j] = (hi - lo) / 15
		mins[j] = -lo
	}
	maxScale, maxMin := float32(0), float32(0)
	for j := range scale {
		maxScale = max(maxScale, scale[j])
		maxMin = max(maxMin, mins[j])
	}
	d, dmin := maxScale/63, maxMin/63
	hd, hm := F32ToF16(d), F32ToF16(dmin)
	d, dmin = F16ToF32(hd), F16ToF32(hm)
	var sc, m [8]uint8
	for j := range sc {
		if d > 0 {
			sc[j] = uint8(clampInt(nearestInt(scale[j]/d), 0, 63))
		}
		if dmin > 0 {
			m[j] = uint8(clampInt(nearestInt(mins[j]/dmin), 0, 63))
		}
	}
	binary.LittleEndian.PutUint16(blk, hd)
	binary.LittleEndian.PutUint16(blk[2:], hm)
	s := blk[4:16]
	for j := 0; j < 4; j++ {
		s[j] = sc[j] | (sc[j+4]>>4)<<6
		s[j+4] = m[j] | (m[j+4]>>4)<<6
		s[j+8] = sc[j+4]&0xf | (m[j+4]&0xf)<<4
	}
	var q [QK_K]uint8
	for j := 0; j < 8; j++ {
		ds, dm := d*float32(sc[j]), dmin*float32(m[j])
		for l := 0; l < 32; l++ {
			if ds > 0 {
				q[32*j+l] = uint8(clampInt(nearestInt((x[32*j+l]+dm)/ds), 0, 15))
			}
		}
	}
	qs := blk[16:144]
	for p := 0; p < 4; p++ {
		for l := 0; l < 32; l++ {
			qs[32*p+l] = q[64*p+l] | q[64*p+32+l]<<4
		}
	}
}

func quantQ6KBlock(x []float32, blk []byte) {
	var scale [16]float32
	maxScale := float32(0)
	for j := 0; j < 16; j++ {
		scale[j] = absMax(x[16*j:16*j+16]) / 31
		maxScale = max(maxScale, scale[j])
	}
	d := maxScale / 127
	hd := F32ToF16(d)
	d = F16ToF32(hd)
	var sc [16]int8
	var q [QK_K]uint8
	for j := 0; j < 16; j++ {
		if d > 0 {
			sc[j] = int8(clampInt(nearestInt(scale[j]/d), -128, 127))
		}
		ds := d * float32(sc[j])
		for l := 0; l < 16; l++ {
			v := int32(0)
			if ds != 0 {
				v = clampInt(nearestInt(x[16*j+l]/ds), -32, 31)
			}
			q[16*j+l] = uint8(v + 32)
		}
	}
	ql, qh := blk[0:128], blk[128:192]
	for h := 0; h < 2; h++ {
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := q[128*h+l], q[128*h+l+32], q[128*h+l+64], q[128*h+l+96]
			ql[64*h+l] = q1&0xf | (q3&0xf)<<4
			ql[64*h+l+32] = q2&0xf | (q4&0xf)<<4
			qh[32*h+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
	for j := range sc {
		blk[192+j] = byte(sc[j])
	}
	binary.LittleEndian.PutUint16(blk[208:], hd)
}
