// Package webchat is the web chat channel: a mobile-first page served from
// embedded files (no CDN; it works with no internet), a JSON API over plain
// HTTP for messages, photos and locations, and long polling for what the
// outbox holds for the browser (staff replies, reminders). A resident is a
// signed, HttpOnly, SameSite session cookie whose id the server issued.
//
// Everything residents and staff write reaches the page as JSON and is put
// into the DOM as text, never as markup, under a Content-Security-Policy
// that allows no inline script.
package webchat

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
)

const channel = bot.ChannelWeb

// Handler is the router (bot.Bot satisfies it).
type Handler interface {
	Handle(ctx context.Context, m bot.Message) ([]bot.Reply, error)
}

// Options configure the web chat.
type Options struct {
	Store   *store.Store
	Handler Handler
	// PublicURL is how browsers reach the server; its origin is trusted for
	// state-changing requests besides the request's own host, and photo links
	// given to staff start with it.
	PublicURL string
	// SessionSecret signs session cookies; empty: a key generated once and
	// kept in the store.
	SessionSecret string
	// UploadDir holds uploaded photos; it is created if missing.
	UploadDir string
	// DevPages serves /dev/outbox.
	DevPages bool
	// RealIPHeader names the header a reverse proxy sets to the client's
	// address (e.g. X-Real-IP); empty: the connection's address.
	RealIPHeader string
	// Title is the page's heading (the community's name).
	Title string
	// DefaultLang is the community's language: the page's when neither the
	// resident nor the browser says otherwise.
	DefaultLang string
	// Location is the community's time zone, for times on /dev/outbox.
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time
	// SessionIdle is how long an unused session stays valid (default 180 days).
	SessionIdle time.Duration
	// PollWait is the longest an events request waits (default 25 s);
	// PollEvery how often it looks at the outbox meanwhile (default 1 s).
	PollWait  time.Duration
	PollEvery time.Duration
	// Limits; a zero Limit takes its value from DefaultLimits.
	Limits Limits
}

// MaxPhoto is the largest photo accepted. The global body limit is 1 MiB,
// so the page downscales photos in the browser before it uploads them.
const MaxPhoto = bot.MaxBody

// Server is the web chat. Register its routes on a mux.
type Server struct {
	opt    Options
	st     *store.Store
	h      Handler
	log    *slog.Logger
	key    []byte
	public *url.URL
	page   *template.Template
	dev    *template.Template
	static http.Handler
	etags  map[string]string // static file name → its ETag

	sessionMsgs, addresses, newSessions, uploads *limiter

	stop      chan struct{}
	stopOnce  sync.Once
	lastPurge atomic.Int64

	// flights are messages with an id being handled, for their retries;
	// lastReplayPurge is when expired kept replies were last deleted.
	flights         flights
	lastReplayPurge atomic.Int64
}

//go:embed static
var staticFiles embed.FS

//go:embed templates
var templateFiles embed.FS

