package webchat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

const publicURL = "http://chat.example.org"

// clock is a time tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeEngine answers like a tiny flow and records every turn the real
// router passed it.
type fakeEngine struct {
	mu    sync.Mutex
	turns []bot.Turn
}

func (f *fakeEngine) Handle(_ context.Context, t *bot.Turn) ([]bot.Reply, error) {
	f.mu.Lock()
	f.turns = append(f.turns, *t)
	f.mu.Unlock()
	switch {
	case t.Event == bot.EventSubscribe:
		return []bot.Reply{{Text: "welcome", Choices: []bot.Choice{{Payload: "report", Label: "Report"}}}}, nil
	case t.Image != nil:
		return []bot.Reply{{Text: "photo " + t.Image.URL}}, nil
	case t.Location != nil:
		return []bot.Reply{{Text: fmt.Sprintf("at %.3f,%.3f", t.Location.Latitude, t.Location.Longitude)}}, nil
	}
	return []bot.Reply{{Text: "echo " + t.Text + t.Payload}}, nil
}

func (f *fakeEngine) all() []bot.Turn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bot.Turn(nil), f.turns...)
}

func (f *fakeEngine) last(t *testing.T) bot.Turn {
	t.Helper()
	all := f.all()
	if len(all) == 0 {
		t.Fatal("the engine saw no turn")
	}
	return all[len(all)-1]
}

type env struct {
	t   *testing.T
	st  *store.Store
	srv *Server
	h   http.Handler
	eng *fakeEngine
	clk *clock
	opt Options
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	st.SetClock(clk.Now)
	eng := &fakeEngine{}
	b := bot.New(st, eng, bot.Options{Logger: quietLog(), Now: clk.Now})
	opt := Options{Store: st, Handler: b, PublicURL: publicURL, UploadDir: filepath.Join(t.TempDir(), "uploads"),
		DevPages: true, Title: "<Test> 社区", Logger: quietLog(), Now: clk.Now, PollEvery: 5 * time.Millisecond, PollWait: 2 * time.Second}
	if mod != nil {
		mod(&opt)
	}
	e := &env{t: t, st: st, eng: eng, clk: clk, opt: opt}
	e.start()
	return e
}

// start (re)builds the server on the same store, as a restart would.
func (e *env) start() {
	e.t.Helper()
	srv, err := New(context.Background(), e.opt)
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	e.srv, e.h = srv, bot.Guard(quietLog(), mux)
}

// req is one request as a browser on this site would send it, unless
// headers say otherwise (an empty value removes a header).
type req struct {
	method, path string
	body         []byte
	cookie       *http.Cookie
	headers      map[string]string
	remote       string
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, "http://127.0.0.1:8080"+r.path, body)
	hr.RemoteAddr = "192.0.2.10:40000"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.method == http.MethodPost {
		hr.Header.Set("Origin", "http://127.0.0.1:8080")
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.headers {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return w
}

type apiAnswer struct {
	Replies  []replyJSON `json:"replies"`
	Messages []replyJSON `json:"messages"`
	Lang     string      `json:"lang"`
	New      bool        `json:"new"`
	Error    string      `json:"error"`
	Acked    int         `json:"acked"`
}

func decode(t *testing.T, w *httptest.ResponseRecorder) apiAnswer {
	t.Helper()
	var a apiAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("status %d, body %q: %v", w.Code, w.Body.String(), err)
	}
	return a
}

func sessionCookie(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

// hello opens the page as a new browser and returns its cookie.
func (e *env) hello() *http.Cookie {
	e.t.Helper()
	w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}")})
	if w.Code != 200 {
		e.t.Fatalf("hello: %d %s", w.Code, w.Body)
	}
	c := sessionCookie(w)
	if c == nil {
		e.t.Fatal("hello issued no session cookie")
	}
	return c
}

func (e *env) send(c *http.Cookie, msg string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(req{method: "POST", path: "/api/message", body: []byte(msg), cookie: c})
}

