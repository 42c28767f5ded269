package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"linli/bot/wechat/wechatfake"
	"linli/store"
)

// wechatCS is a stand-in for the WeChat sender (written in parallel in
// bot/wechat): it sends a customer-service text through the fake and maps
// 45015 (the 48-hour window closed) to an unreachable error, which is all
// the dispatcher needs of the real one.
type wechatCS struct {
	base, token string
}

type wxErr struct{ code int }

func (e wxErr) Error() string     { return fmt.Sprintf("wechat: errcode %d", e.code) }
func (e wxErr) Unreachable() bool { return e.code == wechatfake.ErrcodeOutOfWindow }
func (e wxErr) Temporary() bool   { return false }

func (w wechatCS) Send(ctx context.Context, to Recipient, body store.OutboxBody) (string, error) {
	msg, _ := json.Marshal(map[string]any{"touser": to.Address, "msgtype": "text", "text": map[string]string{"content": body.Text}})
	req, _ := http.NewRequestWithContext(ctx, "POST", w.base+wechatfake.PathCustomSend+"?access_token="+url.QueryEscape(w.token), bytes.NewReader(msg))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Errcode int `json:"errcode"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if out.Errcode != 0 {
		return "", wxErr{out.Errcode}
	}
	return "cs", nil
}

func TestFallbackFromWeChat45015ToSMS(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	wx := wechatfake.New(wechatfake.Config{Now: e.clock.Now})
	t.Cleanup(wx.Close)
	e.d.Register("wechat", wechatCS{base: wx.URL(), token: wx.IssueToken()})

	// A resident who wrote on WeChat three days ago and bound a phone.
	wrote := e.clock.Now().Add(-72 * time.Hour)
	r, _, _, err := e.st.ResolveIdentity(ctx, store.IdentityKey{Channel: "wechat", ExternalID: "oABC"}, wrote)
	if err != nil {
		t.Fatal(err)
	}
	wx.Touch("oABC", wrote)
	e.st.SetResidentPhone(ctx, r.ID, "13812345678")
	reply := store.OutboxRow{Kind: KindReply, ResidentID: r.ID, DedupeKey: "late",
		Body: store.OutboxBody{Text: "您的问题已处理", Template: KindTicketUpdate, Params: map[string]string{"ticket": "T1001", "status": "已办结"}}}
	// ticket_update has no approved template in this env: register one.
	e.d.sms.(*AliyunSMS).templates[KindTicketUpdate] = "SMS_4"
	e.o.Enqueue(ctx, reply)
	e.run(t)
	row, _ := e.st.OutboxByDedupe(ctx, "late")
	if row.Status != store.OutboxSent || row.Channel != ChannelSMS || !strings.Contains(row.Error, "") {
		t.Fatalf("row %+v", row)
	}
	if len(wx.CustomMessages()) != 0 || e.fake.CountByPhone()["13812345678"] != 1 {
		t.Fatalf("wechat %d, sms %v", len(wx.CustomMessages()), e.fake.CountByPhone())
	}

	// Inside the window the same resident gets WeChat and no SMS.
	wx.Touch("oABC", e.clock.Now())
	e.st.ResolveIdentity(ctx, store.IdentityKey{Channel: "wechat", ExternalID: "oABC"}, e.clock.Now())
	reply.DedupeKey = "soon"
	e.o.Enqueue(ctx, reply)
	e.run(t)
	row, _ = e.st.OutboxByDedupe(ctx, "soon")
	if row.Status != store.OutboxSent || row.Channel != "wechat" || len(wx.CustomMessages()) != 1 {
		t.Fatalf("row %+v, wechat %d", row, len(wx.CustomMessages()))
	}

	// No phone and the window closed: nobody reachable, staff are told.
	r2, _, _, _ := e.st.ResolveIdentity(ctx, store.IdentityKey{Channel: "wechat", ExternalID: "oXYZ"}, wrote)
	e.o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: r2.ID, DedupeKey: "lost", Body: store.OutboxBody{Text: "x", Template: KindTicketUpdate}})
	e.run(t)
	row, _ = e.st.OutboxByDedupe(ctx, "lost")
	if row.Status != store.OutboxUnreachable || len(e.al.got) != 1 || !strings.Contains(e.al.got[0].Error, "45015") {
		t.Fatalf("row %+v alerts %+v", row, e.al.got)
	}
}