// New returns the web chat. It loads (or creates and keeps) the session
// signing key and creates the upload directory.
func New(ctx context.Context, opt Options) (*Server, error) {
	if opt.Store == nil || opt.Handler == nil {
		return nil, errors.New("webchat: a store and a handler are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.DefaultLang == "" {
		opt.DefaultLang = bot.LangZH
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 180 * 24 * time.Hour
	}
	if opt.PollWait <= 0 {
		opt.PollWait = 25 * time.Second
	}
	if opt.PollEvery <= 0 {
		opt.PollEvery = time.Second
	}
	for _, l := range []struct{ set, def *Limit }{
		{&opt.Limits.Session, &DefaultLimits.Session}, {&opt.Limits.Address, &DefaultLimits.Address},
		{&opt.Limits.NewSessions, &DefaultLimits.NewSessions}, {&opt.Limits.Uploads, &DefaultLimits.Uploads},
	} {
		if *l.set == (Limit{}) {
			*l.set = *l.def
		}
	}
	if opt.UploadDir == "" {
		return nil, errors.New("webchat: an upload directory is required")
	}
	public, err := url.Parse(opt.PublicURL)
	if err != nil || public.Host == "" {
		return nil, fmt.Errorf("webchat: public URL %q is not an absolute URL", opt.PublicURL)
	}
	if err := os.MkdirAll(opt.UploadDir, 0o750); err != nil {
		return nil, fmt.Errorf("webchat: upload directory: %w", err)
	}
	key, err := loadSecret(ctx, opt.Store, opt.SessionSecret)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}
	page, err := template.New("index.html").Funcs(funcs).ParseFS(templateFiles, "templates/index.html")
	if err != nil {
		return nil, fmt.Errorf("webchat: page template: %w", err)
	}
	dev, err := template.New("outbox.html").ParseFS(templateFiles, "templates/outbox.html")
	if err != nil {
		return nil, fmt.Errorf("webchat: outbox template: %w", err)
	}
	etags := map[string]string{}
	err = fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, path)
		sum := sha256.Sum256(b)
		etags[path] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Server{
		etags: etags, opt: opt, st: opt.Store, h: opt.Handler, log: opt.Logger, key: key, public: public,
		page: page, dev: dev, static: http.StripPrefix("/static/", http.FileServerFS(sub)),
		sessionMsgs: newLimiter(opt.Limits.Session), addresses: newLimiter(opt.Limits.Address),
		newSessions: newLimiter(opt.Limits.NewSessions), uploads: newLimiter(opt.Limits.Uploads),
		stop: make(chan struct{}),
	}, nil
}

// Register adds the web chat's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /static/{file}", s.staticFile)
	mux.HandleFunc("POST /api/hello", s.api(s.hello))
	mux.HandleFunc("POST /api/message", s.api(s.message))
	mux.HandleFunc("POST /api/photo", s.api(s.photo))
	mux.HandleFunc("POST /api/ack", s.api(s.ack))
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("GET /media/{token}", s.media)
	if s.opt.DevPages {
		mux.HandleFunc("GET /dev/outbox", s.devOutbox)
	}
}

// Stop makes waiting event requests return at once (server shutdown).
func (s *Server) Stop() { s.stopOnce.Do(func() { close(s.stop) }) }

// pageCSP allows the page's own script, style and pictures and nothing else:
// no inline script, so even markup that slipped into the DOM could not run.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// staticFile serves the page's script and styles. They are revalidated on
// every load (an upgrade shows at once) and cost a 304 when unchanged.
func (s *Server) staticFile(w http.ResponseWriter, r *http.Request) {
	tag, ok := s.etags[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r) // also no directory listing
		return
	}
	securityHeaders(w.Header(), pageCSP)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", tag)
	s.static.ServeHTTP(w, r)
}

// index serves the chat page in the resident's language, else the browser's.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	lang := ""
	if sess, err := s.current(r); err == nil && sess != nil {
		lang = s.residentLang(r.Context(), sess.ext)
	}
	if lang == "" {
		lang = bot.LangHintOr(r.Header.Get("Accept-Language"), s.opt.DefaultLang)
	}
	securityHeaders(w.Header(), pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := s.page.Execute(w, map[string]any{
		"Lang": lang, "Title": s.opt.Title, "Texts": uiTexts, "MaxPhoto": MaxPhoto,
	})
	if err != nil {
		s.log.Warn("webchat: render page", "err", err)
	}
}

func (s *Server) residentLang(ctx context.Context, ext string) string {
	id, err := s.st.FindIdentity(ctx, channel, ext)
	if err != nil {
		return ""
	}
	res, err := s.st.Resident(ctx, id.ResidentID)
	if err != nil {
		return ""
	}
	return res.Language
}

// api wraps a state-changing endpoint: same origin only, per-address limit,
// no caching.
func (s *Server) api(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !s.sameOrigin(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "origin"})
			return
		}
		if !s.allow(w, s.addresses, s.clientAddr(r)) {
			return
		}
		next(w, r)
	}
}

// sameOrigin accepts a state-changing request only when the browser says it
// comes from this site: Sec-Fetch-Site, else Origin, else Referer, must name
// the public URL's origin or the request's own host. A request that names
// no origin at all is refused: every browser sends one with a POST.
func (s *Server) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "":
	case "same-origin":
		return true
	default: // cross-site, same-site (a sibling subdomain), none
		return false
	}
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" || src == "null" {
		return false
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Scheme, s.public.Scheme) && strings.EqualFold(u.Host, s.public.Host) {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Host, r.Host) && (strings.EqualFold(u.Scheme, scheme) || strings.EqualFold(u.Scheme, s.public.Scheme))
}

