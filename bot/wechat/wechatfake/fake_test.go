package wechatfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot/wechat/wechatfake"
)

// clock is a settable clock for the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFake(t *testing.T, cfg wechatfake.Config) (*wechatfake.Fake, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2024, 4, 26, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	f := wechatfake.New(cfg)
	t.Cleanup(f.Close)
	return f, clk
}

// do sends one request and decodes the JSON answer.
func do(t *testing.T, f *wechatfake.Fake, method, path string, q url.Values, body string) map[string]any {
	t.Helper()
	resp, err := doRaw(context.Background(), f, method, path, q, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: status %d, body %q", method, path, resp.StatusCode, raw)
	}
	return m
}

func doRaw(ctx context.Context, f *wechatfake.Fake, method, path string, q url.Values, body string) (*http.Response, error) {
	u := f.URL() + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	return f.Client().Do(req)
}

func errcode(m map[string]any) int {
	if v, ok := m["errcode"].(float64); ok {
		return int(v)
	}
	return 0
}

func tokenQuery(f *wechatfake.Fake) url.Values {
	return url.Values{"grant_type": {"client_credential"}, "appid": {f.AppID()}, "secret": {f.Secret()}}
}

func fetchToken(t *testing.T, f *wechatfake.Fake) string {
	t.Helper()
	m := do(t, f, "GET", wechatfake.PathToken, tokenQuery(f), "")
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("no token: %v", m)
	}
	return tok
}

func at(tok string) url.Values { return url.Values{"access_token": {tok}} }

const textTo = `{"touser":"%s","msgtype":"text","text":{"content":"%s"}}`

func sendText(t *testing.T, f *wechatfake.Fake, tok, openid, text string) int {
	t.Helper()
	return errcode(do(t, f, "POST", wechatfake.PathCustomSend, at(tok), fmt.Sprintf(textTo, openid, text)))
}

func TestToken(t *testing.T) {
	f, _ := newFake(t, wechatfake.Config{AppID: "wxapp", Secret: "s3cret"})
	m := do(t, f, "GET", wechatfake.PathToken, tokenQuery(f), "")
	if m["expires_in"].(float64) != 7200 || m["access_token"] == "" || errcode(m) != 0 {
		t.Fatalf("token answer %v", m)
	}
	bad := map[string]struct {
		q    url.Values
		code int
	}{
		"wrong secret": {url.Values{"grant_type": {"client_credential"}, "appid": {"wxapp"}, "secret": {"nope"}}, wechatfake.ErrcodeInvalidSecret},
		"no secret":    {url.Values{"grant_type": {"client_credential"}, "appid": {"wxapp"}}, wechatfake.ErrcodeMissingSecret},
		"wrong appid":  {url.Values{"grant_type": {"client_credential"}, "appid": {"wxother"}, "secret": {"s3cret"}}, wechatfake.ErrcodeInvalidAppID},
		"no appid":     {url.Values{"grant_type": {"client_credential"}, "secret": {"s3cret"}}, wechatfake.ErrcodeMissingAppID},
		"wrong grant":  {url.Values{"grant_type": {"password"}, "appid": {"wxapp"}, "secret": {"s3cret"}}, wechatfake.ErrcodeInvalidGrantType},
	}
	for name, tc := range bad {
		if got := errcode(do(t, f, "GET", wechatfake.PathToken, tc.q, "")); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", name, got, tc.code)
		}
	}
	if got := errcode(do(t, f, "POST", wechatfake.PathToken, tokenQuery(f), "")); got != wechatfake.ErrcodeRequireGET {
		t.Errorf("POST token: %d", got)
	}
	reqs := f.TokenRequests()
	if len(reqs) != 6 {
		t.Fatalf("%d token requests, want 6 (the POST is refused before it counts)", len(reqs))
	}
	if !reqs[0].SecretOK || reqs[0].Token == "" || reqs[0].AppID != "wxapp" || reqs[0].Errcode != 0 {
		t.Fatalf("first request %+v", reqs[0])
	}
	for _, r := range reqs[1:] {
		if r.Errcode == 0 || r.Token != "" {
			t.Fatalf("failed request recorded as %+v", r)
		}
	}
}

