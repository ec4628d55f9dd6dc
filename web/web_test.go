package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestPagesServeIndexWithCSP(t *testing.T) {
	index, err := fs.ReadFile(dist, "dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/r/01HZYX", "/r/abc/", "/s/0123456789abcdefSECRET"} {
		rec := get(t, p)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", p, rec.Code)
		}
		if rec.Body.String() != string(index) {
			t.Errorf("%s: body is not index.html", p)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if csp != ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", p, csp)
		}
		for _, bad := range []string{"unsafe-inline", "unsafe-eval"} {
			if strings.Contains(csp, bad) {
				t.Errorf("CSP allows %s", bad)
			}
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		if rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: Cache-Control %q", p, rec.Header().Get("Cache-Control"))
		}
	}
	if rec := get(t, "/embed-example.html"); rec.Code != http.StatusOK || rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("/embed-example.html: %d, CSP %q", rec.Code, rec.Header().Get("Content-Security-Policy"))
	}
}

func TestIndexHasNoInlineScript(t *testing.T) {
	index, _ := fs.ReadFile(dist, "dist/index.html")
	s := string(index)
	for i := strings.Index(s, "<script"); i >= 0; {
		end := strings.Index(s[i:], ">")
		if !strings.Contains(s[i:i+end], "src=") {
			t.Fatalf("inline script in index.html: %s", s[i:i+end])
		}
		next := strings.Index(s[i+1:], "<script")
		if next < 0 {
			break
		}
		i += 1 + next
	}
}

func TestAssets(t *testing.T) {
	entries, err := fs.ReadDir(dist, "dist/assets")
	if err != nil {
		t.Fatal(err)
	}
	var js string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "app-") && strings.HasSuffix(e.Name(), ".js") {
			js = e.Name()
		}
	}
	if js == "" {
		t.Fatal("no app-*.js in dist/assets")
	}
	rec := get(t, "/assets/"+js)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: %d", js, rec.Code)
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("hashed asset Cache-Control %q", cc)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q", ct)
	}
	rec = get(t, "/assets/thinkstream-view.js")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("ETag") == "" {
		t.Errorf("loader: %d %q %q", rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("ETag"))
	}
	for _, p := range []string{"/assets/nope.js", "/assets/", "/assets/../web.go", "/assets//etc/passwd", "/r/", "/r/a/b", "/favicon.ico", "/index.html"} {
		if rec := get(t, p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, rec.Code)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %d", rec.Code)
	}
}

func TestHashed(t *testing.T) {
	for name, want := range map[string]bool{
		"app-3BSI3CQX.js":                true,
		"favicon-21b4b2c7.svg":           true,
		"KaTeX_Main-Bold-YP5VVQRP.woff2": true,
		"thinkstream-view.js":            false,
		"embed-example.js":               false,
		"app.js":                         false,
	} {
		if got := hashed(name); got != want {
			t.Errorf("hashed(%q) = %v", name, got)
		}
	}
}