func TestPageIsEmbeddedWithStrictCSPInTheBrowsersLanguage(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(req{method: "GET", path: "/", headers: map[string]string{"Accept-Language": "en-GB,en;q=0.9,zh-CN;q=0.5"}})
	if w.Code != 200 {
		t.Fatalf("GET /: %d", w.Code)
	}
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	page := w.Body.String()
	if !strings.Contains(page, `<html lang="en">`) {
		t.Error("English browser did not get an English page")
	}
	if !strings.Contains(page, "&lt;Test&gt; 社区") || strings.Contains(page, "<Test>") {
		t.Error("the title is not escaped")
	}
	if regexp.MustCompile(`(?i)<script>|https?://[a-z]`).MatchString(strings.ReplaceAll(page, publicURL, "")) {
		t.Error("the page has inline script or an external reference")
	}
	w = e.do(req{method: "GET", path: "/", headers: map[string]string{"Accept-Language": "zh-CN,zh;q=0.9"}})
	if !strings.Contains(w.Body.String(), `<html lang="zh-CN">`) {
		t.Error("Chinese browser did not get a Chinese page")
	}
	for _, p := range []string{"/static/app.js", "/static/app.css"} {
		w := e.do(req{method: "GET", path: p})
		if w.Code != 200 || w.Body.Len() < 500 || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d, %d bytes", p, w.Code, w.Body.Len())
		}
	}
	if w := e.do(req{method: "GET", path: "/nothing"}); w.Code != 404 {
		t.Errorf("GET /nothing: %d", w.Code)
	}
}

// The page's language follows the resident's own choice once they made one.
func TestPageFollowsTheResidentsLanguage(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	turn := e.eng.last(t)
	if err := e.st.SetResidentLanguage(context.Background(), turn.Resident.ID, "en"); err != nil {
		t.Fatal(err)
	}
	w := e.do(req{method: "GET", path: "/", cookie: c, headers: map[string]string{"Accept-Language": "zh-CN"}})
	if !strings.Contains(w.Body.String(), `<html lang="en">`) {
		t.Error("the resident chose English but the page is not")
	}
	a := decode(t, e.send(c, `{"text":"hi"}`))
	if a.Lang != "en" {
		t.Errorf("reply lang %q, want en", a.Lang)
	}
}

func TestUITextsCompleteInBothLanguages(t *testing.T) {
	zh, en := uiTexts[bot.LangZH], uiTexts[bot.LangEN]
	for k, v := range zh {
		if en[k] == "" || v == "" {
			t.Errorf("%q: zh %q, en %q", k, v, en[k])
		}
		if strings.Count(v, "%s") != strings.Count(en[k], "%s") {
			t.Errorf("%q: placeholders differ", k)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%q only in English", k)
		}
	}
	// Every key the page asks for exists.
	js, _ := staticFiles.ReadFile("static/app.js")
	html, _ := templateFiles.ReadFile("templates/index.html")
	used := regexp.MustCompile(`\bt\('([a-z_]+)'\)|note\('([a-z_]+)'\)|data-(?:word|label|title)="([a-z_]+)"`).FindAllStringSubmatch(string(js)+string(html), -1)
	if len(used) < 10 {
		t.Fatalf("found only %d text keys in the page", len(used))
	}
	for _, m := range used {
		k := m[1] + m[2] + m[3]
		if _, ok := zh[k]; !ok {
			t.Errorf("the page uses %q, which has no text", k)
		}
	}
}