func TestTokenValidity(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{})
	f.Touch("o1", clk.Now())
	tok := fetchToken(t, f)
	if code := sendText(t, f, tok, "o1", "hi"); code != 0 {
		t.Fatalf("fresh token: %d", code)
	}
	if code := errcode(do(t, f, "POST", wechatfake.PathCustomSend, nil, fmt.Sprintf(textTo, "o1", "x"))); code != wechatfake.ErrcodeMissingToken {
		t.Fatalf("no token: %d", code)
	}
	if code := sendText(t, f, "made-up", "o1", "hi"); code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("unknown token: %d", code)
	}
	f.RevokeTokens()
	if code := sendText(t, f, tok, "o1", "hi"); code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("revoked token: %d", code)
	}

	tok = fetchToken(t, f)
	clk.Add(7200 * time.Second)
	if code := sendText(t, f, tok, "o1", "hi"); code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("expired token, default: %d", code)
	}
}

func TestTokenExpiredAs42001(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{ReportExpired42001: true})
	f.Touch("o1", clk.Now())
	tok := fetchToken(t, f)
	clk.Add(7199 * time.Second)
	if code := sendText(t, f, tok, "o1", "hi"); code != 0 {
		t.Fatalf("token one second before expiry: %d", code)
	}
	clk.Add(time.Second)
	if code := sendText(t, f, tok, "o1", "hi"); code != wechatfake.ErrcodeTokenExpired {
		t.Fatalf("expired: %d", code)
	}
	tok2 := f.IssueToken()
	f.ExpireTokens()
	if code := sendText(t, f, tok2, "o1", "hi"); code != wechatfake.ErrcodeTokenExpired {
		t.Fatalf("ExpireTokens: %d", code)
	}
	f.RevokeTokens()
	if code := sendText(t, f, tok2, "o1", "hi"); code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("revoked beats expired: %d", code)
	}
}

func TestOldTokenGrace(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{WindowLimit: 100})
	f.Touch("o1", clk.Now())
	old := fetchToken(t, f)
	newer := fetchToken(t, f)
	clk.Add(5*time.Minute - time.Second)
	if code := sendText(t, f, old, "o1", "hi"); code != 0 {
		t.Fatalf("old token inside grace: %d", code)
	}
	clk.Add(time.Second)
	if code := sendText(t, f, old, "o1", "hi"); code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("old token after grace: %d", code)
	}
	if code := sendText(t, f, newer, "o1", "hi"); code != 0 {
		t.Fatalf("newer token: %d", code)
	}

	g, _ := newFake(t, wechatfake.Config{OldTokenGrace: -1})
	g.Touch("o1", time.Now())
	a := g.IssueToken()
	g.IssueToken()
	if code := sendText(t, g, a, "o1", "hi"); code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("no grace: %d", code)
	}
}

func TestCustomMessageWindow(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{})
	tok := f.IssueToken()
	if code := sendText(t, f, tok, "o1", "hi"); code != wechatfake.ErrcodeOutOfWindow {
		t.Fatalf("never wrote: %d", code)
	}
	f.Touch("o1", clk.Now())
	for i := 0; i < 5; i++ {
		if code := sendText(t, f, tok, "o1", fmt.Sprintf("m%d", i)); code != 0 {
			t.Fatalf("message %d: %d", i, code)
		}
	}
	if code := sendText(t, f, tok, "o1", "m5"); code != wechatfake.ErrcodeOutOfQuota {
		t.Fatalf("sixth message: %d", code)
	}
	// A new message from the resident opens a new quota.
	f.Touch("o1", clk.Now())
	if code := sendText(t, f, tok, "o1", "again"); code != 0 {
		t.Fatalf("after Touch: %d", code)
	}
	clk.Add(48 * time.Hour)
	tok = f.IssueToken() // the old one expired long ago
	if code := sendText(t, f, tok, "o1", "at 48h"); code != 0 {
		t.Fatalf("exactly 48 h: %d", code)
	}
	clk.Add(time.Second)
	if code := sendText(t, f, tok, "o1", "late"); code != wechatfake.ErrcodeOutOfWindow {
		t.Fatalf("after 48 h: %d", code)
	}
	f.Touch("o1", clk.Now())
	f.Unsubscribe("o1")
	if code := sendText(t, f, tok, "o1", "gone"); code != wechatfake.ErrcodeOutOfWindow {
		t.Fatalf("unsubscribed: %d", code)
	}

	got := f.CustomMessages()
	if len(got) != 7 || got[0].Content != "m0" || got[0].ToUser != "o1" || got[0].MsgType != "text" || !got[0].Time.Equal(clk.Now().Add(-48*time.Hour-time.Second)) {
		t.Fatalf("CustomMessages %+v", got)
	}
}

