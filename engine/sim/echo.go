package sim

import (
	"fmt"
	"strconv"
	"strings"
)

const echoPrefix = "sim:echo "

// parseEcho reports whether problem asks the simulator to stream a given
// text verbatim: a first line `sim:echo "<JSON or Go quoted string>"`. The
// text is quoted so that it can hold anything (newlines, tags, markup)
// while profile instructions appended to the message stay out of it. Tests
// of what viewers render use it to put exact model output on the wire.
func parseEcho(problem string) (string, bool, error) {
	line, _, _ := strings.Cut(problem, "\n")
	if !strings.HasPrefix(line, echoPrefix) {
		return "", false, nil
	}
	text, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(line, echoPrefix)))
	if err != nil {
		return "", true, fmt.Errorf("want %q followed by a quoted string: %w", strings.TrimSpace(echoPrefix), err)
	}
	if text == "" {
		return "", true, fmt.Errorf("%q needs a non-empty text", strings.TrimSpace(echoPrefix))
	}
	return text, true, nil
}
