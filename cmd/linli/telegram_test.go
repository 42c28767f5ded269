package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linli/bot/telegram"
	"linli/bot/telegram/tgfake"
	"linli/flows"
	"linli/store"
)

// TestTelegramWiring checks that an enabled Telegram channel is wired: the
// webhook route (401 on a wrong secret), the router behind it, the outbox
// sender, the staff group as the desk chat, and the webhook check.
func TestTelegramWiring(t *testing.T) {
	f := tgfake.New()
	t.Cleanup(f.Close)
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	cfg.Store.Path = filepath.Join(t.TempDir(), "linli.db")
	cfg.Telegram.Enabled = true
	cfg.Telegram.Token = f.Token()
	cfg.Telegram.Mode = "webhook"
	cfg.Telegram.WebhookSecret = "abc_DEF-123"
	cfg.Telegram.APIBaseURL = f.URL()
	cfg.Telegram.StaffChatID = -1001234567890
	cfg.Server.PublicURL = "https://linli.example.org"
	cfg.Server.DevPages = false // never on a public https server
	// This test is about the wiring; consent has its own tests.
	cfg.Community.RequireConsent = false

	v := validator{file: "x.yaml"}
	v.check(&cfg)
	if len(v.problems) != 0 {
		t.Fatalf("problems %v", v.problems)
	}
	bad := cfg
	bad.Server.PublicURL = "http://linli.example.org"
	v = validator{file: "x.yaml"}
	v.check(&bad)
	if len(v.problems) != 1 || v.problems[0].Key != "server.public_url" {
		t.Fatalf("http public url with a webhook: %v", v.problems)
	}
	if d := cfg.flowsConfig().DeskChats; len(d) != 1 || d[0] != (flows.DeskChat{Channel: "telegram", Address: "-1001234567890"}) {
		t.Fatalf("desk chats %+v", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv := httptest.NewServer(a.routes())
	defer srv.Close()

	post := func(secret string) int {
		b, _ := json.Marshal(f.TextUpdate(1001, 1001, "菜单"))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/telegram", bytes.NewReader(b))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong"); code != http.StatusUnauthorized || len(f.AllSent()) != 0 {
		t.Fatalf("wrong secret: %d, sent %d", code, len(f.AllSent()))
	}
	if code := post("abc_DEF-123"); code != http.StatusOK {
		t.Fatalf("right secret: %d", code)
	}
	// The webhook answers once the turn is stored; the reply follows.
	// The menu comes in two messages: the choices, then a hint.
	if sent, err := f.WaitSent(ctx, 1001, 2); err != nil || !strings.Contains(sent[0].Text, "普惠苑社区") {
		t.Fatalf("menu not sent: %+v %v", sent, err)
	}

	if err := a.outbox.Enqueue(ctx, store.OutboxRow{Kind: "alert", TargetChannel: "telegram", TargetAddress: "-1001234567890", Body: store.OutboxBody{Text: "test alert"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.disp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.Sent(-1001234567890); len(g) != 1 || g[0].Text != "test alert" {
		t.Fatalf("staff group %+v", g)
	}

	// An immediate reply that meets a 502 goes into the outbox, and the
	// dispatcher delivers it.
	before := len(f.Sent(1001))
	f.FailNext("sendMessage", 1, http.StatusBadGateway, "", 0)
	if code := post("abc_DEF-123"); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	// The replies are queued after the 502, which may come after the
	// answer: wait for their rows, and nothing else sent meanwhile.
	var queued int
	for deadline := time.After(10 * time.Second); queued < 2; {
		rows, err := a.st.RecentOutbox(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		queued = 0
		for _, r := range rows {
			if r.Kind == telegram.KindChatReply && r.Status == store.OutboxPending && r.TargetAddress == "1001" {
				queued++
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%d replies queued, want the menu's two", queued)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if n := len(f.Sent(1001)); n != before {
		t.Fatalf("%d sent after a 502 instead of queued", n-before)
	}
	if n, err := a.disp.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("dispatcher handled %d: %v", n, err)
	}
	if sent := f.Sent(1001); len(sent) != before+2 || !strings.Contains(sent[before].Text, "普惠苑社区") {
		t.Fatalf("queued replies: %+v", sent[before:])
	}
	refused := 0
	for _, c := range f.CallsTo("sendMessage") {
		if c.Code == http.StatusBadGateway {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d sends refused, want the one", refused)
	}
}