func TestSessionCookieIsSignedAndForgedOnesAreNotAdopted(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}")})
	a := decode(t, w)
	c := sessionCookie(w)
	if c == nil || !a.New || len(a.Replies) == 0 || a.Replies[0].Text != "welcome" {
		t.Fatalf("first hello: cookie %v, %+v", c, a)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie attributes: %+v", c)
	}
	first := e.eng.last(t).UserID
	if !strings.HasPrefix(first, "w") || strings.Contains(c.Value, first) {
		t.Errorf("identity %q must not be the cookie %q", first, c.Value)
	}

	// The same browser again: no new session, no new welcome.
	w = e.do(req{method: "POST", path: "/api/hello", body: []byte("{}"), cookie: c})
	if a := decode(t, w); a.New || len(a.Replies) != 0 || sessionCookie(w) != nil {
		t.Errorf("known browser: %+v, cookie %v", a, sessionCookie(w))
	}
	decode(t, e.send(c, `{"text":"hello"}`))
	if got := e.eng.last(t).UserID; got != first {
		t.Fatalf("same cookie spoke as %q, want %q", got, first)
	}

	id, sig, _ := strings.Cut(c.Value, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'a' {
			b[0] = 'b'
		} else {
			b[0] = 'a'
		}
		return string(b)
	}
	other := newEnv(t, func(o *Options) { o.SessionSecret = strings.Repeat("k", 32) })
	otherCookie := other.hello()
	forged := map[string]string{
		"unsigned":          id,
		"id changed":        flip(id) + "." + sig,
		"signature changed": id + "." + flip(sig),
		"chosen by client":  strings.Repeat("0", 64) + "." + sig,
		"another server's":  otherCookie.Value,
		"garbage":           "<script>",
	}
	for name, v := range forged {
		before := len(e.eng.all())
		w := e.send(&http.Cookie{Name: CookieName, Value: v}, `{"text":"hi"}`)
		a := decode(t, w)
		nc := sessionCookie(w)
		if w.Code != 200 || nc == nil || nc.Value == v {
			t.Errorf("%s: %d, new cookie %v", name, w.Code, nc)
			continue
		}
		turns := e.eng.all()
		if len(turns) != before+1 || turns[len(turns)-1].UserID == first {
			t.Errorf("%s: spoke as the original resident", name)
		}
		if nid, _, _ := strings.Cut(nc.Value, "."); strings.Contains(v, nid) {
			t.Errorf("%s: the client's id was adopted", name)
		}
		_ = a
	}
	// A signed id whose session is gone (expired, rotated) is not revived.
	if _, err := e.st.DeleteWebSessionsSeenBefore(context.Background(), e.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w = e.send(c, `{"text":"hi"}`)
	if nc := sessionCookie(w); nc == nil || nc.Value == c.Value || e.eng.last(t).UserID == first {
		t.Error("a deleted session was revived")
	}
	if w := e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c}); w.Code != http.StatusUnauthorized {
		t.Errorf("events with a dead session: %d", w.Code)
	}
}

// With no secret in the config, the generated one is kept in the store, so
// sessions survive a restart.
func TestGeneratedSecretSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	first := e.eng.last(t).UserID
	e.start()
	w := e.send(c, `{"text":"after restart"}`)
	if w.Code != 200 || sessionCookie(w) != nil || e.eng.last(t).UserID != first {
		t.Fatalf("restart lost the session: %d, cookie %v", w.Code, sessionCookie(w))
	}
	v, _, err := e.st.GetValue(context.Background(), secretKey)
	if err != nil || len(v) < 32 {
		t.Fatalf("secret in kv: %q, %v", v, err)
	}
}

func TestSessionExpiresWhenIdle(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionIdle = 48 * time.Hour })
	c := e.hello()
	e.clk.Add(30 * time.Hour)
	if w := e.send(c, `{"text":"x"}`); sessionCookie(w) == nil {
		t.Error("the sliding refresh did not re-send the cookie") // seen more than an hour ago
	}
	e.clk.Add(30 * time.Hour) // 30 h after the last use: still valid
	if w := e.send(c, `{"text":"x"}`); w.Code != 200 || decode(t, w).New {
		t.Fatal("session expired although it was used within the idle time")
	}
	e.clk.Add(49 * time.Hour)
	w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}"), cookie: c})
	if !decode(t, w).New {
		t.Error("an idle session was still accepted")
	}
}

// Binding a phone changes whom the session speaks for: its id is replaced,
// so a cookie planted or copied before stops working.
func TestSessionRotatesWhenAPhoneIsBound(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	decode(t, e.send(c, `{"text":"one"}`))
	turn := e.eng.last(t)
	if err := e.st.SetResidentPhone(context.Background(), turn.Resident.ID, "13800138000"); err != nil {
		t.Fatal(err)
	}
	w := e.send(c, `{"text":"bound now"}`)
	nc := sessionCookie(w)
	if nc == nil || nc.Value == c.Value {
		t.Fatal("the session was not rotated after the phone was bound")
	}
	if w := e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c}); w.Code != http.StatusUnauthorized {
		t.Errorf("the old cookie still works: %d", w.Code)
	}
	w = e.send(nc, `{"text":"after"}`)
	if sessionCookie(w) != nil || e.eng.last(t).UserID != turn.UserID {
		t.Error("the rotated session does not speak for the same identity")
	}
	var n int
	e.st.DB().QueryRow("SELECT COUNT(*) FROM web_sessions WHERE bound LIKE '%13800138000%'").Scan(&n)
	if n != 0 {
		t.Error("the phone number is stored in web_sessions")
	}
}