func TestCustomMessageWindowLimitConfigurable(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{WindowLimit: 1, Window: time.Hour})
	tok := f.IssueToken()
	f.Touch("o1", clk.Now())
	if sendText(t, f, tok, "o1", "a") != 0 || sendText(t, f, tok, "o1", "b") != wechatfake.ErrcodeOutOfQuota {
		t.Fatal("limit 1")
	}
	f.Touch("o1", clk.Now())
	clk.Add(time.Hour + time.Second)
	if sendText(t, f, tok, "o1", "c") != wechatfake.ErrcodeOutOfWindow {
		t.Fatal("1 h window")
	}
}

func TestCustomMessageShape(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{WindowLimit: 100, MaxTextBytes: 10})
	tok := f.IssueToken()
	f.Touch("o1", clk.Now())
	cases := map[string]struct {
		body string
		code int
	}{
		"image":          {`{"touser":"o1","msgtype":"image","image":{"media_id":"MEDIA"}}`, 0},
		"not json":       {`{"touser":`, wechatfake.ErrcodeDataFormat},
		"no touser":      {`{"msgtype":"text","text":{"content":"x"}}`, wechatfake.ErrcodeInvalidOpenID},
		"video":          {`{"touser":"o1","msgtype":"video","video":{"media_id":"M"}}`, wechatfake.ErrcodeInvalidMsgType},
		"no text object": {`{"touser":"o1","msgtype":"text","content":"x"}`, wechatfake.ErrcodeDataFormat},
		"empty text":     {`{"touser":"o1","msgtype":"text","text":{"content":""}}`, wechatfake.ErrcodeEmptyText},
		"text too long":  {`{"touser":"o1","msgtype":"text","text":{"content":"12345678901"}}`, wechatfake.ErrcodeContentTooLong},
		"no media id":    {`{"touser":"o1","msgtype":"image","image":{}}`, wechatfake.ErrcodeInvalidMediaID},
		"empty body":     {``, wechatfake.ErrcodeEmptyPostData},
	}
	for name, tc := range cases {
		if got := errcode(do(t, f, "POST", wechatfake.PathCustomSend, at(tok), tc.body)); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", name, got, tc.code)
		}
	}
	if got := errcode(do(t, f, "GET", wechatfake.PathCustomSend, at(tok), "")); got != wechatfake.ErrcodeRequirePOST {
		t.Errorf("GET: %d", got)
	}
	msgs := f.CustomMessages()
	if len(msgs) != 1 || msgs[0].MsgType != "image" || msgs[0].MediaID != "MEDIA" {
		t.Fatalf("only the image was delivered, got %+v", msgs)
	}
}

