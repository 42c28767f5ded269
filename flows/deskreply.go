package flows

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"linli/bot"
	"linli/store"
)

// Staff reply in the group to any alert. A ticket's alert takes the reply
// as /r; a resident's SMS reply ("📩 居民短信回复") sends the answer back by
// SMS; any other alert (the digest, delivery problems, broadcast reports)
// is about nobody, and staff are told so rather than left to think their
// words went somewhere.

var deskReplyTexts = catalog{
	"desk.reply_nowhere":   {"这条提醒不对应某个工单或居民，在这里回复不会发给任何人。答复居民请发送 /r 工单号 内容，或回复该工单的提醒。", "This alert is about no ticket or resident, so a reply to it reaches nobody. To answer a resident, send /r followed by the ticket number and your text, or reply to that ticket's alert."},
	"desk.sms_reply_sent":  {"✓ 已通过短信答复居民（%s）。", "✓ Your answer was sent to the resident by SMS (%s)."},
	"desk.sms_reply_gone":  {"这条短信的居民号码已无法联系（信息已删除）。", "The resident who sent this SMS can no longer be reached (their data was erased)."},
	"desk.sms_reply_text":  {"%s：%s", "%s: %s"},
	"desk.sms_reply_staff": {"社区回复", "Community office"},
	// Here rather than in desk.go's catalog, whose alignment it would upset.
	"desk.resident_cancelled": {"🚫 %s 居民已取消，无需处理。", "🚫 %s was cancelled by the resident; nothing to do."},
}

// Params of a resident's SMS alert that let staff answer it.
const (
	paramReplyPhone    = "reply_phone"
	paramReplyResident = "reply_resident"
)

// alertSMSReply posts a resident's SMS to the staff group with what a
// reply to it needs: the phone and the resident (ids[0], when known).
func (e *Engine) alertSMSReply(ctx context.Context, phone string, ids []int64, dedupe, text string) error {
	params := map[string]string{"mention_telegram_ids": e.adminTelegramIDs(), paramReplyPhone: phone}
	if len(ids) > 0 {
		params[paramReplyResident] = strconv.FormatInt(ids[0], 10)
	}
	return e.enqueueStaff(ctx, store.OutboxRow{Kind: kindAlert, TargetChannel: StaffChannel, Ref: "sms", DedupeKey: dedupe,
		Urgent: true, DueAt: e.now(), Body: store.OutboxBody{Text: text, Lang: e.cfg.Community.Language, Params: params}}, true)
}

// replyToAlert handles a group reply to one of the desk's messages; false
// when the message replied to is no alert (group chatter).
func (e *Engine) replyToAlert(c *Ctx) ([]bot.Reply, bool) {
	chats := []store.MessageChat{{Channel: c.Turn.Channel, Address: chatOf(c.Turn)}}
	if e.fromDeskChat(c) {
		// The scheduler's alerts are routed by the name "staff" to this chat.
		chats = append(chats, store.MessageChat{Channel: StaffChannel})
	}
	row, err := e.st.AlertOfMessage(c, c.Turn.ReplyTo, chats...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		e.log.Error("desk: reply lookup", "err", err)
		return nil, false
	}
	switch {
	case strings.HasPrefix(row.Ref, "T"):
		if num, ok := store.NormalizeTicketNumber(row.Ref); ok {
			return e.runStaff(c, "r", num+" "+c.In.Raw), true
		}
	case row.Body.Params[paramReplyPhone] != "":
		return e.answerSMS(c, row), true
	}
	if _, isStaff := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID); !isStaff {
		return nil, false // chatter of someone not on the staff
	}
	return []bot.Reply{{Text: c.T("desk.reply_nowhere")}}, true
}

// answerSMS sends a staff member's reply to a resident's SMS back to that
// phone by SMS. Like a staff command it is for staff only and audited.
func (e *Engine) answerSMS(c *Ctx, alert store.OutboxRow) []bot.Reply {
	phone := alert.Body.Params[paramReplyPhone]
	rid, _ := strconv.ParseInt(alert.Body.Params[paramReplyResident], 10, 64)
	text := clip(c.In.Raw, 300)
	who, isStaff := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID)
	entry := store.AuditEntry{Actor: who.Name, Action: "sms_reply", Target: MaskPhone(phone), Detail: clip(text, 200), Allowed: isStaff, CreatedAt: e.now()}
	if !isStaff {
		entry.Actor = c.Turn.Channel + ":" + c.Turn.UserID
		e.log.Warn("sms reply refused: not staff", "channel", c.Turn.Channel)
		e.audit(c, entry)
		return []bot.Reply{{Text: c.T("staff.refused", "r")}}
	}
	lang := e.cfg.Community.Language
	if rid != 0 {
		res, err := e.st.Resident(c, rid)
		if err == nil && !res.ErasedAt.IsZero() {
			e.audit(c, entry)
			return []bot.Reply{{Text: c.T("desk.sms_reply_gone")}}
		}
		if err == nil {
			lang = e.residentLang(res)
		}
	}
	e.audit(c, entry)
	body := T(lang, "desk.sms_reply_text", T(lang, "desk.sms_reply_staff"), text)
	err := e.out.Enqueue(c, store.OutboxRow{Kind: kindReply, ResidentID: rid, TargetChannel: channelSMS, TargetAddress: phone,
		Ref: "sms", DueAt: e.now(), Body: store.OutboxBody{Text: body, Template: kindNotice, Params: map[string]string{"content": body}, Lang: lang}})
	if err != nil {
		e.log.Error("desk: sms reply", "err", err)
		return Unavailable(c.Lang)
	}
	return []bot.Reply{{Text: c.T("desk.sms_reply_sent", MaskPhone(phone))}}
}
