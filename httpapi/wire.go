package httpapi

import (
	"bytes"
	"strconv"

	"github.com/thinkstream/thinkstream/sse"
)

// EncodeWire is the hub.Encoder of this transport: an event as one HTTP/1.1
// chunk holding its SSE frame. The hub makes it once per event; a viewer
// whose connection this package took over writes it as it is (and the
// hub's direct fan-out writes it for parked viewers), so chunk framing costs
// nothing per viewer. Viewers on other transports (HTTP/2, net/http's own
// chunking) send the SSE frame inside it (see sseOf). A hub that serves this
// API must be built with it.
func EncodeWire(seq int64, typ string, data []byte) ([]byte, error) {
	// The chunk size line is at most 8 hex digits + CRLF: reserve it, then
	// move the frame up against the real one.
	const reserve = 10
	id := ""
	if seq > 0 {
		id = strconv.FormatInt(seq, 10)
	}
	b, err := sse.AppendEvent(make([]byte, reserve, reserve+len(data)+len(typ)+40), id, typ, data)
	if err != nil {
		return nil, err
	}
	n := len(b) - reserve
	var hdr [reserve]byte
	h := append(strconv.AppendInt(hdr[:0], int64(n), 16), '\r', '\n')
	start := reserve - len(h)
	copy(b[start:], h)
	return append(b, '\r', '\n')[start:], nil
}

// sseOf returns the SSE frame inside an EncodeWire chunk.
func sseOf(wire []byte) []byte {
	i := bytes.Index(wire, []byte("\r\n"))
	if i < 0 || len(wire) < i+4 {
		return nil
	}
	return wire[i+2 : len(wire)-2]
}
