package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestModelsEmpty(t *testing.T) {
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return map[string]string{"XDG_DATA_HOME": t.TempDir()}[k] }
	if err := cmdModels(context.Background(), nil, getenv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "thinkstream pull") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
