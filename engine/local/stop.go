package local

import "strings"

// stopMatcher finds stop strings in streamed text. Text that could be the
// start of a stop string is held back until the next text shows whether it
// is, so that a stop string split across tokens is never partly emitted.
type stopMatcher struct {
	stops  []string
	maxLen int
	held   string
}

func newStopMatcher(stops []string) *stopMatcher {
	m := &stopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
			m.maxLen = max(m.maxLen, len(s))
		}
	}
	return m
}

// push adds text and returns what can be emitted now. When a stop string
// is complete, it returns the text before it and stopped is true; the stop
// string and anything after it are dropped.
func (m *stopMatcher) push(text string) (out string, stopped bool) {
	if len(m.stops) == 0 {
		return text, false
	}
	buf := m.held + text
	first := -1
	for _, s := range m.stops {
		if i := strings.Index(buf, s); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		m.held = ""
		return buf[:first], true
	}
	hold := 0
	for k := min(len(buf), m.maxLen-1); k > 0; k-- {
		if m.isPrefix(buf[len(buf)-k:]) {
			hold = k
			break
		}
	}
	m.held = buf[len(buf)-hold:]
	return buf[:len(buf)-hold], false
}

func (m *stopMatcher) isPrefix(tail string) bool {
	for _, s := range m.stops {
		if strings.HasPrefix(s, tail) {
			return true
		}
	}
	return false
}

// flush returns the held text at the end of generation.
func (m *stopMatcher) flush() string {
	s := m.held
	m.held = ""
	return s
}