func TestTemplateMessage(t *testing.T) {
	f, _ := newFake(t, wechatfake.Config{TemplateIDs: []string{"TPL_TICKET"}})
	tok := f.IssueToken()
	good := `{"touser":"o1","template_id":"TPL_TICKET","url":"https://example.org/t/42","data":{"first":{"value":"您的报修有新进展","color":"#173177"},"keyword1":{"value":"R-0042"}}}`
	m := do(t, f, "POST", wechatfake.PathTemplateSend, at(tok), good)
	if errcode(m) != 0 || m["msgid"].(float64) == 0 {
		t.Fatalf("template: %v", m)
	}
	cases := map[string]struct {
		body string
		code int
	}{
		"no touser":        {`{"template_id":"TPL_TICKET","data":{"a":{"value":"x"}}}`, wechatfake.ErrcodeInvalidOpenID},
		"no template":      {`{"touser":"o1","data":{"a":{"value":"x"}}}`, wechatfake.ErrcodeInvalidTemplateID},
		"other template":   {`{"touser":"o1","template_id":"TPL_OTHER","data":{"a":{"value":"x"}}}`, wechatfake.ErrcodeInvalidTemplateID},
		"no data":          {`{"touser":"o1","template_id":"TPL_TICKET"}`, wechatfake.ErrcodeDataFormat},
		"flat data":        {`{"touser":"o1","template_id":"TPL_TICKET","data":{"a":"x"}}`, wechatfake.ErrcodeDataFormat},
		"value not string": {`{"touser":"o1","template_id":"TPL_TICKET","data":{"a":{"value":3}}}`, wechatfake.ErrcodeDataFormat},
		"bad url":          {`{"touser":"o1","template_id":"TPL_TICKET","url":"javascript:alert(1)","data":{"a":{"value":"x"}}}`, wechatfake.ErrcodeInvalidURL},
	}
	for name, tc := range cases {
		if got := errcode(do(t, f, "POST", wechatfake.PathTemplateSend, at(tok), tc.body)); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", name, got, tc.code)
		}
	}
	// Templates need no 48-hour window, but do need a follower.
	f.Unsubscribe("o1")
	if got := errcode(do(t, f, "POST", wechatfake.PathTemplateSend, at(tok), good)); got != wechatfake.ErrcodeRequireSubscribe {
		t.Errorf("unsubscribed: %d", got)
	}
	tm := f.TemplateMessages()
	if len(tm) != 1 || tm[0].TemplateID != "TPL_TICKET" || tm[0].Data["keyword1"].Value != "R-0042" || tm[0].Data["first"].Color != "#173177" || tm[0].MsgID != int64(m["msgid"].(float64)) {
		t.Fatalf("TemplateMessages %+v", tm)
	}
}

