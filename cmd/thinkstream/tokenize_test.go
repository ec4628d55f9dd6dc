package main

import (
	"bytes"
	"context"
	"testing"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--json", "<|im_start|>user\nExplain binary search.<|im_end|>"},
			"[1022,872,198,840,500,466,293,258,658,511,277,331,13,1023]\n"},
		{[]string{"Hello,", "world!"}, "39\t\"H\"\n301\t\"el\"\n385\t\"lo\"\n11\t\",\"\n289\t\" w\"\n269\t\"or\"\n507\t\"ld\"\n0\t\"!\"\n"},
		{[]string{"--json", "--no-special", "<|im_end|>"}, "[27,91,318,62,408,91,29]\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--model", tinyModel}, tt.args...)
		if err := cmdTokenize(context.Background(), args, noEnv, &stdout, &stderr); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, stderr.String())
		}
		if got := stdout.String(); got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.args, got, tt.want)
		}
	}
}

func TestTokenizeUsage(t *testing.T) {
	for _, args := range [][]string{{"--model", tinyModel}, {"hi"}, {"--model", "../../go.mod", "hi"}} {
		var stdout, stderr bytes.Buffer
		if err := cmdTokenize(context.Background(), args, noEnv, &stdout, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
