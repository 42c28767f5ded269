// Package wechatfake is an httptest stand-in for the WeChat Official
// Account API (api.weixin.qq.com). It checks what the real service checks
// for the calls linli makes — credentials, access tokens, the 48-hour
// customer-service window and its message quota, request shapes, menu
// limits — answers with WeChat's errcodes, and records everything it
// received so tests can assert on it.
//
// It is ordinary (non-test) code so any package's tests can import it.
// Point the code under test at Fake.URL() as its API base URL.
package wechatfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// API paths the fake serves.
const (
	PathToken        = "/cgi-bin/token"
	PathCustomSend   = "/cgi-bin/message/custom/send"
	PathTemplateSend = "/cgi-bin/message/template/send"
	PathMenuCreate   = "/cgi-bin/menu/create"
	PathMenuGet      = "/cgi-bin/menu/get"
)

// WeChat errcodes the fake answers with. Names follow the global return
// code table; callers of the real API must branch on these numbers, since
// errmsg text varies and carries a request id.
const (
	ErrcodeSystemBusy        = -1
	ErrcodeInvalidCredential = 40001 // unknown, revoked or superseded access_token
	ErrcodeInvalidGrantType  = 40002
	ErrcodeInvalidOpenID     = 40003
	ErrcodeInvalidMediaID    = 40007
	ErrcodeInvalidMsgType    = 40008
	ErrcodeInvalidAppID      = 40013
	ErrcodeButtonCount       = 40016
	ErrcodeButtonType        = 40017
	ErrcodeButtonName        = 40018
	ErrcodeButtonKey         = 40019
	ErrcodeButtonURL         = 40020
	ErrcodeSubButtonLevel    = 40022
	ErrcodeSubButtonCount    = 40023
	ErrcodeSubButtonType     = 40024
	ErrcodeSubButtonName     = 40025
	ErrcodeSubButtonKey      = 40026
	ErrcodeSubButtonURL      = 40027
	ErrcodeInvalidTemplateID = 40037
	ErrcodeInvalidURL        = 40048
	ErrcodeInvalidSecret     = 40125
	ErrcodeMissingToken      = 41001
	ErrcodeMissingAppID      = 41002
	ErrcodeMissingSecret     = 41004
	ErrcodeTokenExpired      = 42001
	ErrcodeRequireGET        = 43001
	ErrcodeRequirePOST       = 43002
	ErrcodeRequireSubscribe  = 43004
	ErrcodeEmptyPostData     = 44002
	ErrcodeEmptyText         = 44004
	ErrcodeContentTooLong    = 45002
	ErrcodeOutOfWindow       = 45015 // 48 hours since the resident's last message, or unsubscribed
	ErrcodeOutOfQuota        = 45047 // too many customer-service messages since the last one
	ErrcodeMenuNotExist      = 46003
	ErrcodeDataFormat        = 47001
)

var errmsgs = map[int]string{
	ErrcodeSystemBusy:        "system error",
	ErrcodeInvalidCredential: "invalid credential, access_token is invalid or not latest",
	ErrcodeInvalidGrantType:  "invalid grant_type",
	ErrcodeInvalidOpenID:     "invalid openid",
	ErrcodeInvalidMediaID:    "invalid media_id",
	ErrcodeInvalidMsgType:    "invalid message type",
	ErrcodeInvalidAppID:      "invalid appid",
	ErrcodeButtonCount:       "invalid button size",
	ErrcodeButtonType:        "invalid button type",
	ErrcodeButtonName:        "invalid button name size",
	ErrcodeButtonKey:         "invalid button key size",
	ErrcodeButtonURL:         "invalid button url size",
	ErrcodeSubButtonLevel:    "invalid sub button level",
	ErrcodeSubButtonCount:    "invalid sub button size",
	ErrcodeSubButtonType:     "invalid sub button type",
	ErrcodeSubButtonName:     "invalid sub button name size",
	ErrcodeSubButtonKey:      "invalid sub button key size",
	ErrcodeSubButtonURL:      "invalid sub button url size",
	ErrcodeInvalidTemplateID: "invalid template_id",
	ErrcodeInvalidURL:        "invalid url",
	ErrcodeInvalidSecret:     "invalid appsecret",
	ErrcodeMissingToken:      "access_token missing",
	ErrcodeMissingAppID:      "appid missing",
	ErrcodeMissingSecret:     "appsecret missing",
	ErrcodeTokenExpired:      "access_token expired",
	ErrcodeRequireGET:        "require GET method",
	ErrcodeRequirePOST:       "require POST method",
	ErrcodeRequireSubscribe:  "require subscribe",
	ErrcodeEmptyPostData:     "empty post data",
	ErrcodeEmptyText:         "empty content",
	ErrcodeContentTooLong:    "content size out of limit",
	ErrcodeOutOfWindow:       "response out of time limit or subscription is canceled",
	ErrcodeOutOfQuota:        "out of response count limit",
	ErrcodeMenuNotExist:      "menu no exist",
	ErrcodeDataFormat:        "data format error",
}

