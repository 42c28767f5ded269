package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot/wechat"
	"linli/bot/wechat/wechatfake"
)

const wxToken = "linli-test-token"

// wechatApp is the whole program wired from the example config with the
// WeChat channel enabled against a fake API.
func wechatApp(t testing.TB, fake *wechatfake.Fake) *app {
	t.Helper()
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	cfg.Store.Path = filepath.Join(t.TempDir(), "linli.db")
	cfg.WeChat.Enabled = true
	cfg.WeChat.AppID, cfg.WeChat.AppSecret, cfg.WeChat.Token = fake.AppID(), fake.Secret(), wxToken
	cfg.WeChat.APIBaseURL = fake.URL()
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close() })
	return a
}

// wxMsg renders an inbound message.
func wxMsg(from string, msgID int64, msgType string, fields ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<xml><ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[%s]]></MsgType>", from, time.Now().Unix(), msgType)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", fields[i], fields[i+1], fields[i])
	}
	fmt.Fprintf(&b, "<MsgId>%d</MsgId></xml>", msgID)
	return b.String()
}

// signedQuery is the plain-mode query WeChat puts on a callback.
func signedQuery(token string) string {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := "1514711492"
	parts := []string{token, ts, nonce}
	return url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {sha1Sorted(parts)}}.Encode()
}

func postWeChat(h http.Handler, body string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/wechat?"+signedQuery(wxToken), strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func replyContent(body string) string {
	var r struct{ Content string }
	if xml.Unmarshal([]byte(body), &r) != nil {
		return ""
	}
	return r.Content
}

// A report made entirely over WeChat — text, a photo, a location — with
// every message delivered four times (once, then three retries at once)
// yields one ticket, and every step ran once.
func TestWeChatReportDeliveredFourTimes(t *testing.T) {
	fake := wechatfake.New(wechatfake.Config{})
	defer fake.Close()
	a := wechatApp(t, fake)
	h := a.routes()
	steps := []struct {
		body string
		want string
	}{
		{wxMsg("oRes", 9000, "text", "Content", "报修"), "请了解我们如何处理您的个人信息"},
		// Consent (community.require_consent): the thanks is the passive
		// reply, the category question of the kept 报修 follows by the API.
		{wxMsg("oRes", 9001, "text", "Content", "同意"), "谢谢"},
		{wxMsg("oRes", 9002, "text", "Content", "2"), "请描述一下问题"},
		{wxMsg("oRes", 9003, "text", "Content", "楼道灯坏了三天，晚上很黑"), "请发一张现场照片"},
		{wxMsg("oRes", 9004, "image", "PicUrl", "http://mmbiz.qpic.cn/p.jpg", "MediaId", "MEDIA_9004"), "问题在哪里"},
		{wxMsg("oRes", 9005, "location", "Location_X", "39.915", "Location_Y", "116.404", "Scale", "16", "Label", "3号楼东门"), "联系电话"},
		{wxMsg("oRes", 9006, "text", "Content", "跳过"), "请确认您的报修"},
		{wxMsg("oRes", 9007, "text", "Content", "确认"), "T1001"},
	}
	for i, s := range steps {
		code, first := postWeChat(h, s.body)
		if code != 200 || !strings.Contains(replyContent(first), s.want) {
			t.Fatalf("step %d: %d %q", i, code, first)
		}
		var wg sync.WaitGroup
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, again := postWeChat(h, s.body)
				// A retry gets the same reply again or "success"; never a
				// second step.
				if code != 200 || (again != "success" && replyContent(again) != replyContent(first)) {
					t.Errorf("step %d retry: %d %q", i, code, again)
				}
			}()
		}
		wg.Wait()
	}
	ctx := context.Background()
	var tickets, inbound int
	a.st.DB().QueryRow("SELECT COUNT(*) FROM tickets").Scan(&tickets)
	a.st.DB().QueryRow("SELECT COUNT(*) FROM message_log WHERE direction = 'in'").Scan(&inbound)
	// The turn before consent is not logged; the agreeing one logs the 报修 it handled.
	if tickets != 1 || inbound != len(steps)-1 {
		t.Fatalf("%d tickets, %d inbound log lines", tickets, inbound)
	}
	tk, err := a.st.Ticket(ctx, "T1001")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Channel != "wechat" || tk.Photo != "MEDIA_9004" || tk.PhotoURL != "http://mmbiz.qpic.cn/p.jpg" ||
		tk.Latitude == nil || *tk.Latitude != 39.915 || tk.LocationLabel != "3号楼东门" || !strings.Contains(tk.Description, "楼道灯") {
		t.Fatalf("ticket %+v", tk)
	}
}

// The WeChat endpoint is mounted only when the channel is enabled; the
// bad-signature answer is 403 through the real routes.
func TestWeChatRoutes(t *testing.T) {
	fake := wechatfake.New(wechatfake.Config{})
	defer fake.Close()
	h := wechatApp(t, fake).routes()
	req := httptest.NewRequest(http.MethodPost, "/wechat?timestamp=1&nonce=2&signature=3", strings.NewReader(wxMsg("o", 1, "text", "Content", "x")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("bad signature: %d", rec.Code)
	}
	_, a, _ := startServer(t)
	rec = httptest.NewRecorder()
	a.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wechat", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("disabled channel answered %d", rec.Code)
	}
}

func TestWeChatMenuCommand(t *testing.T) {
	fake := wechatfake.New(wechatfake.Config{})
	defer fake.Close()
	dir := t.TempDir()
	body := exampleWith(t, `app_id: ""`, `app_id: "`+fake.AppID()+`"`)
	body = strings.Replace(body, "api_base_url: https://api.weixin.qq.com", "api_base_url: "+fake.URL(), 1)
	body = strings.Replace(body, "path: ./data/linli.db", "path: "+filepath.Join(dir, "linli.db"), 1)
	cfg := writeConfig(t, body)
	env := func(k string) string {
		if k == "LINLI_WECHAT_APP_SECRET" {
			return fake.Secret()
		}
		return ""
	}
	var out, errb strings.Builder
	if code := run([]string{"wechat", "menu", "--config", cfg}, nil, &out, &errb, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	m := fake.Menu()
	if m == nil || len(m.Buttons) != 3 || m.Buttons[0].Name != "报事报修" || m.Buttons[0].Key != wechat.MenuReport {
		t.Fatalf("menu %+v", m)
	}
	if !strings.Contains(out.String(), "installed") {
		t.Fatalf("stdout %q", out.String())
	}
	// Without credentials it says so and exits 1; without a subcommand, 2.
	if code := run([]string{"wechat", "menu", "--config", cfg}, nil, &out, &errb, noEnv); code != 1 {
		t.Fatalf("no secret: exit %d", code)
	}
	if code := run([]string{"wechat", "--config", cfg}, nil, &out, &errb, noEnv); code != 2 {
		t.Fatalf("no subcommand: exit %d", code)
	}
	if code := run([]string{"wechat", "nope", "--config", cfg}, nil, &out, &errb, env); code != 1 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
