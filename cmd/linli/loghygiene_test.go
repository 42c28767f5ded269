package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot/telegram/tgfake"
	"linli/bot/wechat/wechatfake"
	"linli/notify/aliyun/aliyunfake"
)

// lockedBuffer collects the log of the whole program.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsKeepSecretsAndPhonesOut runs the program with every channel and
// Aliyun SMS enabled, logging at debug level, through a report with a phone,
// a staff reply from the group, a phone binding by SMS code, a resident's SMS
// reply and requests with wrong signatures and secrets; then no secret,
// token, full phone number, code or message text may be in the log.
func TestLogsKeepSecretsAndPhonesOut(t *testing.T) {
	const (
		tgSecret     = "tg_Webhook-Secret42"
		inbound      = "inbound-Secret-77"
		aesKey       = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		reportPhone  = "13812345678"
		bindPhone    = "13987654321"
		adminPhone   = "13700001111"
		residentText = "楼道灯坏了 ZQX-RESIDENT-TEXT"
		staffText    = "明天上午去修 ZQX-STAFF-TEXT"
		smsText      = "谢谢 ZQX-SMS-TEXT"
		staffGroup   = -1001234567890
		resident     = 1001
		staffUser    = 900
	)
	wx := wechatfake.New(wechatfake.Config{})
	defer wx.Close()
	tg := tgfake.New()
	defer tg.Close()
	sms := aliyunfake.NewServer()
	defer sms.Close()

	body := fmt.Sprintf(`community:
  name: 测试社区
  timezone: Asia/Shanghai
  require_consent: false
server:
  public_url: https://linli.example.org
  dev_pages: false
store:
  path: %s
wechat:
  enabled: true
  app_id: %s
  app_secret: %s
  token: %s
  encoding_aes_key: %s
  api_base_url: %s
telegram:
  enabled: true
  token: %s
  mode: webhook
  webhook_secret: %s
  api_base_url: %s
  staff_chat_id: %d
sms:
  provider: aliyun
  quiet_hours: ""
  inbound_secret: %s
  aliyun:
    access_key_id: %s
    access_key_secret: %s
    endpoint: %s
    scheme: %s
    sign_name: 测试社区
    templates:
      verify_code: SMS_100
      notice: SMS_200
      ticket_update: SMS_300
staff:
  - {name: 王主任, role: admin, telegram_id: %d, phone: "%s"}
categories:
  - {key: repairs, name: 设施维修, name_en: Repairs, target_hours: 48}
`, filepath.Join(t.TempDir(), "linli.db"), wx.AppID(), wx.Secret(), wxToken, aesKey, wx.URL(),
		tg.Token(), tgSecret, tg.URL(), staffGroup, inbound,
		aliyunfake.DefaultAccessKeyID, aliyunfake.DefaultAccessKeySecret, sms.Endpoint(), sms.Scheme(),
		staffUser, adminPhone)
	cfg, problems := loadConfig(writeConfig(t, body), noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv := httptest.NewServer(a.routes())
	defer srv.Close()

	postTG := func(secret string, chat, user int64, text string) int {
		b, _ := json.Marshal(tg.TextUpdate(chat, user, text))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/telegram", bytes.NewReader(b))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
			<-time.After(5 * time.Millisecond)
		}
	}
	count := func(q string, args ...any) int {
		var n int
		if err := a.st.DB().QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dispatch := func() {
		t.Helper()
		if _, err := a.disp.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A Telegram resident reports, leaving a phone number.
	for _, text := range []string{"报修", "1", residentText, "跳过", "跳过", reportPhone, "确认"} {
		if code := postTG(tgSecret, resident, resident, text); code != http.StatusOK {
			t.Fatalf("%q: %d", text, code)
		}
	}
	until("the ticket", func() bool { return count("SELECT COUNT(*) FROM tickets WHERE contact_phone = ?", reportPhone) == 1 })
	// Staff answer from the group; a wrong secret is refused.
	if code := postTG(tgSecret, staffGroup, staffUser, "/r T1001 "+staffText); code != http.StatusOK {
		t.Fatalf("staff reply: %d", code)
	}
	if code := postTG("wrong", resident, resident, "菜单"); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", code)
	}
	until("the staff reply", func() bool {
		return count("SELECT COUNT(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = 'T1001' AND e.kind = 'replied'") == 1
	})

	// A WeChat resident binds a phone with the SMS code (a wrong one first);
	// a request with a wrong signature is refused.
	h := a.routes()
	wxSay := func(id int64, text string) {
		t.Helper()
		if code, _ := postWeChat(h, wxMsg("oLogRes", id, "text", "Content", text)); code != http.StatusOK {
			t.Fatalf("wechat %q: %d", text, code)
		}
	}
	wxSay(7001, "绑定手机")
	wxSay(7002, bindPhone)
	dispatch()
	var code string
	for _, r := range sms.Sent() {
		if r.Phone == bindPhone {
			code = r.Params["code"]
		}
	}
	if len(code) != 6 {
		t.Fatalf("no verification code reached the fake: %+v", sms.Sent())
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wxSay(7003, wrong)
	wxSay(7004, code)
	if count("SELECT COUNT(*) FROM residents WHERE phone = ?", bindPhone) != 1 {
		t.Fatalf("the phone was not bound; log:\n%s", logs.String())
	}
	req := httptest.NewRequest(http.MethodPost, "/wechat?timestamp=1&nonce=2&signature=bad", strings.NewReader(wxMsg("oLogRes", 7005, "text", "Content", "hi")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("wrong signature: %d", rec.Code)
	}

	// The resident answers by SMS; a push with a wrong key is refused.
	up := fmt.Sprintf(`[{"phone_number":%q,"content":%q,"send_time":"2026-11-25 10:00:00","dest_code":"1","sequence_id":1}]`, reportPhone, smsText)
	for key, want := range map[string]int{"wrong": http.StatusForbidden, inbound: http.StatusOK} {
		resp, err := http.Post(srv.URL+"/sms/aliyun/up?key="+key, "application/json", strings.NewReader(up))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("sms push with key %q: %d, want %d", key, resp.StatusCode, want)
		}
	}
	// Everything queued goes out (staff reply, alerts, the SMS reply's alert).
	dispatch()
	dispatch()
	if len(tg.Sent(staffGroup)) == 0 || len(tg.Sent(resident)) == 0 {
		t.Fatal("nothing reached Telegram: the scenario did not run")
	}

	log := logs.String()
	if !strings.Contains(log, "level=WARN") {
		t.Fatalf("the refusals were not logged, so the log was not captured:\n%s", log)
	}
	for what, secret := range map[string]string{
		"wechat app secret": wx.Secret(), "wechat token": wxToken, "wechat aes key": aesKey,
		"telegram token": tg.Token(), "telegram webhook secret": tgSecret,
		"aliyun key secret": aliyunfake.DefaultAccessKeySecret, "sms inbound secret": inbound,
		"a reported phone": reportPhone, "a bound phone": bindPhone, "an admin's phone": adminPhone,
		"the verification code": code, "a resident's text": "ZQX-RESIDENT-TEXT", "a staff reply": "ZQX-STAFF-TEXT",
		"a resident's SMS": "ZQX-SMS-TEXT",
	} {
		if strings.Contains(log, secret) {
			i := strings.Index(log, secret)
			t.Errorf("the log holds %s: …%s…", what, log[max(0, i-200):min(len(log), i+100)])
		}
	}
}
