package httpapi

import (
	"net/http"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/profile"
)

// ProfileSource is what GET /v1/info reads of the model profiles.
type ProfileSource interface {
	Names() []string
	Default() string
	Get(name string) (profile.Profile, error)
}

// Info is the body of GET /v1/info: which engine answers and the profiles'
// defaults, so that pages say what answers and offer the server's own
// sampling settings (a --profiles file reaches them) instead of copies.
type Info struct {
	Engine         thinkstream.EngineInfo `json:"engine"`
	DefaultProfile string                 `json:"default_profile,omitempty"`
	Profiles       []InfoProfile          `json:"profiles"`
	MaxTokens      int                    `json:"max_tokens"`
}

// InfoProfile is one profile's description and sampling defaults.
type InfoProfile struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
}

func (a *API) info(w http.ResponseWriter, r *http.Request) {
	out := Info{Engine: a.runs.EngineInfo(), MaxTokens: a.cfg.MaxTokens, Profiles: []InfoProfile{}}
	if ps := a.cfg.ProfileSource; ps != nil {
		out.DefaultProfile = ps.Default()
		for _, n := range ps.Names() {
			p, err := ps.Get(n)
			if err != nil {
				continue
			}
			out.Profiles = append(out.Profiles, InfoProfile{Name: n, Description: p.Description, Temperature: p.Temperature, TopP: p.TopP, TopK: p.TopK, MaxTokens: p.MaxTokens})
		}
	} else {
		for _, n := range a.cfg.Profiles {
			out.Profiles = append(out.Profiles, InfoProfile{Name: n})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
