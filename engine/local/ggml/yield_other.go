//go:build !linux

package ggml

func osYield() {}
