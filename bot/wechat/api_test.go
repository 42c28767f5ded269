package wechat

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot/wechat/wechatfake"
	"linli/store"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 4, 26, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))}
}

func openStore(t testing.TB, clk *testClock) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		st.SetClock(clk.Now)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// apiEnv is a fake WeChat API, a store and a client on both, sharing a clock.
type apiEnv struct {
	fake *wechatfake.Fake
	st   *store.Store
	clk  *testClock
	cfg  Config
}

func newAPIEnv(t testing.TB, fc wechatfake.Config) *apiEnv {
	t.Helper()
	clk := newClock()
	if fc.Now == nil {
		fc.Now = clk.Now
	}
	f := wechatfake.New(fc)
	t.Cleanup(f.Close)
	cfg := Config{AppID: f.AppID(), AppSecret: f.Secret(), APIBaseURL: f.URL(), Token: "tok",
		Templates: Templates{TicketUpdate: "TPL_TICKET", Reminder: "TPL_REMIND"}}
	return &apiEnv{fake: f, st: openStore(t, clk), clk: clk, cfg: cfg}
}

func (e *apiEnv) client(t testing.TB) *Client {
	t.Helper()
	c, err := NewClient(e.cfg, ClientOptions{Tokens: e.st, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClientNeedsCredentials(t *testing.T) {
	if _, err := NewClient(Config{AppID: "a"}, ClientOptions{Tokens: openStore(t, nil)}); err == nil {
		t.Fatal("no secret accepted")
	}
	if _, err := NewClient(Config{AppID: "a", AppSecret: "b"}, ClientOptions{}); err == nil {
		t.Fatal("no token store accepted")
	}
}

// One token serves every client on the database, and survives a restart.
func TestTokenCachedInStore(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	e.fake.Touch("o1", e.clk.Now())
	a, b := e.client(t), e.client(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a
			if i%2 == 1 {
				c = b
			}
			if _, err := c.Token(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(e.fake.TokenRequests()); n > 2 {
		// Two clients are like two processes: at most one fetch each, and
		// the second finds the first's token once it is stored.
		t.Fatalf("%d token requests for 8 calls", n)
	}
	before := len(e.fake.TokenRequests())
	restarted := e.client(t)
	if err := restarted.SendText(ctx, "o1", "你好"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.TokenRequests()); n != before {
		t.Fatalf("a restarted client fetched a token again (%d → %d)", before, n)
	}
	// The cached token expires before WeChat's does: 7200 s − 5 min.
	_, exp, err := e.st.GetValue(ctx, "wechat:access_token:"+e.cfg.AppID)
	if err != nil || !exp.Equal(e.clk.Now().Add(115*time.Minute).Truncate(time.Second)) {
		t.Fatalf("cached expiry %v %v", exp, err)
	}
	e.clk.Add(116 * time.Minute)
	if err := restarted.SendText(ctx, "o1", "还在吗"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.TokenRequests()); n != before+1 {
		t.Fatalf("expired cache did not fetch a new token: %d requests", n)
	}
}

// 40001, 40014 and 42001 refresh the token once and retry the call.
func TestTokenRefreshedOnceAndRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(e *apiEnv)
	}{
		{"40001 revoked", func(e *apiEnv) { e.fake.RevokeTokens() }},
		{"42001 expired", func(e *apiEnv) { e.fake.ExpireTokens() }},
		{"40014 invalid", func(e *apiEnv) { e.fake.FailNext(wechatfake.PathCustomSend, CodeInvalidToken, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIEnv(t, wechatfake.Config{ReportExpired42001: true})
			ctx := context.Background()
			c := e.client(t)
			e.fake.Touch("o1", e.clk.Now())
			if err := c.SendText(ctx, "o1", "一"); err != nil {
				t.Fatal(err)
			}
			tc.spoil(e)
			if err := c.SendText(ctx, "o1", "二"); err != nil {
				t.Fatalf("not retried: %v\n%s", err, e.fake)
			}
			if n := len(e.fake.TokenRequests()); n != 2 {
				t.Fatalf("%d token requests, want 2", n)
			}
			if got := len(e.fake.CustomMessages()); got != 2 {
				t.Fatalf("%d messages delivered", got)
			}
		})
	}
	t.Run("only once", func(t *testing.T) {
		e := newAPIEnv(t, wechatfake.Config{})
		c := e.client(t)
		e.fake.Touch("o1", e.clk.Now())
		e.fake.FailNext(wechatfake.PathCustomSend, CodeInvalidCredential, 5)
		err := c.SendText(context.Background(), "o1", "x")
		if !IsCode(err, CodeInvalidCredential) {
			t.Fatalf("err %v", err)
		}
		var custom int
		for _, call := range e.fake.Calls() {
			if call.Path == wechatfake.PathCustomSend {
				custom++
			}
		}
		if custom != 2 || len(e.fake.TokenRequests()) != 2 {
			t.Fatalf("%d sends and %d token requests, want 2 and 2", custom, len(e.fake.TokenRequests()))
		}
	})
}

// A token another process stored after ours failed is used rather than
// fetching a third one (which would void the other process's token).
func TestRefreshTakesAnotherProcesssToken(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	c := e.client(t)
	stale, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := e.fake.IssueToken()
	e.st.SetValue(ctx, c.tokenKey(), fresh, e.clk.Now().Add(time.Hour))
	got, err := c.refresh(ctx, stale)
	if err != nil || got != fresh {
		t.Fatalf("refresh gave %q %v, want the stored %q", got, err, fresh)
	}
	if n := len(e.fake.TokenRequests()); n != 1 {
		t.Fatalf("%d token requests", n)
	}
}

func TestBadSecretIsNotCached(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	e.cfg.AppSecret = "wrong"
	_, err := e.client(t).Token(context.Background())
	if !IsCode(err, wechatfake.ErrcodeInvalidSecret) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error shows the secret: %v", err)
	}
	if _, _, err := e.st.GetValue(context.Background(), "wechat:access_token:"+e.cfg.AppID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("something cached: %v", err)
	}
}

// Errors never carry the URL, which holds the access token.
func TestErrorsHideTheToken(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	e.fake.Touch("o1", e.clk.Now())
	c := e.client(t)
	tok, _ := c.Token(ctx)

	e.fake.FailNextHTTP(wechatfake.PathCustomSend, http.StatusBadGateway, 1)
	err := c.SendText(ctx, "o1", "x")
	var se *statusError
	if !errors.As(err, &se) || se.status != http.StatusBadGateway {
		t.Fatalf("502: %v", err)
	}
	if strings.Contains(err.Error(), tok) {
		t.Fatalf("token in %q", err)
	}

	hold := e.fake.Hold(wechatfake.PathCustomSend)
	defer hold.Release()
	short, _ := NewClient(e.cfg, ClientOptions{Tokens: e.st, Now: e.clk.Now, HTTP: &http.Client{Timeout: 50 * time.Millisecond}})
	err = short.SendText(ctx, "o1", "x")
	if err == nil || strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "access_token") {
		t.Fatalf("timeout error %v", err)
	}
}

func TestNewHTTPClientHasTimeouts(t *testing.T) {
	c := NewHTTPClient()
	tr := c.Transport.(*http.Transport)
	if c.Timeout <= 0 || tr.ResponseHeaderTimeout <= 0 || tr.TLSHandshakeTimeout <= 0 {
		t.Fatalf("timeouts missing: %+v", c)
	}
}

func TestCustomSendWindowAndQuota(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	c := e.client(t)
	err := c.SendText(ctx, "never", "hi")
	if !IsCode(err, CodeOutOfWindow) || !err.(*APIError).Unreachable() || err.(*APIError).Temporary() {
		t.Fatalf("no window: %v", err)
	}
	e.fake.Touch("o1", e.clk.Now())
	for i := 0; i < 5; i++ {
		if err := c.SendText(ctx, "o1", "第"+string(rune('1'+i))+"条"); err != nil {
			t.Fatal(err)
		}
	}
	err = c.SendText(ctx, "o1", "too many")
	if !IsCode(err, CodeOutOfQuota) || !err.(*APIError).Unreachable() {
		t.Fatalf("quota: %v", err)
	}
	if err := c.SendImage(ctx, "o2", "MEDIA"); !IsCode(err, CodeOutOfWindow) {
		t.Fatalf("image: %v", err)
	}
	e.fake.Touch("o2", e.clk.Now())
	if err := c.SendImage(ctx, "o2", "MEDIA"); err != nil {
		t.Fatal(err)
	}
	msgs := e.fake.CustomMessages()
	if len(msgs) != 6 || msgs[5].MsgType != "image" || msgs[5].MediaID != "MEDIA" || msgs[0].Content != "第1条" {
		t.Fatalf("messages %+v", msgs)
	}
	e.clk.Add(49 * time.Hour)
	if err := c.SendText(ctx, "o2", "late"); !IsCode(err, CodeOutOfWindow) {
		t.Fatalf("after 48 h: %v", err)
	}
}

func TestTemplateSendAndMenuCreate(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{TemplateIDs: []string{"TPL_TICKET"}})
	ctx := context.Background()
	c := e.client(t)
	id, err := c.SendTemplate(ctx, TemplateMessage{ToUser: "o1", TemplateID: "TPL_TICKET", Data: map[string]TemplateField{"keyword1": {Value: "T1001"}}})
	if err != nil || id == 0 {
		t.Fatalf("template: %d %v", id, err)
	}
	tm := e.fake.TemplateMessages()
	if len(tm) != 1 || tm[0].MsgID != id || tm[0].Data["keyword1"].Value != "T1001" {
		t.Fatalf("templates %+v", tm)
	}
	if _, err := c.SendTemplate(ctx, TemplateMessage{ToUser: "o1", TemplateID: "NOPE", Data: map[string]TemplateField{"a": {Value: "b"}}}); !IsCode(err, wechatfake.ErrcodeInvalidTemplateID) || err.(*APIError).Temporary() {
		t.Fatalf("bad template id: %v", err)
	}
	e.fake.Unsubscribe("o1")
	if _, err := c.SendTemplate(ctx, TemplateMessage{ToUser: "o1", TemplateID: "TPL_TICKET", Data: map[string]TemplateField{"a": {Value: "b"}}}); !IsCode(err, CodeRequireSubscribe) || !err.(*APIError).Unreachable() {
		t.Fatalf("unfollowed: %v", err)
	}

	m := BuildMenu("zh-CN")
	if err := c.CreateMenu(ctx, m); err != nil {
		t.Fatalf("menu: %v\n%s", err, e.fake)
	}
	got := e.fake.Menu()
	var keys, names []string
	for _, b := range got.Buttons {
		names = append(names, b.Name)
		for _, s := range append([]wechatfake.Button{b}, b.SubButtons...) {
			if s.Key != "" {
				keys = append(keys, s.Key)
			}
		}
		for _, s := range b.SubButtons {
			names = append(names, s.Name)
		}
	}
	if strings.Join(keys, ",") != "report,book,events,status" {
		t.Fatalf("menu keys %v", keys)
	}
	for _, want := range []string{"报事报修", "预约服务", "社区活动", "我的"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Fatalf("menu %v lacks %s", names, want)
		}
	}
	if err := c.CreateMenu(ctx, Menu{}); !IsCode(err, wechatfake.ErrcodeButtonCount) {
		t.Fatalf("empty menu: %v", err)
	}
}
