package wechat

import (
	"context"
	"strings"
	"testing"

	"linli/bot"
	"linli/bot/wechat/wechatfake"
	"linli/notify"
	"linli/store"
)

// An errcode the sender does not know (48001: the account has no
// customer-service rights) falls through to the template message.
func TestSenderUnknownCustomServiceErrcodeTriesTemplate(t *testing.T) {
	const codeUnauthorized = 48001
	e := newAPIEnv(t, wechatfake.Config{})
	s := e.sender(t)
	e.resident(t, "o1")
	e.fake.FailNext(wechatfake.PathCustomSend, codeUnauthorized, 1)
	id, err := s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if err != nil || !strings.HasPrefix(id, "template:") {
		t.Fatalf("%q %v", id, err)
	}
	if n := len(e.fake.TemplateMessages()); n != 1 {
		t.Fatalf("%d template messages", n)
	}

	// With no template for the row, or a template that fails too, WeChat
	// cannot carry it: unreachable, so the chain moves on; the cause stays
	// readable. The account's fault does not mark the resident unreachable.
	e.fake.FailNext(wechatfake.PathCustomSend, codeUnauthorized, 1)
	_, err = s.Send(context.Background(), notify.Recipient{Address: "o1"}, store.OutboxBody{Text: "free text"})
	if !isUnreachable(err) || isTemporary(err) || !IsCode(err, codeUnauthorized) {
		t.Fatalf("no template: %v", err)
	}
	e.fake.FailNext(wechatfake.PathCustomSend, codeUnauthorized, 1)
	e.fake.FailNext(wechatfake.PathTemplateSend, codeUnauthorized, 1)
	_, err = s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if !isUnreachable(err) || isTemporary(err) || !IsCode(err, codeUnauthorized) {
		t.Fatalf("template failed too: %v", err)
	}
	if ident, _ := e.st.FindIdentity(context.Background(), bot.ChannelWeChat, "o1"); ident.Unreachable {
		t.Fatal("an account error marked the resident unreachable")
	}

	// A temporary template failure is still retried, not skipped.
	e.fake.FailNext(wechatfake.PathCustomSend, codeUnauthorized, 1)
	e.fake.FailNext(wechatfake.PathTemplateSend, CodeSystemBusy, 1)
	_, err = s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if isUnreachable(err) || !isTemporary(err) {
		t.Fatalf("busy template: %v", err)
	}
}

// Through the dispatcher: customer service refused with 48001 and the
// template refused too, the row goes on to SMS instead of failing.
func TestDispatcherUnknownErrcodeFallsThroughToSMS(t *testing.T) {
	const codeUnauthorized = 48001
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	id := e.resident(t, "o1")
	if err := e.st.SetResidentPhone(ctx, id.ResidentID, "13812345678"); err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext(wechatfake.PathCustomSend, codeUnauthorized, 1)
	e.fake.FailNext(wechatfake.PathTemplateSend, codeUnauthorized, 1)
	sms := &recordingSMS{}
	d := notify.NewDispatcher(e.st, sms, nil, e.clk.Now)
	d.Register(bot.ChannelWeChat, e.sender(t))
	ids, err := e.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: notify.KindTicketUpdate, ResidentID: id.ResidentID, Body: ticketUpdate, DueAt: e.clk.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ := e.st.OutboxRowByID(ctx, ids[0])
	if row.Status != store.OutboxSent || row.Channel != notify.ChannelSMS || len(sms.sent) != 1 {
		t.Fatalf("row %s via %q (%s), sms %v", row.Status, row.Channel, row.Error, sms.sent)
	}
}

// Permanent, resident-caused answers stay what they are: an unfollowed
// resident is unreachable and marked so; the template is not tried.
func TestSenderResidentGoneIsNotRetried(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	s := e.sender(t)
	e.resident(t, "o1")
	e.fake.FailNext(wechatfake.PathCustomSend, CodeRequireSubscribe, 1)
	_, err := s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if !IsCode(err, CodeRequireSubscribe) || !isUnreachable(err) || isTemporary(err) {
		t.Fatalf("err %v", err)
	}
	if len(e.fake.TemplateMessages()) != 0 {
		t.Fatal("template tried for a resident who left")
	}
}