// Config sets up a Fake. Zero values take the defaults noted.
type Config struct {
	// AppID and Secret are the only credentials /cgi-bin/token accepts.
	// Defaults: "wxfakeappid00001" and "fake-secret".
	AppID, Secret string
	// Now is the fake's clock, for token expiry and the 48-hour window.
	// Default time.Now. Pass a fake clock's Now to move time in tests.
	Now func() time.Time
	// TokenTTL is the issued tokens' lifetime (expires_in). Default 7200 s.
	TokenTTL time.Duration
	// OldTokenGrace is how long a token stays valid after a newer one is
	// issued; WeChat keeps the old one for about five minutes, which is why
	// two processes refreshing independently keep breaking each other.
	// Default 5 minutes; negative means the old token dies at once.
	OldTokenGrace time.Duration
	// ReportExpired42001 answers 42001 instead of 40001 for a token that has
	// passed its expiry (by the clock or ExpireTokens). Unknown and revoked
	// tokens always get 40001.
	ReportExpired42001 bool
	// Window is how long after a resident's last message customer-service
	// messages are allowed. Default 48 h.
	Window time.Duration
	// WindowLimit is how many customer-service messages may follow one
	// resident message before 45047. Default 5.
	WindowLimit int
	// MaxTextBytes, when positive, answers 45002 for longer text messages.
	// WeChat does not publish the limit, so none is assumed by default.
	MaxTextBytes int
	// TemplateIDs, when non-empty, are the only template ids accepted.
	TemplateIDs []string
}

// Call is one request as the fake received and answered it.
type Call struct {
	Method string
	Path   string
	Query  url.Values
	// Body is the JSON-decoded request body (maps, slices, float64,
	// strings), nil when empty or not JSON; RawBody is the bytes.
	Body    any
	RawBody []byte
	Time    time.Time
	// Status is the HTTP status answered; 0 when the client went away while
	// the call was held.
	Status int
	// Errcode is the errcode answered (0 for success).
	Errcode int
}

// CustomMessage is a customer-service message WeChat accepted.
type CustomMessage struct {
	ToUser  string
	MsgType string // text or image
	Content string // text
	MediaID string // image
	Time    time.Time
}

// TemplateValue is one field of a template message.
type TemplateValue struct {
	Value string `json:"value"`
	Color string `json:"color,omitempty"`
}

// TemplateMessage is a template message WeChat accepted.
type TemplateMessage struct {
	ToUser     string
	TemplateID string
	URL        string
	Data       map[string]TemplateValue
	MsgID      int64
	Time       time.Time
}

// Button is one menu button, in WeChat's JSON shape.
type Button struct {
	Type       string   `json:"type,omitempty"`
	Name       string   `json:"name"`
	Key        string   `json:"key,omitempty"`
	URL        string   `json:"url,omitempty"`
	SubButtons []Button `json:"sub_button,omitempty"`
}

// Menu is the account's custom menu.
type Menu struct {
	Buttons []Button `json:"button"`
}

