package soak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// frame is one dispatched SSE frame, or a comment line (the server's
// keep-alive), which SSE does not dispatch but the suite counts.
type frame struct {
	id      int64
	hasID   bool
	event   string
	data    []byte // data lines joined with "\n"
	comment bool
}

// frameReader parses the event stream strictly: a field the server does not
// write, or an id that is not a seq, is an error rather than something to
// skip, because the suite's verdicts rest on reading every frame right.
type frameReader struct {
	br   *bufio.Reader
	line []byte // reused when a line is longer than the buffer
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 16<<10)}
}

// readLine returns one line without its "\n" or "\r\n". The slice is valid
// until the next call.
func (fr *frameReader) readLine() ([]byte, error) {
	line, err := fr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		fr.line = append(fr.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = fr.br.ReadSlice('\n')
			fr.line = append(fr.line, line...)
		}
		line = fr.line
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF // a line cut in the middle
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// next returns the next frame. io.EOF means the stream ended on a frame
// boundary; io.ErrUnexpectedEOF that it ended inside a frame.
func (fr *frameReader) next() (frame, error) {
	var f frame
	fields := 0
	for {
		line, err := fr.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && fields > 0 {
				return frame{}, io.ErrUnexpectedEOF
			}
			return frame{}, err
		}
		if len(line) == 0 {
			if fields == 0 {
				continue
			}
			return f, nil
		}
		if line[0] == ':' {
			if fields == 0 {
				return frame{comment: true}, nil
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "id":
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 1 {
				return frame{}, fmt.Errorf("sse: id %q is not a seq", value)
			}
			f.id, f.hasID = n, true
		case "event":
			f.event = string(value)
		case "data":
			if f.data == nil {
				f.data = make([]byte, 0, len(value))
			} else {
				f.data = append(f.data, '\n')
			}
			f.data = append(f.data, value...) // copied: value is the reader's buffer
		case "retry":
			// Only the server's reconnect hint, not a frame: the suite
			// sets its own pace.
			continue
		default:
			return frame{}, fmt.Errorf("sse: unexpected field %q", name)
		}
		fields++
	}
}

// fieldInt reads a top-level integer field such as "t" or "seq" out of an
// event's JSON without decoding all of it: thousands of viewers parse every
// frame, and only these fields are needed on the hot path.
func fieldInt(data []byte, name string) (int64, bool) {
	key := append(append([]byte{'"'}, name...), '"', ':')
	i := bytes.Index(data, key)
	if i < 0 {
		return 0, false
	}
	d := data[i+len(key):]
	var n int64
	digits := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return n, digits > 0
}