func TestCrossOriginRequestsAreRefused(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	before := len(e.eng.all())
	refused := []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "null"},
		{"Origin": "", "Referer": "https://evil.example/page"},
		{"Origin": ""}, // no Origin, no Referer: not a browser on this site
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "http://127.0.0.1:8080.evil.example"},
		{"Origin": "https://127.0.0.1:8080"}, // the scheme counts too
	}
	for _, h := range refused {
		for _, path := range []string{"/api/message", "/api/hello", "/api/ack", "/api/photo"} {
			w := e.do(req{method: "POST", path: path, body: []byte(`{"text":"x"}`), cookie: c, headers: h})
			if w.Code != http.StatusForbidden {
				t.Errorf("%s with %v: %d, want 403", path, h, w.Code)
			}
		}
	}
	if len(e.eng.all()) != before {
		t.Fatal("a refused request reached the engine")
	}
	allowed := []map[string]string{
		{},                    // Origin = the request's host
		{"Origin": publicURL}, // the public URL (behind a proxy)
		{"Origin": "", "Referer": publicURL + "/"},
		{"Sec-Fetch-Site": "same-origin"},
	}
	for _, h := range allowed {
		if w := e.do(req{method: "POST", path: "/api/message", body: []byte(`{"text":"x"}`), cookie: c, headers: h}); w.Code != 200 {
			t.Errorf("with %v: %d", h, w.Code)
		}
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Limits = Limits{
			Session:     Limit{PerMinute: 60, Burst: 3},
			Address:     Limit{PerMinute: 600, Burst: 12},
			NewSessions: Limit{PerMinute: 1, Burst: 2},
			Uploads:     Limit{PerMinute: 1, Burst: 1},
		}
	})
	c := e.hello()
	for i := 0; i < 3; i++ {
		if w := e.send(c, `{"text":"x"}`); w.Code != 200 {
			t.Fatalf("message %d: %d", i, w.Code)
		}
	}
	before := len(e.eng.all())
	w := e.send(c, `{"text":"x"}`)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || decode(t, w).Error != "rate" {
		t.Fatalf("fourth message at once: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if len(e.eng.all()) != before {
		t.Fatal("a limited message reached the engine")
	}
	// Another browser is not held back by this one.
	c2 := e.hello()
	if w := e.send(c2, `{"text":"x"}`); w.Code != 200 {
		t.Fatalf("second session: %d", w.Code)
	}
	e.clk.Add(time.Second)
	if w := e.send(c, `{"text":"x"}`); w.Code != 200 {
		t.Fatalf("after a second: %d", w.Code)
	}

	// New sessions per address: two were issued; a third waits a minute.
	if w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}")}); w.Code != http.StatusTooManyRequests {
		t.Fatalf("third new session: %d", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}"), remote: "198.51.100.7:1"}); w.Code != 200 {
		t.Fatalf("new session from another address: %d", w.Code)
	}
	// Every request of an address counts: the 12-token bucket runs dry.
	got429 := false
	for i := 0; i < 20 && !got429; i++ {
		got429 = e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c2}).Code == http.StatusTooManyRequests
	}
	if !got429 {
		t.Fatal("the per-address limit never applied")
	}
	if w := e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c2, remote: "[2001:db8::1]:5"}); w.Code != 200 {
		t.Fatalf("another address: %d", w.Code)
	}
	// IPv6 counts per /64.
	for i := 0; i < 12; i++ {
		e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c2, remote: fmt.Sprintf("[2001:db8::%x]:5", i+2)})
	}
	if w := e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c2, remote: "[2001:db8::ffff]:5"}); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a /64 is one address: %d", w.Code)
	}
}

// Behind a reverse proxy every request comes from the proxy; the configured
// header names the client, and only its last entry (the proxy's own) counts.
func TestRealIPHeader(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.RealIPHeader = "X-Forwarded-For"
		o.Limits = DefaultLimits
		o.Limits.NewSessions = Limit{PerMinute: 1, Burst: 1}
	})
	hdr := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }
	if w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}"), headers: hdr("203.0.113.1")}); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}"), headers: hdr("203.0.113.2")}); w.Code != 200 {
		t.Fatalf("a second client behind the proxy: %d", w.Code)
	}
	// A client cannot pick its bucket by prepending entries.
	if w := e.do(req{method: "POST", path: "/api/hello", body: []byte("{}"), headers: hdr("10.9.9.9, 203.0.113.2")}); w.Code != http.StatusTooManyRequests {
		t.Fatalf("spoofed first entry: %d", w.Code)
	}
}