// TokenRequest is one call to /cgi-bin/token. The secret itself is not
// kept, only whether it was right.
type TokenRequest struct {
	AppID     string
	GrantType string
	SecretOK  bool
	Time      time.Time
	Errcode   int
	Token     string // issued token, "" on error
}

type tokenState struct {
	expires    time.Time
	supersede  time.Time // zero until a newer token is issued
	revoked    bool
	forceExpir bool
}

type window struct {
	last time.Time
	sent int
}

type fault struct {
	errcode int
	status  int // HTTP status; 0 means answer 200 with errcode
	left    int
	skip    int // calls let through before the fault applies
}

// Hold keeps calls to one path waiting until released; see Fake.Hold.
type Hold struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// Arrived receives once per call as it starts waiting, so a test knows a
// request is in flight without sleeping. It buffers 64 arrivals; later ones
// are not signalled if nobody reads.
func (h *Hold) Arrived() <-chan struct{} { return h.arrived }

// Release lets every waiting and future call through. Safe to call twice.
func (h *Hold) Release() { h.once.Do(func() { close(h.release) }) }

// Fake is a running fake of the WeChat API. Its methods are safe for
// concurrent use.
type Fake struct {
	cfg Config
	srv *httptest.Server

	mu        sync.Mutex
	tokens    map[string]*tokenState
	tokenSeq  int
	windows   map[string]*window
	unsub     map[string]bool
	faults    map[string][]*fault
	holds     map[string]*Hold
	menu      *Menu
	msgSeq    int64
	calls     []Call
	custom    []CustomMessage
	templates []TemplateMessage
	tokenReqs []TokenRequest
}

// New starts a fake API server. Close it when done (t.Cleanup(f.Close)).
func New(cfg Config) *Fake {
	if cfg.AppID == "" {
		cfg.AppID = "wxfakeappid00001"
	}
	if cfg.Secret == "" {
		cfg.Secret = "fake-secret"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 7200 * time.Second
	}
	if cfg.OldTokenGrace == 0 {
		cfg.OldTokenGrace = 5 * time.Minute
	}
	if cfg.Window <= 0 {
		cfg.Window = 48 * time.Hour
	}
	if cfg.WindowLimit <= 0 {
		cfg.WindowLimit = 5
	}
	f := &Fake{
		cfg:     cfg,
		tokens:  map[string]*tokenState{},
		windows: map[string]*window{},
		unsub:   map[string]bool{},
		faults:  map[string][]*fault{},
		holds:   map[string]*Hold{},
		msgSeq:  200163835,
	}
	f.srv = httptest.NewServer(f)
	return f
}

// URL is the base URL to give the code under test instead of
// https://api.weixin.qq.com.
func (f *Fake) URL() string { return f.srv.URL }

// Client is an HTTP client for the fake's server.
func (f *Fake) Client() *http.Client { return f.srv.Client() }

// AppID is the only appid /cgi-bin/token accepts.
func (f *Fake) AppID() string { return f.cfg.AppID }

// Secret is the only secret /cgi-bin/token accepts.
func (f *Fake) Secret() string { return f.cfg.Secret }

// Close releases held calls and shuts the server down.
func (f *Fake) Close() {
	f.mu.Lock()
	for _, h := range f.holds {
		h.Release()
	}
	f.mu.Unlock()
	f.srv.Close()
}

// Touch records that openid sent the account a message at t: it opens a new
// 48-hour window with a fresh quota, and a resident who writes is
// subscribed.
func (f *Fake) Touch(openid string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.windows[openid] = &window{last: t}
	delete(f.unsub, openid)
}

// Unsubscribe marks openid as having unfollowed: customer-service messages
// answer 45015 and template messages 43004 until the next Touch.
func (f *Fake) Unsubscribe(openid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unsub[openid] = true
}

// IssueToken mints a valid access token without a /cgi-bin/token call, for
// tests that start with a token already cached.
func (f *Fake) IssueToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issueLocked()
}

