// Package web serves thinkstream's browser UI: the page (index.html for "/",
// "/r/{id}" and share links "/s/{secret}"), its assets under "/assets/", and
// "/embed-example.html".
// The files are built from web/src by `npm run build` into web/dist, which
// is committed and embedded here, so the server binary needs nothing else.
//
// Pages carry a strict Content-Security-Policy: scripts, styles, fonts and
// connections from the server's own origin only, no inline script and no
// eval. KaTeX's inline styles are set through the CSSOM (katex.render), which
// style-src does not restrict, so style-src needs no 'unsafe-inline' either.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// ContentSecurityPolicy is sent with every HTML page.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the UI. It answers GET and HEAD for "/", "/r/{id}",
// "/embed-example.html" and "/assets/{file}", and 404 for anything else, so
// it can be mounted at "/" behind the API routes.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var name string
	switch {
	case p == "/" || isRunPage(p):
		name = "dist/index.html"
	case p == "/embed-example.html":
		name = "dist/embed-example.html"
	case strings.HasPrefix(p, "/assets/"):
		rel := strings.TrimPrefix(p, "/assets/")
		if rel == "" || strings.Contains(rel, "..") || path.Clean("/"+rel) != "/"+rel {
			http.NotFound(w, r)
			return
		}
		name = "dist/assets/" + rel
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := fs.ReadFile(dist, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(name, ".html") {
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Referrer-Policy", "same-origin")
	}
	if hashed(path.Base(name)) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		sum := sha256.Sum256(data)
		h.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// isRunPage reports whether p is "/r/{id}" or "/s/{secret}" (a trailing slash allowed).
func isRunPage(p string) bool {
	id, ok := strings.CutPrefix(p, "/r/")
	if !ok {
		// A share link (/s/{secret}) opens the same page, read-only.
		id, ok = strings.CutPrefix(p, "/s/")
	}
	if !ok {
		return false
	}
	id = strings.TrimSuffix(id, "/")
	return id != "" && !strings.Contains(id, "/")
}

// hashed reports whether a file name carries a content hash the build put
// there ("app-3BSI3CQX.js", "favicon-21b4b2c7.svg"): such a file never
// changes, so it may be cached for good.
func hashed(base string) bool {
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 {
		return false
	}
	stem := base[:dot]
	dash := strings.LastIndexByte(stem, '-')
	if dash < 0 || len(stem)-dash-1 != 8 {
		return false
	}
	for _, c := range stem[dash+1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".woff2":
		return "font/woff2"
	case ".json":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
