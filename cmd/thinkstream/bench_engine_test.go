package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchEngine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := &env{getenv: noEnv, stdout: &stdout, stderr: &stderr}
	if err := cmdBench(context.Background(), e, []string{"engine", "--model", tinyModel, "--prompt", "8", "--gen", "4", "--reps", "1", "--threads", "1", "--json"}); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var res engineBench
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.PPTokS <= 0 || res.TGTokS <= 0 || res.WeightBytes <= 0 || res.TGGBs <= 0 || res.Prompt != 8 || res.Gen != 4 || res.Threads != 1 {
		t.Errorf("result %+v", res)
	}
	stdout.Reset()
	if err := cmdBench(context.Background(), e, []string{"engine", "--model", tinyModel, "--prompt", "8", "--gen", "4", "--reps", "1"}); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.Contains(out, "| pp8 |") || !strings.Contains(out, "| tg4 |") {
		t.Errorf("table:\n%s", out)
	}
	if err := cmdBench(context.Background(), e, []string{"engine"}); err == nil {
		t.Error("no --model: no error")
	}
}