// RevokeTokens invalidates every token issued so far, as WeChat does when
// the secret is reset or another process fetched a token long ago: further
// calls with them answer 40001.
func (f *Fake) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.tokens {
		s.revoked = true
	}
}

// ExpireTokens makes every token issued so far count as expired, without
// moving the clock: 40001, or 42001 with Config.ReportExpired42001.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.tokens {
		s.forceExpir = true
	}
}

// FailNext answers the next n calls to path with errcode (HTTP 200, as
// WeChat does) without processing them: nothing is sent, no quota used.
func (f *Fake) FailNext(path string, errcode, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = append(f.faults[path], &fault{errcode: errcode, left: n})
}

// FailAfter lets the next skip calls to path through, then answers n
// calls with errcode: a failure in the middle of a multi-part send.
func (f *Fake) FailAfter(path string, skip, errcode, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = append(f.faults[path], &fault{errcode: errcode, left: n, skip: skip})
}

// FailNextHTTP answers the next n calls to path with an HTTP status and a
// non-JSON body, as a proxy or gateway in between would.
func (f *Fake) FailNextHTTP(path string, status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = append(f.faults[path], &fault{status: status, left: n})
}

// Hold makes calls to path wait, before any check runs, until the returned
// Hold is released (or the client gives up). Use it to test timeouts and
// what happens while a send is in flight, without sleeping.
func (f *Fake) Hold(path string) *Hold {
	h := &Hold{arrived: make(chan struct{}, 64), release: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.holds[path]; old != nil {
		old.Release()
	}
	f.holds[path] = h
	return h
}

// Calls returns every request received, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	copy(out, f.calls)
	return out
}

// CustomMessages returns the customer-service messages WeChat accepted:
// what residents would have seen. Rejected ones are in Calls.
func (f *Fake) CustomMessages() []CustomMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]CustomMessage(nil), f.custom...)
}

// TemplateMessages returns the template messages WeChat accepted.
func (f *Fake) TemplateMessages() []TemplateMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TemplateMessage(nil), f.templates...)
}

// Menu returns the menu last created, or nil.
func (f *Fake) Menu() *Menu {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.menu == nil {
		return nil
	}
	m := cloneMenu(*f.menu)
	return &m
}

// TokenRequests returns every /cgi-bin/token call.
func (f *Fake) TokenRequests() []TokenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TokenRequest(nil), f.tokenReqs...)
}

func cloneMenu(m Menu) Menu {
	out := Menu{Buttons: make([]Button, len(m.Buttons))}
	for i, b := range m.Buttons {
		out.Buttons[i] = b
		out.Buttons[i].SubButtons = append([]Button(nil), b.SubButtons...)
	}
	return out
}

// maxRequestBody bounds what the fake reads; WeChat's limits are far lower
// for these calls.
const maxRequestBody = 1 << 20

// ServeHTTP implements the API. New already serves it; it is exported so a
// test can mount the fake in its own server or mux.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), RawBody: raw, Time: f.cfg.Now()}
	if len(raw) > 0 {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			call.Body = v
		}
	}

	f.mu.Lock()
	h := f.holds[r.URL.Path]
	f.mu.Unlock()
	if h != nil {
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
			f.record(call)
			return
		}
	}

	// Decide and record under the lock, write after it, so a slow client
	// cannot stall other calls.
	f.mu.Lock()
	call.Time = f.cfg.Now()
	status, resp := f.handleLocked(r, raw)
	call.Status = status
	if m, ok := resp.(map[string]any); ok {
		if code, ok := m["errcode"].(int); ok {
			call.Errcode = code
		}
	}
	f.calls = append(f.calls, call)
	f.mu.Unlock()

	if status != http.StatusOK {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body>%d %s</body></html>", status, http.StatusText(status))
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	json.NewEncoder(w).Encode(resp)
}