func TestMenu(t *testing.T) {
	f, _ := newFake(t, wechatfake.Config{})
	tok := f.IssueToken()
	if got := errcode(do(t, f, "GET", wechatfake.PathMenuGet, at(tok), "")); got != wechatfake.ErrcodeMenuNotExist {
		t.Fatalf("menu before create: %d", got)
	}
	good := `{"button":[
		{"type":"click","name":"我要报修","key":"REPORT"},
		{"name":"办事","sub_button":[
			{"type":"click","name":"预约量血压","key":"BOOK_BP"},
			{"type":"view","name":"社区活动","url":"https://example.org/events"},
			{"type":"location_select","name":"发送位置","key":"LOC"}]},
		{"type":"view","name":"关于","url":"http://example.org/"}]}`
	if got := errcode(do(t, f, "POST", wechatfake.PathMenuCreate, at(tok), good)); got != 0 {
		t.Fatalf("create: %d", got)
	}
	menu := f.Menu()
	if menu == nil || len(menu.Buttons) != 3 || menu.Buttons[1].Name != "办事" || len(menu.Buttons[1].SubButtons) != 3 || menu.Buttons[1].SubButtons[1].URL != "https://example.org/events" {
		t.Fatalf("Menu %+v", menu)
	}
	got := do(t, f, "GET", wechatfake.PathMenuGet, at(tok), "")
	b, _ := json.Marshal(got["menu"])
	var back wechatfake.Menu
	if err := json.Unmarshal(b, &back); err != nil || len(back.Buttons) != 3 || back.Buttons[0].Key != "REPORT" {
		t.Fatalf("menu/get %s", b)
	}

	btn := func(s string) string { return `{"button":[` + s + `]}` }
	click := `{"type":"click","name":"a","key":"k"}`
	subs := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = click
		}
		return `{"name":"p","sub_button":[` + strings.Join(s, ",") + `]}`
	}
	cases := map[string]struct {
		body string
		code int
	}{
		"no buttons":         {btn(``), wechatfake.ErrcodeButtonCount},
		"four top buttons":   {btn(strings.Repeat(click+",", 3) + click), wechatfake.ErrcodeButtonCount},
		"six sub buttons":    {btn(subs(6)), wechatfake.ErrcodeSubButtonCount},
		"five sub buttons":   {btn(subs(5)), 0},
		"top name 17 bytes":  {btn(`{"type":"click","name":"12345678901234567","key":"k"}`), wechatfake.ErrcodeButtonName},
		"top name 5 hanzi":   {btn(`{"type":"click","name":"社区居委会","key":"k"}`), 0},
		"top name 6 hanzi":   {btn(`{"type":"click","name":"社区居委会好","key":"k"}`), wechatfake.ErrcodeButtonName},
		"empty name":         {btn(`{"type":"click","name":"","key":"k"}`), wechatfake.ErrcodeButtonName},
		"sub name 61 bytes":  {btn(`{"name":"p","sub_button":[{"type":"click","name":"` + strings.Repeat("x", 61) + `","key":"k"}]}`), wechatfake.ErrcodeSubButtonName},
		"sub name 60 bytes":  {btn(`{"name":"p","sub_button":[{"type":"click","name":"` + strings.Repeat("x", 60) + `","key":"k"}]}`), 0},
		"click without key":  {btn(`{"type":"click","name":"a"}`), wechatfake.ErrcodeButtonKey},
		"key 129 bytes":      {btn(`{"type":"click","name":"a","key":"` + strings.Repeat("k", 129) + `"}`), wechatfake.ErrcodeButtonKey},
		"sub key 129 bytes":  {btn(`{"name":"p","sub_button":[{"type":"click","name":"a","key":"` + strings.Repeat("k", 129) + `"}]}`), wechatfake.ErrcodeSubButtonKey},
		"view without url":   {btn(`{"type":"view","name":"a"}`), wechatfake.ErrcodeButtonURL},
		"url 1025 bytes":     {btn(`{"type":"view","name":"a","url":"https://e.org/` + strings.Repeat("u", 1025-14) + `"}`), wechatfake.ErrcodeButtonURL},
		"sub url 1025 bytes": {btn(`{"name":"p","sub_button":[{"type":"view","name":"a","url":"https://e.org/` + strings.Repeat("u", 1025-14) + `"}]}`), wechatfake.ErrcodeSubButtonURL},
		"view not http":      {btn(`{"type":"view","name":"a","url":"weixin://x"}`), wechatfake.ErrcodeInvalidURL},
		"unknown type":       {btn(`{"type":"miniprogram","name":"a","url":"https://e.org","appid":"wx","pagepath":"p"}`), wechatfake.ErrcodeButtonType},
		"no type":            {btn(`{"name":"a","key":"k"}`), wechatfake.ErrcodeButtonType},
		"empty sub_button":   {btn(`{"name":"a","sub_button":[]}`), wechatfake.ErrcodeButtonType},
		"unknown sub type":   {btn(`{"name":"p","sub_button":[{"type":"bogus","name":"a"}]}`), wechatfake.ErrcodeSubButtonType},
		"third level":        {btn(`{"name":"p","sub_button":[{"name":"q","sub_button":[` + click + `]}]}`), wechatfake.ErrcodeSubButtonLevel},
		"not json":           {`{"button":`, wechatfake.ErrcodeDataFormat},
	}
	for name, tc := range cases {
		if got := errcode(do(t, f, "POST", wechatfake.PathMenuCreate, at(tok), tc.body)); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", name, got, tc.code)
		}
	}
}

func TestCallsRecorded(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{})
	tok := fetchToken(t, f)
	f.Touch("o1", clk.Now())
	clk.Add(time.Minute)
	sendText(t, f, tok, "o1", "你好")
	if resp, err := doRaw(context.Background(), f, "GET", "/cgi-bin/nonexistent", at(tok), ""); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	calls := f.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[1]
	body, _ := c.Body.(map[string]any)
	text, _ := body["text"].(map[string]any)
	if c.Method != "POST" || c.Path != wechatfake.PathCustomSend || c.Query.Get("access_token") != tok ||
		body["touser"] != "o1" || text["content"] != "你好" || !c.Time.Equal(clk.Now()) || c.Status != 200 || c.Errcode != 0 {
		t.Fatalf("call %+v", c)
	}
	if calls[2].Status != http.StatusNotFound {
		t.Fatalf("unknown path: %+v", calls[2])
	}
	if !strings.Contains(f.String(), wechatfake.PathCustomSend) {
		t.Fatalf("String() = %s", f)
	}
}

