package hub

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/thinkstream/thinkstream"
)

// typeAndTime reads the type and time of an event JSON without decoding
// the rest: only for records logged before the log carried them beside the
// JSON.
func typeAndTime(data []byte) (string, int64, error) {
	var v struct {
		Type string `json:"type"`
		T    int64  `json:"t"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return "", 0, fmt.Errorf("decode event: %w", err)
	}
	return v.Type, v.T, nil
}

// Coalesce merges runs of consecutive delta frames that continue the same
// text (same type, step, block, channel) into one frame whose seq is the
// last it covers and whose data names the first in `from`. Other frames pass
// through untouched, so a resume from any frame's id stays exact.
func Coalesce(in []Frame) ([]Frame, error) {
	out := make([]Frame, 0, len(in)/4+1)
	var (
		cur  thinkstream.Event
		text strings.Builder
		n    int // frames merged into cur
		one  Frame
	)
	flush := func() error {
		switch n {
		case 0:
			return nil
		case 1:
			out = append(out, one)
		default:
			cur.Text = text.String()
			data, err := json.Marshal(cur)
			if err != nil {
				return err
			}
			// Wire is left empty: the hub encodes the merged frame.
			out = append(out, Frame{Seq: cur.Seq, Type: cur.Type, T: cur.T, Data: data})
		}
		n = 0
		text.Reset()
		return nil
	}
	for _, f := range in {
		if !thinkstream.IsDelta(f.Type) {
			if err := flush(); err != nil {
				return nil, err
			}
			out = append(out, f)
			continue
		}
		var ev thinkstream.Event
		if err := json.Unmarshal(f.Data, &ev); err != nil {
			return nil, fmt.Errorf("hub: decode seq %d: %w", f.Seq, err)
		}
		if n > 0 && sameStream(cur, ev) {
			text.WriteString(ev.Text)
			cur.Seq, cur.T = ev.Seq, ev.T
			n++
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		cur, one, n = ev, f, 1
		if cur.From == 0 {
			cur.From = ev.Seq
		}
		text.WriteString(ev.Text)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func sameStream(a, b thinkstream.Event) bool {
	return a.Type == b.Type && a.Step == b.Step && a.Block == b.Block &&
		a.Channel == b.Channel && a.Lang == b.Lang
}