func (f *Fake) record(c Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// errResp builds WeChat's error body. The rid suffix mimics the real
// errmsg so nobody is tempted to match errmsg text.
func errResp(code int) map[string]any {
	msg := errmsgs[code]
	if msg == "" {
		msg = "error"
	}
	var b [6]byte
	rand.Read(b[:])
	return map[string]any{"errcode": code, "errmsg": msg + " rid: " + hex.EncodeToString(b[:])}
}

func okResp() map[string]any { return map[string]any{"errcode": 0, "errmsg": "ok"} }

// handleLocked answers one request; f.mu is held.
func (f *Fake) handleLocked(r *http.Request, raw []byte) (int, any) {
	path := r.URL.Path
	switch path {
	case PathToken, PathCustomSend, PathTemplateSend, PathMenuCreate, PathMenuGet:
	default:
		return http.StatusNotFound, nil
	}
	if fs := f.faults[path]; len(fs) > 0 && fs[0].skip > 0 {
		fs[0].skip--
	} else if len(fs) > 0 {
		ft := fs[0]
		ft.left--
		if ft.left <= 0 {
			f.faults[path] = fs[1:]
		}
		if ft.status != 0 {
			return ft.status, nil
		}
		return http.StatusOK, errResp(ft.errcode)
	}

	q := r.URL.Query()
	wantPOST := path != PathToken && path != PathMenuGet
	if wantPOST && r.Method != http.MethodPost {
		return http.StatusOK, errResp(ErrcodeRequirePOST)
	}
	if !wantPOST && r.Method != http.MethodGet {
		return http.StatusOK, errResp(ErrcodeRequireGET)
	}
	if path == PathToken {
		return http.StatusOK, f.tokenLocked(q)
	}
	if code := f.checkTokenLocked(q.Get("access_token")); code != 0 {
		return http.StatusOK, errResp(code)
	}
	if wantPOST && len(bytes.TrimSpace(raw)) == 0 {
		return http.StatusOK, errResp(ErrcodeEmptyPostData)
	}
	switch path {
	case PathCustomSend:
		return http.StatusOK, f.customLocked(raw)
	case PathTemplateSend:
		return http.StatusOK, f.templateLocked(raw)
	case PathMenuCreate:
		return http.StatusOK, f.menuCreateLocked(raw)
	default: // PathMenuGet
		if f.menu == nil {
			return http.StatusOK, errResp(ErrcodeMenuNotExist)
		}
		return http.StatusOK, map[string]any{"menu": cloneMenu(*f.menu)}
	}
}

func (f *Fake) issueLocked() string {
	now := f.cfg.Now()
	for _, s := range f.tokens {
		if s.supersede.IsZero() {
			s.supersede = now.Add(f.cfg.OldTokenGrace)
		}
	}
	f.tokenSeq++
	var b [12]byte
	rand.Read(b[:])
	tok := fmt.Sprintf("FAKE%d_%s", f.tokenSeq, hex.EncodeToString(b[:]))
	f.tokens[tok] = &tokenState{expires: now.Add(f.cfg.TokenTTL)}
	return tok
}

func (f *Fake) tokenLocked(q url.Values) any {
	req := TokenRequest{AppID: q.Get("appid"), GrantType: q.Get("grant_type"), SecretOK: q.Get("secret") == f.cfg.Secret, Time: f.cfg.Now()}
	var code int
	switch {
	case req.GrantType != "client_credential":
		code = ErrcodeInvalidGrantType
	case req.AppID == "":
		code = ErrcodeMissingAppID
	case req.AppID != f.cfg.AppID:
		code = ErrcodeInvalidAppID
	case q.Get("secret") == "":
		code = ErrcodeMissingSecret
	case !req.SecretOK:
		code = ErrcodeInvalidSecret
	}
	req.Errcode = code
	if code != 0 {
		f.tokenReqs = append(f.tokenReqs, req)
		return errResp(code)
	}
	req.Token = f.issueLocked()
	f.tokenReqs = append(f.tokenReqs, req)
	return map[string]any{"access_token": req.Token, "expires_in": int(f.cfg.TokenTTL / time.Second)}
}

func (f *Fake) checkTokenLocked(tok string) int {
	if tok == "" {
		return ErrcodeMissingToken
	}
	s := f.tokens[tok]
	now := f.cfg.Now()
	switch {
	case s == nil || s.revoked:
		return ErrcodeInvalidCredential
	case s.forceExpir || !now.Before(s.expires):
		if f.cfg.ReportExpired42001 {
			return ErrcodeTokenExpired
		}
		return ErrcodeInvalidCredential
	case !s.supersede.IsZero() && !now.Before(s.supersede):
		return ErrcodeInvalidCredential
	}
	return 0
}

func (f *Fake) customLocked(raw []byte) any {
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content *string `json:"content"`
		} `json:"text"`
		Image *struct {
			MediaID string `json:"media_id"`
		} `json:"image"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return errResp(ErrcodeDataFormat)
	}
	if req.ToUser == "" {
		return errResp(ErrcodeInvalidOpenID)
	}
	msg := CustomMessage{ToUser: req.ToUser, MsgType: req.MsgType}
	// Only the types linli sends are accepted, so a test notices if code
	// starts sending something nobody planned for.
	switch req.MsgType {
	case "text":
		if req.Text == nil || req.Text.Content == nil {
			return errResp(ErrcodeDataFormat)
		}
		if *req.Text.Content == "" {
			return errResp(ErrcodeEmptyText)
		}
		if f.cfg.MaxTextBytes > 0 && len(*req.Text.Content) > f.cfg.MaxTextBytes {
			return errResp(ErrcodeContentTooLong)
		}
		msg.Content = *req.Text.Content
	case "image":
		if req.Image == nil {
			return errResp(ErrcodeDataFormat)
		}
		if req.Image.MediaID == "" {
			return errResp(ErrcodeInvalidMediaID)
		}
		msg.MediaID = req.Image.MediaID
	default:
		return errResp(ErrcodeInvalidMsgType)
	}
	now := f.cfg.Now()
	win := f.windows[req.ToUser]
	if win == nil || f.unsub[req.ToUser] || now.Sub(win.last) > f.cfg.Window {
		return errResp(ErrcodeOutOfWindow)
	}
	if win.sent >= f.cfg.WindowLimit {
		return errResp(ErrcodeOutOfQuota)
	}
	win.sent++
	msg.Time = now
	f.custom = append(f.custom, msg)
	return okResp()
}

func (f *Fake) templateLocked(raw []byte) any {
	var req struct {
		ToUser     string                     `json:"touser"`
		TemplateID string                     `json:"template_id"`
		URL        string                     `json:"url"`
		Data       map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return errResp(ErrcodeDataFormat)
	}
	if req.ToUser == "" {
		return errResp(ErrcodeInvalidOpenID)
	}
	if req.TemplateID == "" || len(f.cfg.TemplateIDs) > 0 && !contains(f.cfg.TemplateIDs, req.TemplateID) {
		return errResp(ErrcodeInvalidTemplateID)
	}
	if req.URL != "" && !isHTTPURL(req.URL) {
		return errResp(ErrcodeInvalidURL)
	}
	if len(req.Data) == 0 {
		return errResp(ErrcodeDataFormat)
	}
	data := make(map[string]TemplateValue, len(req.Data))
	for k, v := range req.Data {
		var field struct {
			Value *string `json:"value"`
			Color string  `json:"color"`
		}
		if err := json.Unmarshal(v, &field); err != nil || field.Value == nil {
			return errResp(ErrcodeDataFormat)
		}
		data[k] = TemplateValue{Value: *field.Value, Color: field.Color}
	}
	if f.unsub[req.ToUser] {
		return errResp(ErrcodeRequireSubscribe)
	}
	f.msgSeq++
	f.templates = append(f.templates, TemplateMessage{
		ToUser: req.ToUser, TemplateID: req.TemplateID, URL: req.URL, Data: data, MsgID: f.msgSeq, Time: f.cfg.Now(),
	})
	resp := okResp()
	resp["msgid"] = f.msgSeq
	return resp
}

// Menu limits from the custom menu documentation: 1–3 top-level buttons,
// 1–5 sub-buttons each, names up to 16 bytes (top) and 60 bytes (sub), keys
// up to 128 bytes, URLs up to 1024 bytes.
const (
	maxTopButtons  = 3
	maxSubButtons  = 5
	maxTopNameSize = 16
	maxSubNameSize = 60
	maxKeySize     = 128
	maxURLSize     = 1024
)

// keyTypes are the button types that push an event carrying the key.
var keyTypes = map[string]bool{
	"click": true, "scancode_push": true, "scancode_waitmsg": true, "pic_sysphoto": true,
	"pic_photo_or_album": true, "pic_weixin": true, "location_select": true,
}

func (f *Fake) menuCreateLocked(raw []byte) any {
	var m struct {
		Buttons []struct {
			Button
			SubButtons []json.RawMessage `json:"sub_button"`
		} `json:"button"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return errResp(ErrcodeDataFormat)
	}
	if len(m.Buttons) == 0 || len(m.Buttons) > maxTopButtons {
		return errResp(ErrcodeButtonCount)
	}
	menu := Menu{}
	for _, top := range m.Buttons {
		b := top.Button
		if b.Name == "" || len(b.Name) > maxTopNameSize {
			return errResp(ErrcodeButtonName)
		}
		if len(top.SubButtons) == 0 {
			if code := checkLeaf(b, false); code != 0 {
				return errResp(code)
			}
			menu.Buttons = append(menu.Buttons, Button{Type: b.Type, Name: b.Name, Key: b.Key, URL: b.URL})
			continue
		}
		if len(top.SubButtons) > maxSubButtons {
			return errResp(ErrcodeSubButtonCount)
		}
		parent := Button{Name: b.Name}
		for _, rawSub := range top.SubButtons {
			var sub struct {
				Button
				SubButtons []json.RawMessage `json:"sub_button"`
			}
			if err := json.Unmarshal(rawSub, &sub); err != nil {
				return errResp(ErrcodeDataFormat)
			}
			if len(sub.SubButtons) > 0 {
				return errResp(ErrcodeSubButtonLevel)
			}
			if sub.Name == "" || len(sub.Name) > maxSubNameSize {
				return errResp(ErrcodeSubButtonName)
			}
			if code := checkLeaf(sub.Button, true); code != 0 {
				return errResp(code)
			}
			parent.SubButtons = append(parent.SubButtons, Button{Type: sub.Type, Name: sub.Name, Key: sub.Key, URL: sub.URL})
		}
		menu.Buttons = append(menu.Buttons, parent)
	}
	f.menu = &menu
	return okResp()
}