func TestFailNext(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{WindowLimit: 1})
	tok := f.IssueToken()
	f.Touch("o1", clk.Now())
	f.FailNext(wechatfake.PathCustomSend, wechatfake.ErrcodeSystemBusy, 2)
	for i := 0; i < 2; i++ {
		if code := sendText(t, f, tok, "o1", "x"); code != wechatfake.ErrcodeSystemBusy {
			t.Fatalf("forced failure %d: %d", i, code)
		}
	}
	// Forced failures used no quota: the one allowed message still goes.
	if code := sendText(t, f, tok, "o1", "x"); code != 0 {
		t.Fatalf("after faults: %d", code)
	}
	// Faults are per path.
	f.FailNext(wechatfake.PathTemplateSend, wechatfake.ErrcodeSystemBusy, 1)
	f.Touch("o1", clk.Now())
	if code := sendText(t, f, tok, "o1", "x"); code != 0 {
		t.Fatalf("other path affected: %d", code)
	}

	f.FailNextHTTP(wechatfake.PathToken, http.StatusBadGateway, 1)
	resp, err := doRaw(context.Background(), f, "GET", wechatfake.PathToken, tokenQuery(f), "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	fetchToken(t, f)
	if n := len(f.TokenRequests()); n != 1 {
		t.Fatalf("the faulted token call is not a token request: %d", n)
	}
}

func TestHold(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{})
	tok := f.IssueToken()
	f.Touch("o1", clk.Now())
	h := f.Hold(wechatfake.PathCustomSend)

	done := make(chan int)
	go func() {
		resp, err := doRaw(context.Background(), f, "POST", wechatfake.PathCustomSend, at(tok), fmt.Sprintf(textTo, "o1", "held"))
		if err != nil {
			done <- -999
			return
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		done <- errcode(m)
	}()
	<-h.Arrived()
	// In flight: nothing delivered yet, and state changes made now apply
	// when it proceeds.
	if n := len(f.CustomMessages()); n != 0 {
		t.Fatalf("delivered while held: %d", n)
	}
	f.RevokeTokens()
	h.Release()
	if code := <-done; code != wechatfake.ErrcodeInvalidCredential {
		t.Fatalf("held call answered %d, want 40001 after revocation", code)
	}
	h.Release() // twice is fine

	// A client that gives up while held is recorded with status 0.
	h2 := f.Hold(wechatfake.PathMenuGet)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := doRaw(ctx, f, "GET", wechatfake.PathMenuGet, at(tok), "")
		errc <- err
	}()
	<-h2.Arrived()
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled request succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := f.Calls()
		if last := calls[len(calls)-1]; last.Path == wechatfake.PathMenuGet && last.Status == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned call not recorded: %+v", calls)
		}
		// Poll with a deadline: the server notices the cancel
		// asynchronously.
		<-time.After(time.Millisecond)
	}
}

func TestCloseReleasesHeldCalls(t *testing.T) {
	f := wechatfake.New(wechatfake.Config{})
	h := f.Hold(wechatfake.PathToken)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := doRaw(context.Background(), f, "GET", wechatfake.PathToken, tokenQuery(f), ""); err == nil {
			resp.Body.Close()
		}
	}()
	<-h.Arrived()
	f.Close() // must not hang on the held connection
	<-done
}

func TestConcurrentUse(t *testing.T) {
	f, clk := newFake(t, wechatfake.Config{WindowLimit: 1000})
	tok := f.IssueToken()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		openid := fmt.Sprintf("o%d", i%4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Touch(openid, clk.Now())
			for j := 0; j < 5; j++ {
				resp, err := doRaw(context.Background(), f, "POST", wechatfake.PathCustomSend, at(tok), fmt.Sprintf(textTo, openid, "x"))
				if err == nil {
					resp.Body.Close()
				}
				_ = f.Calls()
				_ = f.CustomMessages()
			}
		}()
	}
	wg.Wait()
	if n := len(f.CustomMessages()); n != 100 {
		t.Fatalf("%d messages delivered, want 100", n)
	}
}