// replyJSON is a reply as the page renders it.
type replyJSON struct {
	ID       int64        `json:"id,omitempty"` // outbox row, for events
	Text     string       `json:"text"`
	Choices  []choiceJSON `json:"choices,omitempty"`
	ImageURL string       `json:"image_url,omitempty"`
}

type choiceJSON struct {
	Payload string `json:"payload"`
	Label   string `json:"label"`
}

func toJSON(rs []bot.Reply) []replyJSON {
	out := make([]replyJSON, 0, len(rs))
	for _, r := range rs {
		j := replyJSON{Text: r.Text}
		for _, c := range r.Choices {
			j.Choices = append(j.Choices, choiceJSON{Payload: c.Payload, Label: c.Label})
		}
		if r.Image != nil {
			j.ImageURL = r.Image.URL
		}
		out = append(out, j)
	}
	return out
}

// turn runs one message through the router and answers with its replies;
// a retry of a message with an id gets the first copy's replies (see
// handle, which also explains prepare).
func (s *Server) turn(w http.ResponseWriter, r *http.Request, sess *session, m bot.Message, prepare func(context.Context, *bot.Message) error) {
	m.Channel, m.UserID = channel, sess.ext
	if m.LangHint == "" {
		m.LangHint = r.Header.Get("Accept-Language")
		if i := strings.IndexAny(m.LangHint, ",;"); i >= 0 {
			m.LangHint = m.LangHint[:i]
		}
	}
	replies, err := s.handle(r.Context(), m, prepare)
	if err != nil {
		if r.Context().Err() == nil {
			s.fail(w, fmt.Errorf("webchat: handle: %w", err))
		}
		return
	}
	lang := s.afterTurn(r.Context(), w, sess)
	if lang == "" {
		lang = bot.LangHintOr(m.LangHint, s.opt.DefaultLang)
	}
	writeJSON(w, http.StatusOK, map[string]any{"replies": replies, "lang": lang, "new": sess.fresh})
}

// hello starts a page: a new browser gets a session and the welcome; a known
// one gets nothing (the page greets it), so reloading never disturbs a flow.
func (s *Server) hello(w http.ResponseWriter, r *http.Request) {
	if _, ok := bot.ReadBody(w, r, 1024); !ok {
		return
	}
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	if sess.fresh {
		s.turn(w, r, sess, bot.Message{Event: bot.EventSubscribe}, nil)
		return
	}
	lang := s.residentLang(r.Context(), sess.ext)
	if lang == "" {
		lang = bot.LangHintOr(r.Header.Get("Accept-Language"), s.opt.DefaultLang)
	}
	writeJSON(w, http.StatusOK, map[string]any{"replies": []replyJSON{}, "lang": lang, "new": false})
}

// messageJSON is what the page posts: typed text, a pressed button, or a location.
type messageJSON struct {
	ID       string        `json:"id"` // the page's id for this message: a retried POST is handled once
	Text     string        `json:"text"`
	Payload  string        `json:"payload"`
	Location *locationJSON `json:"location"`
}

type locationJSON struct {
	Lat   float64 `json:"lat"`
	Lon   float64 `json:"lon"`
	Label string  `json:"label"`
}

// MaxText is the longest message a resident may type, in characters.
const MaxText = 2000

var clientIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

func (s *Server) message(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r) {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "type"})
		return
	}
	body, ok := bot.ReadBody(w, r, 32<<10)
	if !ok {
		return
	}
	var in messageJSON
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request"})
		return
	}
	m, ok := in.toMessage()
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request"})
		return
	}
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	if !s.allow(w, s.sessionMsgs, sess.ext) {
		return
	}
	if in.ID != "" {
		m.DedupeKey = sess.ext + ":" + in.ID
	}
	s.turn(w, r, sess, m, nil)
}

