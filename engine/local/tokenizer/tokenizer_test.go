package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

type tokCase struct {
	ID           int     `json:"id"`
	Category     string  `json:"category"`
	Text         string  `json:"text"`
	ParseSpecial bool    `json:"parse_special"`
	IDs          []int32 `json:"ids"`
}

func loadCases(t *testing.T) []tokCase {
	t.Helper()
	b, err := os.ReadFile("testdata/tokenizer-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		NCases int       `json:"n_cases"`
		Cases  []tokCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != f.NCases || len(f.Cases) == 0 {
		t.Fatalf("read %d cases, file says %d", len(f.Cases), f.NCases)
	}
	return f.Cases
}

func TestEncodeMatchesLlamaCpp(t *testing.T) {
	tok := qwen(t)
	failed := 0
	for _, c := range loadCases(t) {
		got := tok.Encode(c.Text, c.ParseSpecial)
		want := c.IDs
		if want == nil {
			want = []int32{}
		}
		if got == nil {
			got = []int32{}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			failed++
			if failed <= 10 {
				t.Errorf("case %d (%s, parse_special=%v) %q: ids differ (-want +got):\n%s", c.ID, c.Category, c.ParseSpecial, c.Text, diff)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d cases failed", failed)
	}
}

func TestDecodeRoundTripsCases(t *testing.T) {
	tok := qwen(t)
	for _, c := range loadCases(t) {
		if got := tok.Decode(c.IDs); got != c.Text {
			t.Errorf("case %d: Decode = %q, want %q", c.ID, got, c.Text)
		}
	}
}

func TestStreamDecoderNeverSplitsCharacters(t *testing.T) {
	tok := qwen(t)
	split := 0
	for _, c := range loadCases(t) {
		if !utf8.ValidString(c.Text) {
			continue
		}
		d := tok.NewStreamDecoder()
		var all string
		for _, id := range c.IDs {
			chunk := d.Add(id)
			if !utf8.ValidString(chunk) {
				t.Fatalf("case %d: chunk %q is not valid UTF-8", c.ID, chunk)
			}
			if !utf8.ValidString(tok.Piece(id)) {
				split++
			}
			all += chunk
		}
		if rest := d.Flush(); rest != "" {
			t.Errorf("case %d: %q left after a complete text", c.ID, rest)
		}
		if all != c.Text {
			t.Errorf("case %d: streamed %q, want %q", c.ID, all, c.Text)
		}
	}
	if split == 0 {
		t.Fatal("no case has a token that splits a character; the test checks nothing")
	}
}

func TestStreamDecoderInvalidAndFlush(t *testing.T) {
	tok := qwen(t)
	d := tok.NewStreamDecoder()
	euro := "€" // E2 82 AC
	if got := d.AddBytes(euro[:2]); got != "" {
		t.Fatalf("incomplete character emitted: %q", got)
	}
	if d.Pending() != 2 {
		t.Fatalf("Pending = %d, want 2", d.Pending())
	}
	// A stray byte that can never complete becomes U+FFFD, the rest flows.
	if got := d.AddBytes("A"); got != "\uFFFD\uFFFDA" {
		t.Fatalf("after invalid continuation: %q", got)
	}
	d.AddBytes(euro[:1])
	if got := d.Flush(); got != euro[:1] {
		t.Fatalf("Flush = %q", got)
	}
	if d.Pending() != 0 {
		t.Fatal("Flush left bytes")
	}
}

func TestSpecialTokens(t *testing.T) {
	tok := qwen(t)
	tests := []struct {
		name         string
		text         string
		parseSpecial bool
		want         []int32
	}{
		{"control parsed", "<|im_start|>", true, []int32{151644}},
		{"control as text", "<|im_start|>", false, []int32{27, 91, 318, 4906, 91, 29}},
		{"user-defined always", "<tool_call>", false, []int32{151657}},
		{"padding never", "[PAD151700]", true, []int32{42347, 1808, 16, 20, 16, 22, 15, 15, 60}},
	}
	for _, tt := range tests {
		got := tok.Encode(tt.text, tt.parseSpecial)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
	for _, id := range []int32{151643, 151645, 151662, 151663, 151664} {
		if !tok.IsEOG(id) {
			t.Errorf("IsEOG(%d) = false", id)
		}
	}
	if tok.IsEOG(151644) || tok.IsEOG(9707) {
		t.Error("im_start or a word is EOG")
	}
	if tok.Piece(151700) != "" {
		t.Errorf("padding piece %q, want empty", tok.Piece(151700))
	}
}

func TestTinyVocab(t *testing.T) {
	// A prefix of the real vocabulary with the first merges, as the tiny
	// test models carry: BPE still works, merges just stop earlier.
	full := qwen(t)
	var v Vocab
	for id := int32(0); id < 1021; id++ {
		v.Tokens = append(v.Tokens, full.Text(id))
		v.Types = append(v.Types, TypeNormal)
	}
	v.Tokens = append(v.Tokens, "<|endoftext|>", "<|im_start|>", "<|im_end|>")
	v.Types = append(v.Types, TypeControl, TypeControl, TypeControl)
	v.BOS, v.EOS = 1021, 1023
	for rank := range 765 {
		// Reconstruct merge rank r from the token it produces.
		id := int32(256 + rank)
		v.Merges = append(v.Merges, splitMerge(t, full, id))
	}
	tiny, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	got := tiny.Encode("<|im_start|>user\nExplain binary search.<|im_end|>", true)
	want := []int32{1022, 872, 198, 840, 500, 466, 293, 258, 658, 511, 277, 331, 13, 1023}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("tiny vocab (-want +got):\n%s", diff)
	}
	if !tiny.IsEOG(1023) || !tiny.IsEOG(1021) || tiny.IsEOG(1022) {
		t.Error("tiny EOG set wrong")
	}
}

// splitMerge finds the merge that produced token id by trying every split
// of its text into two tokens of lower id.
func splitMerge(t *testing.T, tok *Tokenizer, id int32) string {
	text := []rune(tok.Text(id))
	for i := 1; i < len(text); i++ {
		l, lok := tok.ID(string(text[:i]))
		r, rok := tok.ID(string(text[i:]))
		if lok && rok && l < id && r < id {
			if m, ok := tok.merges[pairKey(l, r)]; ok && m.id == id {
				return string(text[:i]) + " " + string(text[i:])
			}
		}
	}
	t.Fatalf("no merge makes token %d %q", id, tok.Text(id))
	return ""
}
