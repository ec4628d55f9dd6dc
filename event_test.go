package thinkstream

import "testing"

func TestIsReasoning(t *testing.T) {
	tests := []struct {
		typ, channel string
		want         bool
	}{
		{EventThinking, "", true},
		{EventStep, "", true},
		{EventCode, "thinking", true},
		{EventCode, "answer", false},
		{EventCode, "", false},
		{EventCode, "other", false},
		{EventAnswer, "", false},
		{EventAnswer, "thinking", false},
		{EventResult, "", false},
		{EventStats, "", false},
		{EventAnnotation, "", false},
		{EventRunCompleted, "", false},
	}
	for _, tt := range tests {
		if got := IsReasoning(tt.typ, tt.channel); got != tt.want {
			t.Errorf("IsReasoning(%q, %q) = %v, want %v", tt.typ, tt.channel, got, tt.want)
		}
	}
}