// toMessage checks a posted message: exactly one of text, button or
// location, each within its bounds.
func (in messageJSON) toMessage() (bot.Message, bool) {
	var m bot.Message
	if in.ID != "" && !clientIDRe.MatchString(in.ID) {
		return m, false
	}
	text := strings.TrimSpace(in.Text)
	n := 0
	if text != "" {
		n++
		if !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxText {
			return m, false
		}
		m.Text = text
	}
	if in.Payload != "" {
		n++
		if len(in.Payload) > 200 || !utf8.ValidString(in.Payload) {
			return m, false
		}
		m.Payload = in.Payload
	}
	if l := in.Location; l != nil {
		n++
		if math.IsNaN(l.Lat) || math.IsNaN(l.Lon) || math.Abs(l.Lat) > 90 || math.Abs(l.Lon) > 180 ||
			utf8.RuneCountInString(l.Label) > 200 || !utf8.ValidString(l.Label) {
			return m, false
		}
		m.Location = &bot.Location{Latitude: l.Lat, Longitude: l.Lon, Label: strings.TrimSpace(l.Label)}
	}
	return m, n == 1
}

func isJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

// events answers with the rows the outbox holds for this browser, waiting
// up to PollWait for one to arrive. Rows stay held until the page acks them,
// so a response lost on the way is sent again.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.allow(w, s.addresses, s.clientAddr(r)) {
		return
	}
	sess, ok := s.existing(w, r)
	if !ok {
		return
	}
	wait := s.opt.PollWait
	if v := r.URL.Query().Get("wait"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 && time.Duration(secs)*time.Second < wait {
			wait = time.Duration(secs) * time.Second
		}
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(s.opt.PollEvery)
	defer tick.Stop()
	for {
		rows, err := s.st.HeldOutbox(r.Context(), channel, sess.ext)
		if err != nil {
			if r.Context().Err() == nil {
				s.fail(w, fmt.Errorf("webchat: held outbox: %w", err))
			}
			return
		}
		if len(rows) > 0 {
			writeJSON(w, http.StatusOK, map[string]any{"messages": rowsJSON(rows)})
			return
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-s.stop:
		case <-r.Context().Done():
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"messages": []replyJSON{}})
		return
	}
}

func rowsJSON(rows []store.OutboxRow) []replyJSON {
	out := make([]replyJSON, 0, len(rows))
	for _, row := range rows {
		j := replyJSON{ID: row.ID, Text: row.Body.Text, ImageURL: row.Body.ImageURL}
		for _, c := range row.Body.Choices {
			j.Choices = append(j.Choices, choiceJSON{Payload: c.Payload, Label: c.Label})
		}
		if j.Text == "" && len(row.Body.Params) > 0 {
			// A template-only row: show its parameters rather than nothing.
			keys := make([]string, 0, len(row.Body.Params))
			for k := range row.Body.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var ls []string
			for _, k := range keys {
				ls = append(ls, row.Body.Params[k])
			}
			j.Text = strings.Join(ls, "\n")
		}
		out = append(out, j)
	}
	return out
}

// ack marks rows the page has shown as sent. Only this browser's held rows
// can be acked.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r) {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "type"})
		return
	}
	body, ok := bot.ReadBody(w, r, 16<<10)
	if !ok {
		return
	}
	var in struct {
		IDs []int64 `json:"ids"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.IDs) > 500 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request"})
		return
	}
	sess, ok := s.existing(w, r)
	if !ok {
		return
	}
	held, err := s.st.HeldOutbox(r.Context(), channel, sess.ext)
	if err != nil {
		s.fail(w, fmt.Errorf("webchat: held outbox: %w", err))
		return
	}
	want := map[int64]bool{}
	for _, id := range in.IDs {
		want[id] = true
	}
	n := 0
	for _, row := range held {
		if !want[row.ID] {
			continue
		}
		if err := s.st.FinishOutbox(r.Context(), row.ID, store.OutboxOutcome{Status: store.OutboxSent, Channel: channel, At: s.opt.Now()}); err != nil {
			s.fail(w, fmt.Errorf("webchat: ack: %w", err))
			return
		}
		n++
	}
	writeJSON(w, http.StatusOK, map[string]int{"acked": n})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fail logs an error once and answers 500 without its details.
func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log.Error("webchat", "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "unavailable"})
}