// checkLeaf validates a button that acts (has no sub-buttons). Only click-
// like and view buttons are accepted: miniprogram and media buttons need
// data this fake does not model.
func checkLeaf(b Button, sub bool) int {
	typeCode, keyCode, urlCode := ErrcodeButtonType, ErrcodeButtonKey, ErrcodeButtonURL
	if sub {
		typeCode, keyCode, urlCode = ErrcodeSubButtonType, ErrcodeSubButtonKey, ErrcodeSubButtonURL
	}
	switch {
	case keyTypes[b.Type]:
		if b.Key == "" || len(b.Key) > maxKeySize {
			return keyCode
		}
	case b.Type == "view":
		if b.URL == "" || len(b.URL) > maxURLSize {
			return urlCode
		}
		if !isHTTPURL(b.URL) {
			return ErrcodeInvalidURL
		}
	default:
		return typeCode
	}
	return 0
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// String summarises the fake's state for test failure messages.
func (f *Fake) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "wechatfake: %d calls, %d custom, %d template, %d tokens", len(f.calls), len(f.custom), len(f.templates), len(f.tokens))
	for _, c := range f.calls {
		b.WriteString("\n  " + c.Method + " " + c.Path + " -> " + strconv.Itoa(c.Status) + "/" + strconv.Itoa(c.Errcode))
	}
	return b.String()
}
