package server

import "testing"

func TestRedactShare(t *testing.T) {
	for in, want := range map[string]string{
		"/s/0123abcdSECRET":    "/s/…",
		"/v1/s/0123abcdSECRET": "/v1/s/…",
		"/v1/runs/x":           "/v1/runs/x",
		"/s/":                  "/s/",
	} {
		if got := redactShare(in); got != want {
			t.Errorf("redactShare(%q) = %q, want %q", in, got, want)
		}
	}
}
