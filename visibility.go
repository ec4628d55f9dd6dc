package thinkstream

import "fmt"

// Visibility says who may read a run besides its owner and admins.
type Visibility string

// The visibilities. Private is the default: a classroom server must not
// show one student's problem text to another unless asked to.
const (
	// VisibilityPrivate: only the owner and admins (and holders of a
	// share link) read it; everyone else gets "not found".
	VisibilityPrivate Visibility = "private"
	// VisibilityUnlisted: anyone with a token who knows the id reads it;
	// it is not listed.
	VisibilityUnlisted Visibility = "unlisted"
	// VisibilityPublic: anyone with a token reads it, and it is listed.
	VisibilityPublic Visibility = "public"
)

// ParseVisibility reads a visibility; "" is private.
func ParseVisibility(s string) (Visibility, error) {
	switch v := Visibility(s); v {
	case "":
		return VisibilityPrivate, nil
	case VisibilityPrivate, VisibilityUnlisted, VisibilityPublic:
		return v, nil
	}
	return "", fmt.Errorf("visibility %q: want private, unlisted or public", s)
}

// Effective is the visibility a stored value stands for ("" is private).
func (v Visibility) Effective() Visibility {
	if v == "" {
		return VisibilityPrivate
	}
	return v
}
