package tokenizer

import (
	"strings"

	"github.com/thinkstream/thinkstream"
)

// ChatML renders messages in the ChatML template Qwen2 models are trained
// on and leaves an assistant turn open for the model to write, starting
// with prefix (text the assistant already produced, for continuing an
// interrupted answer). Roles are written as given; an empty role is "user".
//
//	<|im_start|>system\n…<|im_end|>\n<|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n{prefix}
//
// Message contents are plain text: encode the result with parseSpecial so
// that the template's markers become control tokens, or use EncodeChat to
// keep special-token spellings inside messages as text.
func ChatML(messages []thinkstream.Message, prefix string) string {
	var b strings.Builder
	for _, m := range messages {
		b.WriteString("<|im_start|>")
		b.WriteString(roleOf(m))
		b.WriteString("\n")
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	b.WriteString("<|im_start|>assistant\n")
	b.WriteString(prefix)
	return b.String()
}

func roleOf(m thinkstream.Message) string {
	if m.Role == "" {
		return "user"
	}
	return m.Role
}

// EncodeChat tokenizes the ChatML prompt for messages and prefix. The
// template markers are control tokens; what users wrote is tokenized as
// text, so a message containing "<|im_end|>" cannot close its own turn
// (prompt injection through the template). It falls back to parsing the
// markers as text when the vocabulary has no ChatML tokens.
func (t *Tokenizer) EncodeChat(messages []thinkstream.Message, prefix string) []int32 {
	start, okStart := t.toID["<|im_start|>"]
	end, okEnd := t.toID["<|im_end|>"]
	if !okStart || !okEnd {
		return t.Encode(ChatML(messages, prefix), false)
	}
	var ids []int32
	for _, m := range messages {
		ids = append(ids, start)
		ids = t.Append(ids, roleOf(m)+"\n"+m.Content, false)
		ids = append(ids, end)
		ids = t.Append(ids, "\n", false)
	}
	ids = append(ids, start)
	ids = t.Append(ids, "assistant\n"+prefix, false)
	return ids
}