func TestLimiterForgetsIdleKeys(t *testing.T) {
	l := newLimiter(Limit{PerMinute: 60, Burst: 2})
	now := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		l.allow(fmt.Sprint(i), now)
	}
	if ok, _ := l.allow("0", now); !ok {
		t.Fatal("second token refused")
	}
	if ok, _ := l.allow("0", now); ok {
		t.Fatal("third token at once allowed")
	}
	l.allow("fresh", now.Add(2*time.Minute))
	l.mu.Lock()
	n := len(l.m)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d buckets kept after they were idle", n)
	}
}

func TestMessageValidation(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	before := len(e.eng.all())
	bad := []string{
		`not json`,
		`{}`,
		`{"text":"   "}`,
		`{"text":"a","payload":"b"}`,
		`{"text":"` + strings.Repeat("长", MaxText+1) + `"}`,
		`{"payload":"` + strings.Repeat("p", 201) + `"}`,
		`{"location":{"lat":91,"lon":0}}`,
		`{"location":{"lat":0,"lon":-181}}`,
		`{"text":"x","id":"short"}`,
		`{"text":"x","id":"has spaces in it"}`,
	}
	for _, b := range bad {
		if w := e.send(c, b); w.Code != http.StatusBadRequest {
			t.Errorf("%.40s: %d", b, w.Code)
		}
	}
	if w := e.do(req{method: "POST", path: "/api/message", body: []byte(`{"text":"x"}`), cookie: c,
		headers: map[string]string{"Content-Type": "text/plain"}}); w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", w.Code)
	}
	if len(e.eng.all()) != before {
		t.Fatal("an invalid message reached the engine")
	}
	a := decode(t, e.send(c, `{"location":{"lat":31.2304,"lon":121.4737,"label":"x"}}`))
	if len(a.Replies) != 1 || a.Replies[0].Text != "at 31.230,121.474" {
		t.Errorf("location: %+v", a)
	}
	a = decode(t, e.send(c, `{"payload":"report"}`))
	if a.Replies[0].Text != "echo report" || e.eng.last(t).Payload != "report" {
		t.Errorf("button: %+v", a)
	}
	// A retried POST with the same id is handled once.
	n := len(e.eng.all())
	e.send(c, `{"text":"once","id":"abcdef0123456789"}`)
	e.send(c, `{"text":"once","id":"abcdef0123456789"}`)
	if got := len(e.eng.all()) - n; got != 1 {
		t.Errorf("a retried message ran %d times", got)
	}
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPhotoUploads(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	photo := func(body []byte, h map[string]string) *httptest.ResponseRecorder {
		if h == nil {
			h = map[string]string{}
		}
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = "image/jpeg"
		}
		return e.do(req{method: "POST", path: "/api/photo", body: body, cookie: c, headers: h})
	}
	before := len(e.eng.all())

	// Over 1 MiB: 413, whether the length is declared or not.
	big := append([]byte("\xFF\xD8\xFF"), make([]byte, MaxPhoto)...)
	if w := photo(big, nil); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized photo: %d", w.Code)
	}
	hr := httptest.NewRequest("POST", "http://127.0.0.1:8080/api/photo", io.MultiReader(bytes.NewReader(big)))
	hr.ContentLength = -1
	hr.Header.Set("Origin", "http://127.0.0.1:8080")
	hr.AddCookie(c)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized photo of unknown length: %d", rec.Code)
	}
	// Not a JPEG, PNG or WebP, whatever the header says: 415.
	for name, body := range map[string][]byte{
		"gif":  []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"html": []byte("<html><script>alert(1)</script></html>"),
		"svg":  []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`),
		"zero": {},
	} {
		if w := photo(body, nil); w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%s as image/jpeg: %d", name, w.Code)
		}
	}
	if len(e.eng.all()) != before {
		t.Fatal("a refused upload reached the engine")
	}
	entries, _ := os.ReadDir(e.opt.UploadDir)
	if len(entries) != 0 {
		t.Fatalf("refused uploads left files: %v", entries)
	}

	// A PNG sent as octet-stream is sniffed and accepted.
	img := pngBytes(t, 64, 48)
	w := photo(img, map[string]string{"Content-Type": "application/octet-stream"})
	if w.Code != 200 {
		t.Fatalf("png: %d %s", w.Code, w.Body)
	}
	turn := e.eng.last(t)
	if turn.Image == nil || !strings.HasPrefix(turn.Image.URL, publicURL+"/media/") || turn.Image.Ref == "" {
		t.Fatalf("engine got %+v", turn.Image)
	}
	path := strings.TrimPrefix(turn.Image.URL, publicURL)
	w = e.do(req{method: "GET", path: path})
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), img) || w.Header().Get("Content-Type") != "image/png" ||
		w.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("GET %s: %d, %s, %v", path, w.Code, w.Header().Get("Content-Type"), w.Header())
	}
	for _, p := range []string{"/media/" + strings.Repeat("0", 32), "/media/..%2f..%2flinli.db", "/media/" + turn.Image.Ref + "x"} {
		if w := e.do(req{method: "GET", path: p}); w.Code != 404 {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
	webp := append([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), make([]byte, 16)...)
	if w := photo(webp, nil); w.Code != 200 {
		t.Errorf("webp: %d", w.Code)
	}
}

// Rows the outbox holds for a web identity wait until the page collects
// them, and stay until the page says it showed them.
func TestHeldRowsReachThePageUntilAcked(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.hello()
	turn := e.eng.last(t)
	hold := func(text string) int64 {
		t.Helper()
		ids, err := e.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: "reply", ResidentID: turn.Resident.ID,
			Body: store.OutboxBody{Text: text, Choices: []store.OutboxChoice{{Payload: "ok", Label: "OK"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.HoldOutbox(ctx, ids[0], channel, turn.UserID); err != nil {
			t.Fatal(err)
		}
		return ids[0]
	}
	if a := decode(t, e.do(req{method: "GET", path: "/api/events?wait=0", cookie: c})); len(a.Messages) != 0 {
		t.Fatalf("nothing held, got %+v", a.Messages)
	}
	xss := `<img src=x onerror=alert(1)>`
	id := hold(xss)
	w := e.do(req{method: "GET", path: "/api/events", cookie: c})
	a := decode(t, w)
	if len(a.Messages) != 1 || a.Messages[0].Text != xss || a.Messages[0].ID != id || len(a.Messages[0].Choices) != 1 {
		t.Fatalf("events: %+v", a.Messages)
	}
	if strings.Contains(w.Body.String(), "<img") || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Error("markup travels unescaped in the JSON")
	}
	// Not acked yet: a lost response is sent again.
	if a := decode(t, e.do(req{method: "GET", path: "/api/events", cookie: c})); len(a.Messages) != 1 {
		t.Fatal("an unacked row was not offered again")
	}
	// Another browser can neither see nor ack it.
	other := e.hello()
	if a := decode(t, e.do(req{method: "GET", path: "/api/events?wait=0", cookie: other})); len(a.Messages) != 0 {
		t.Fatal("another browser saw the row")
	}
	if a := decode(t, e.do(req{method: "POST", path: "/api/ack", body: []byte(fmt.Sprintf(`{"ids":[%d]}`, id)), cookie: other})); a.Acked != 0 {
		t.Fatal("another browser acked the row")
	}
	if a := decode(t, e.do(req{method: "POST", path: "/api/ack", body: []byte(fmt.Sprintf(`{"ids":[%d, 999]}`, id)), cookie: c})); a.Acked != 1 {
		t.Fatalf("ack: %+v", a)
	}
	row, _ := e.st.OutboxRowByID(ctx, id)
	if row.Status != store.OutboxSent || row.Channel != channel {
		t.Fatalf("acked row: %s via %q", row.Status, row.Channel)
	}

	// A waiting poll answers as soon as a row is held.
	got := make(chan apiAnswer, 1)
	go func() {
		hr := httptest.NewRequest("GET", "http://127.0.0.1:8080/api/events?wait=10", nil)
		hr.AddCookie(c)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, hr)
		var a apiAnswer
		json.Unmarshal(rec.Body.Bytes(), &a)
		got <- a
	}()
	hold("later")
	select {
	case a := <-got:
		if len(a.Messages) != 1 || a.Messages[0].Text != "later" {
			t.Fatalf("long poll: %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting poll did not answer when a row was held")
	}
	if w := e.do(req{method: "GET", path: "/api/events?wait=0"}); w.Code != http.StatusUnauthorized {
		t.Errorf("events without a session: %d", w.Code)
	}
}

func TestStopEndsWaitingPolls(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.PollWait = time.Minute })
	c := e.hello()
	done := make(chan int, 1)
	go func() {
		hr := httptest.NewRequest("GET", "http://127.0.0.1:8080/api/events", nil)
		hr.AddCookie(c)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, hr)
		done <- rec.Code
	}()
	// Stop only once the poll is waiting: it must be woken, not skipped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.srv.Stop()
		select {
		case code := <-done:
			if code != 200 {
				t.Fatalf("stopped poll: %d", code)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("Stop did not end the waiting poll")
		}
	}
}

func TestDevOutboxEscapesAndMasks(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.hello()
	turn := e.eng.last(t)
	e.st.SetResidentPhone(ctx, turn.Resident.ID, "13800138000")
	_ = c
	xss := `<img src=x onerror=alert(1)>`
	rows := []store.OutboxRow{
		{Kind: "reply", ResidentID: turn.Resident.ID, TargetChannel: "web", TargetAddress: turn.UserID, Body: store.OutboxBody{Text: xss}, Ref: "T1001"},
		{Kind: "verify_code", ResidentID: turn.Resident.ID, TargetChannel: "sms", TargetAddress: "13912345678",
			Body: store.OutboxBody{Template: "verify_code", Params: map[string]string{"code": "<b>482913</b>"}}},
		{Kind: "reminder", ResidentID: turn.Resident.ID, Body: store.OutboxBody{Template: "reminder", Params: map[string]string{"name": "血压测量"}}},
	}
	ids, err := e.st.EnqueueOutbox(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	// The reminder went out by SMS through the fallback chain.
	if err := e.st.FinishOutbox(ctx, ids[2], store.OutboxOutcome{Status: store.OutboxSent, Channel: "sms", Provider: "log"}); err != nil {
		t.Fatal(err)
	}
	w := e.do(req{method: "GET", path: "/dev/outbox"})
	page := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("dev outbox: %d", w.Code)
	}
	for _, want := range []string{"&lt;img src=x onerror=alert(1)&gt;", "code=&lt;b&gt;482913&lt;/b&gt;", "139****5678", "138****8000", "verify_code", "T1001", "血压测量"} {
		if !strings.Contains(page, want) {
			t.Errorf("dev outbox lacks %q", want)
		}
	}
	for _, bad := range []string{"<img src=x", "<b>482913", "13912345678", "13800138000", turn.UserID} {
		if strings.Contains(page, bad) {
			t.Errorf("dev outbox shows %q", bad)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script") {
		t.Errorf("dev outbox CSP %q", csp)
	}

	off := newEnv(t, func(o *Options) { o.DevPages = false })
	if w := off.do(req{method: "GET", path: "/dev/outbox"}); w.Code != 404 {
		t.Errorf("dev pages off: %d", w.Code)
	}
}

func TestSniffPhoto(t *testing.T) {
	cases := map[string]string{
		"\xFF\xD8\xFF\xE0rest":                 "image/jpeg",
		"\x89PNG\r\n\x1a\nrest":                "image/png",
		"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00": "image/webp",
		"RIFF\x00\x00\x00\x00WAVEfmt \x00\x00": "",
		"GIF89a":                               "",
		"\xFF\xD8":                             "",
		"":                                     "",
	}
	for in, want := range cases {
		if got := sniffPhoto([]byte(in)); got != want {
			t.Errorf("sniff %q: %q, want %q", in, got, want)
		}
	}
}

// The page builds its DOM from data with textContent and properties only.
func TestPageScriptUsesNoMarkupSinks(t *testing.T) {
	js, err := staticFiles.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile(`(?m)//.*$`).ReplaceAllString(string(js), "")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('on", ".src = e.text"} {
		if strings.Contains(code, sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}

func TestStaticFilesRevalidateAndListNothing(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(req{method: "GET", path: "/static/app.js"})
	tag := w.Header().Get("ETag")
	if w.Code != 200 || tag == "" || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("app.js: %d, ETag %q, %q", w.Code, tag, w.Header().Get("Content-Type"))
	}
	if w := e.do(req{method: "GET", path: "/static/app.js", headers: map[string]string{"If-None-Match": tag}}); w.Code != http.StatusNotModified {
		t.Errorf("unchanged app.js: %d", w.Code)
	}
	for _, p := range []string{"/static/", "/static/nope.js", "/static/../templates/index.html"} {
		if w := e.do(req{method: "GET", path: p}); w.Code == 200 {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
}
