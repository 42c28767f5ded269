package flows

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
)

// A resident's data rights under China's Personal Information Protection
// Law: consent before anything of theirs is kept, erasure, and export.

// consentFlow holds a resident's first message while they are asked for
// consent; it is answered by consentGate, never by the ordinary steps.
const consentFlow = "consent"

// consentIdle is how long the first message waits for the answer; after
// that it is stale and the answer only records the choice.
const consentIdle = 24 * time.Hour

// exportReplyRunes bounds one reply of an export: chat apps cut or refuse
// longer texts.
const exportReplyRunes = 1500

// exportMessages is how many of the kept messages an export lists.
const exportMessages = 100

var privacyTexts = catalog{
	"privacy.notice": {"在为您服务之前，请了解我们如何处理您的个人信息：\n" +
		"· 保存什么：您的报事报修（含描述、照片、地点、电话）、预约和活动报名，您提供的电话和楼栋，以及您与本服务的聊天记录（%s，便于工作人员了解情况）。\n" +
		"· 用途：只用于处理您的诉求、预约和活动，以及向您发送相关通知。\n" +
		"· 谁能看到：%s的工作人员。电话号码对工作人员打码显示，只有处理您工单的工作人员能看到完整号码。\n" +
		"· 您的权利：随时发送“导出我的信息”查看我们保存的全部内容，发送“删除我的信息”删除您的个人信息。\n" +
		"您是否同意我们按上述方式处理您的个人信息？",
		"Before we can help you, here is how we handle your personal data:\n" +
			"· What we keep: your reports (description, photo, place, phone), bookings and event registrations, the phone and building you give us, and your messages with this service (%s, so that staff know the context).\n" +
			"· Why: only to handle your requests, bookings and events and to send you notices about them.\n" +
			"· Who sees it: the staff of %s. Staff see phone numbers masked; only the staff member handling your ticket sees the full number.\n" +
			"· Your rights: send “export my data” at any time to see everything we keep, and “delete my data” to erase it.\n" +
			"Do you agree to us handling your personal data as described?"},
	"privacy.keep_days":       {"保存 %d 天后自动删除", "kept for %d days, then deleted"},
	"privacy.keep_forever":    {"长期保存，直到您要求删除", "kept until you ask us to delete them"},
	"privacy.agree":           {"同意", "Agree"},
	"privacy.decline":         {"不同意", "Decline"},
	"privacy.consent_expect":  {"请先选择“同意”或“不同意”。", "Please choose “Agree” or “Decline” first."},
	"privacy.thanks":          {"谢谢！您随时可以发送“导出我的信息”或“删除我的信息”。", "Thank you! You can send “export my data” or “delete my data” at any time."},
	"privacy.declined":        {"好的，我们没有保存您的任何信息。没有您的同意，我们无法在这里为您服务；如有需要，欢迎随时再来，或直接联系社区办公室。", "OK, we have kept nothing of yours. Without your consent we cannot help you here; you are welcome back at any time, or contact the community office directly."},
	"privacy.office_phone":    {"社区办公室电话：%s", "Community office phone: %s"},
	"privacy.erase_confirm":   {"确定要删除您的个人信息吗？\n将删除：您的姓名、电话、楼栋、各渠道账号关联、聊天记录、上传的照片；未开始的预约和活动报名将被取消。\n您提交过的工单会保留用于社区工作统计，但不再包含您的描述、照片、地点和电话。\n删除后无法恢复。", "Do you really want us to delete your personal data?\nThis deletes your name, phone, building, your accounts on every channel, your messages and the photos you sent; bookings and registrations still to come are cancelled.\nYour reports stay for the office's figures, without your description, photo, place or phone.\nThis cannot be undone."},
	"privacy.erase_yes":       {"确认删除", "Yes, delete"},
	"privacy.erase_no":        {"不删除", "No, keep it"},
	"privacy.erase_expect":    {"请回复“确认删除”或“不删除”。", "Please answer “yes, delete” or “no, keep it”."},
	"privacy.erase_kept":      {"好的，您的信息保持不变。", "OK, your data stays as it is."},
	"privacy.erased":          {"您的个人信息已删除。感谢您使用本服务；如需再次使用，发送任意消息即可重新开始。", "Your personal data has been deleted. Thank you for using this service; send any message if you want to start again."},
	"privacy.export_title":    {"【您的个人信息】（导出于 %s）", "[Your personal data] (exported %s)"},
	"privacy.export_profile":  {"姓名：%s\n电话：%s\n楼栋：%s\n语言：%s\n首次使用：%s\n同意处理个人信息：%s\n不接收通知：%s", "Name: %s\nPhone: %s\nBuilding: %s\nLanguage: %s\nFirst contact: %s\nConsent given: %s\nNo notices: %s"},
	"privacy.export_verified": {"%s（已验证）", "%s (verified)"},
	"privacy.export_tags":     {"工作人员标注：%s", "Labels given by staff: %s"},
	"privacy.export_none":     {"（无）", "(none)"},
	"privacy.export_yes":      {"是", "yes"},
	"privacy.export_no":       {"否", "no"},
	"privacy.export_ids":      {"【联系渠道】", "[Channels]"},
	"privacy.export_id_line":  {"· %s %s（首次 %s，最近 %s）", "· %s %s (first %s, last %s)"},
	"privacy.export_tickets":  {"【工单】%d 个", "[Tickets] %d"},
	"privacy.export_ticket":   {"%s · %s · %s · 提交于 %s", "%s · %s · %s · reported %s"},
	"privacy.export_photo":    {"照片：有", "Photo: yes"},
	"privacy.export_phone":    {"电话：%s", "Phone: %s"},
	"privacy.export_bookings": {"【预约】%d 个", "[Bookings] %d"},
	"privacy.export_regs":     {"【活动报名】%d 个", "[Event registrations] %d"},
	"privacy.export_checked":  {"已签到 %s", "checked in %s"},
	"privacy.export_messages": {"【聊天记录】保留的最近 %d 条（%s）", "[Messages] the last %d kept (%s)"},
	"privacy.export_you":      {"您", "you"},
	"privacy.export_us":       {"服务", "linli"},
	"privacy.export_end":      {"以上是我们保存的关于您的全部信息。发送“删除我的信息”可以删除。", "That is everything we keep about you. Send “delete my data” to erase it."},
	"place.cancelled":         {"已取消", "cancelled"},
	"place.declined_status":   {"已放弃", "declined"},
	"place.lapsed_status":     {"已过期", "lapsed"},
	"place.waiting_status":    {"候补中", "on the waiting list"},
	"place.offered_status":    {"名额待确认", "place offered"},
	"channel.wechat":          {"微信", "WeChat"},
	"channel.telegram":        {"Telegram", "Telegram"},
	"channel.web":             {"网页聊天", "web chat"},
	"channel.console":         {"终端", "terminal"},
	"channel.sms":             {"短信", "SMS"},
	"flow.consent":            {"个人信息同意", "consent"},
	"flow.erase":              {"删除个人信息", "deleting your data"},
}

var (
	wordsErase  = []string{"删除我的信息", "delete my data", "删除我的数据", "删除个人信息", "删除我的个人信息", "erase my data", "delete my information"}
	wordsExport = []string{"导出我的信息", "export my data", "导出我的数据", "导出个人信息", "导出我的个人信息", "export my information"}
	wordsAgree  = []string{"同意", "agree", "i agree", "我同意", "同意并继续"}
	wordsRefuse = []string{"不同意", "decline", "disagree", "拒绝", "i decline", "我不同意"}
)

// addPrivacy registers the consent question, erasure and export.
func (e *Engine) addPrivacy() {
	e.addFlow(&flow{name: consentFlow, title: "flow.consent", start: "ask", idle: consentIdle, steps: map[string]*step{
		// consentGate answers this step; the entry keeps prompt() working
		// should the flow be reached another way (consent switched off).
		"ask": {ask: func(c *Ctx) []bot.Reply { return e.consentQuestion(c, false) }, handle: func(c *Ctx) result { return done(e.menu(c)...) }},
	}})
	e.addFlow(&flow{name: "erase", title: "flow.erase", start: "confirm", steps: map[string]*step{
		"confirm": {ask: e.askErase, handle: e.handleErase},
	}})
	// Actions, not intents: the words work in the middle of any flow too.
	e.actions = append(e.actions, func(c *Ctx) ([]bot.Reply, bool) {
		switch {
		case c.In.Payload != "":
			return nil, false
		case is(c.In.Norm, wordsErase):
			return e.begin(c, "erase", nil), true
		case is(c.In.Norm, wordsExport):
			// The export repeats everything held about them; logging it
			// would copy it all into the message log staff read.
			c.Turn.NoLog = true
			return e.exportData(c), true
		}
		return nil, false
	})
}

// ---- consent ---------------------------------------------------------------

// pendingMessage is the first message of a resident asked for consent,
// kept in the conversation so that agreeing handles it as if just sent.
type pendingMessage struct {
	Text     string            `json:"text,omitempty"`
	Payload  string            `json:"payload,omitempty"`
	Voice    bool              `json:"voice,omitempty"`
	Image    *bot.Image        `json:"image,omitempty"`
	Location *bot.Location     `json:"location,omitempty"`
	Event    string            `json:"event,omitempty"`
	EventKey string            `json:"event_key,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
}

// consentGate stands before everything else a resident can do: without
// consent (community.require_consent) nothing of theirs is logged and
// the only thing they are offered is the consent question. Staff using the
// desk are not residents and are never gated; staff-group chatter is not a
// conversation, so it is only kept out of the log.
func (e *Engine) consentGate(c *Ctx) ([]bot.Reply, bool) {
	inConsent := c.st.Flow == consentFlow
	consented := !c.Turn.Resident.ConsentAt.IsZero()
	if !inConsent && (consented || !e.cfg.Community.RequireConsent) {
		return nil, false
	}
	if _, staff := e.cfg.staffByIdentity(c.Turn.Channel, c.Turn.UserID); staff || consented {
		if inConsent {
			*c.st = state{}
		}
		return nil, false
	}
	c.Turn.NoLog = true
	m := c.Turn.Message
	if m.Group {
		return nil, false
	}
	if name, args, ok := parseCommand(m.Text); ok && e.staff[name] != nil {
		// A stranger trying a staff command is refused and the attempt
		// audited at once (CONTRACT.md), not kept for after the consent
		// question: the refusal stores nothing of theirs but the attempt.
		return e.runStaff(c, name, args), true
	}
	switch m.Event {
	case "", bot.EventSubscribe, bot.EventStart, bot.EventMenu:
	default:
		return nil, true
	}
	if !inConsent {
		p, _ := json.Marshal(pendingMessage{Text: m.Text, Payload: m.Payload, Voice: m.Voice, Image: m.Image, Location: m.Location,
			Event: m.Event, EventKey: m.EventKey, Params: m.Params})
		*c.st = state{Flow: consentFlow, Step: "ask", ID: randomID(), Data: map[string]string{"pending": string(p)}}
		return e.consentQuestion(c, m.Event == bot.EventSubscribe), true
	}
	if c.st.Paused {
		// Asked long ago: the first message is stale, the answer still counts.
		c.st.Paused, c.st.PausedAt = false, 0
		delete(c.st.Data, "pending")
		delete(c.st.Data, "_expired_notice")
	}
	switch {
	case m.Event != "":
		return e.consentQuestion(c, m.Event == bot.EventSubscribe), true
	case is(c.In.Norm, wordsEnglish), is(c.In.Norm, wordsChinese):
		lang := bot.LangEN
		if is(c.In.Norm, wordsChinese) {
			lang = bot.LangZH
		}
		if err := e.st.SetResidentLanguage(c, c.Turn.Resident.ID, lang); err != nil {
			e.log.Error("consent: language", "err", err)
			return Unavailable(c.Lang), true
		}
		c.Lang = lang
		return e.consentQuestion(c, false), true
	}
	o, ok := choose(c.In, e.consentOptions(c))
	if !ok {
		return append([]bot.Reply{{Text: c.T("privacy.consent_expect")}}, e.consentQuestion(c, false)...), true
	}
	if o.key == "consent:decline" {
		return e.declineConsent(c), true
	}
	return e.agreeConsent(c), true
}

func (e *Engine) consentOptions(c *Ctx) []option {
	return []option{
		{key: "consent:agree", label: c.T("privacy.agree"), words: append(append([]string{}, wordsAgree...), wordsYes...)},
		{key: "consent:decline", label: c.T("privacy.decline"), words: append(append([]string{}, wordsRefuse...), wordsNo...)},
	}
}

// consentQuestion is the notice and its two answers, after the welcome for
// a resident who has just followed the account.
func (e *Engine) consentQuestion(c *Ctx, welcome bool) []bot.Reply {
	keep := c.T("privacy.keep_forever")
	if d := e.cfg.MessageRetentionDays; d > 0 {
		keep = c.T("privacy.keep_days", d)
	}
	var out []bot.Reply
	if welcome {
		out = append(out, bot.Reply{Text: c.T("welcome", e.cfg.Community.Name)})
	}
	return append(out, ask(c.T("privacy.notice", keep, e.cfg.Community.Name), e.consentOptions(c)))
}

// agreeConsent records consent and handles the first message as if it had
// just been sent.
func (e *Engine) agreeConsent(c *Ctx) []bot.Reply {
	now := e.now()
	if err := e.st.SetConsent(c, c.Turn.Resident.ID, now); err != nil {
		e.log.Error("consent", "err", err)
		return Unavailable(c.Lang)
	}
	e.ended(consentFlow, "completed")
	c.Turn.Resident.ConsentAt = now
	c.Turn.NoLog = false // from here on the conversation is kept, like anyone's
	raw := c.Get("pending")
	*c.st = state{}
	out := []bot.Reply{{Text: c.T("privacy.thanks")}}
	var p pendingMessage
	if raw == "" || json.Unmarshal([]byte(raw), &p) != nil {
		return append(out, e.menu(c)...)
	}
	if p.Event == bot.EventSubscribe {
		p.Event = bot.EventStart // the welcome was shown with the question
	}
	m := &c.Turn.Message
	m.Text, m.Payload, m.Voice, m.Image, m.Location = p.Text, p.Payload, p.Voice, p.Image, p.Location
	m.Event, m.EventKey, m.Params, m.ReplyTo = p.Event, p.EventKey, p.Params, ""
	c.In = inputOf(*m)
	return append(out, e.dispatch(c)...)
}

// declineConsent keeps nothing: whatever the resident left (their identity,
// a language choice) is erased, and they are told how to reach the office.
func (e *Engine) declineConsent(c *Ctx) []bot.Reply {
	if err := e.eraseResident(c, c.Turn.Resident.ID); err != nil {
		e.log.Error("consent declined: erase", "err", err)
		return Unavailable(c.Lang)
	}
	e.ended(consentFlow, "cancelled")
	*c.st = state{}
	// One reply: on WeChat a second one would be queued in the outbox,
	// addressed to the openid just erased.
	text := c.T("privacy.declined")
	if e.cfg.Community.Phone != "" {
		text = lines(text, c.T("privacy.office_phone", e.cfg.Community.Phone))
	}
	return []bot.Reply{{Text: text}}
}

// forgetAfter is how long a consent question may go unanswered before what
// the resident left behind (their channel id, their first message) goes.
const forgetAfter = 7 * 24 * time.Hour

// ForgetUnanswered erases residents who were asked for consent and never
// answered within forgetAfter: without consent nothing of theirs may stay.
// A resident who had tickets or places before consent was required keeps
// them; only the first message kept with the question is dropped. The
// scheduler's nightly purge runs it (notify.Forgetter).
func (j *Jobs) ForgetUnanswered(ctx context.Context, now time.Time) error {
	e := j.e
	ids, err := e.st.StaleConversations(ctx, consentFlow, now.Add(-forgetAfter))
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		res, err := e.st.Resident(ctx, id)
		if err != nil || !res.ConsentAt.IsZero() {
			errs = append(errs, err)
			continue
		}
		had, err := e.st.HasHistory(ctx, id)
		switch {
		case err != nil:
			errs = append(errs, err)
		case had:
			errs = append(errs, e.st.DeleteConversation(ctx, id))
		default:
			errs = append(errs, e.eraseResident(ctx, id))
		}
	}
	return errors.Join(errs...)
}

// ---- erasure -------------------------------------------------------------------

func (e *Engine) eraseOptions(c *Ctx) []option {
	return []option{
		{key: "erase:yes", label: c.T("privacy.erase_yes"), words: append([]string{"确认删除", "删除", "delete", "yes, delete"}, wordsYes...)},
		{key: "erase:no", label: c.T("privacy.erase_no"), words: append([]string{"不删除", "保留", "keep", "no, keep it"}, wordsNo...)},
	}
}

func (e *Engine) askErase(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("privacy.erase_confirm"), e.eraseOptions(c))}
}

func (e *Engine) handleErase(c *Ctx) result {
	o, ok := choose(c.In, e.eraseOptions(c))
	if !ok {
		return invalid(c.T("privacy.erase_expect"))
	}
	if o.key == "erase:no" {
		return done(bot.Reply{Text: c.T("privacy.erase_kept")})
	}
	if err := e.eraseResident(c, c.Turn.Resident.ID); err != nil {
		e.log.Error("erase resident", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	c.Turn.NoLog = true // nobody is left to log it for
	return done(bot.Reply{Text: c.T("privacy.erased")})
}

// eraseResident cancels what the resident still has coming (so that the
// waiting lists move up, exactly as if they had cancelled), then erases
// their personal data in one transaction and deletes their photo files.
func (e *Engine) eraseResident(ctx context.Context, residentID int64) error {
	if err := e.releasePlaces(ctx, residentID); err != nil {
		return err
	}
	er, err := e.st.EraseResident(ctx, residentID, e.now())
	if err != nil {
		return err
	}
	if len(er.UploadTokens) > 0 && e.removeUploads != nil {
		if err := e.removeUploads(er.UploadTokens); err != nil {
			// The rows are gone, so nobody can reach the files; say so loudly.
			e.log.Error("erase resident: photo files left on disk", "resident", residentID, "files", len(er.UploadTokens), "err", err)
		}
	}
	e.log.Info("resident erased", "resident", residentID, "identities", er.Identities, "tickets", len(er.Tickets),
		"messages", er.Messages, "outbox_cancelled", er.OutboxCancelled, "photos", len(er.UploadTokens))
	return nil
}

// releasePlaces cancels a resident's bookings and registrations that have
// not started, through the same store calls as a resident's own "cancel"
// (the cancel cut-off does not apply: erasure cannot wait), and offers the
// freed places to the waiting lists.
func (e *Engine) releasePlaces(ctx context.Context, residentID int64) error {
	now := e.now()
	live := []string{store.PlaceConfirmed, store.PlaceWaiting, store.PlaceOffered}
	bs, err := e.st.ResidentBookings(ctx, residentID, now)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if !b.SlotAt.After(now) {
			continue
		}
		svc, _ := e.cfg.service(b.Service)
		_, offered, err := e.st.ReleaseBooking(ctx, store.PlaceRelease{Code: b.Code, ResidentID: residentID, From: live,
			To: store.PlaceCancelled, Capacity: svc.Capacity, OfferFor: e.offerUntil, At: now})
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		e.announceOffers(ctx, offered, nil)
	}
	gs, err := e.st.ResidentRegistrations(ctx, residentID, now)
	if err != nil {
		return err
	}
	for _, g := range gs {
		ev, err := e.st.Event(ctx, g.EventID)
		if err != nil {
			return err
		}
		if !ev.StartsAt.After(now) {
			continue
		}
		_, offered, err := e.st.ReleaseRegistration(ctx, store.PlaceRelease{Code: g.Code, ResidentID: residentID, From: live,
			To: store.PlaceCancelled, OfferFor: e.offerUntil, At: now})
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		e.announceOffers(ctx, nil, offered)
	}
	return nil
}

// ---- export ------------------------------------------------------------------------

// exportData is everything held about the resident, in their language,
// their own phone unmasked, split into replies a chat app accepts.
func (e *Engine) exportData(c *Ctx) []bot.Reply {
	ls, err := e.exportLines(c)
	if err != nil {
		e.log.Error("export", "err", err)
		return Unavailable(c.Lang)
	}
	return packReplies(ls, exportReplyRunes)
}

func (e *Engine) exportLines(c *Ctx) ([]string, error) {
	rid := c.Turn.Resident.ID
	res, err := e.st.Resident(c, rid)
	if err != nil {
		return nil, err
	}
	const layout = "2006-01-02 15:04"
	when := func(t time.Time) string {
		if t.IsZero() {
			return c.T("privacy.export_none")
		}
		return t.In(e.loc).Format(layout)
	}
	orNone := func(s string) string {
		if s == "" {
			return c.T("privacy.export_none")
		}
		return s
	}
	yesNo := func(b bool) string {
		if b {
			return c.T("privacy.export_yes")
		}
		return c.T("privacy.export_no")
	}
	phone := res.Phone
	if v, err := e.st.PhoneVerifiedAt(c, rid); err == nil && !v.IsZero() && phone != "" {
		phone = c.T("privacy.export_verified", phone)
	}
	lang := res.Language
	if lang == "" {
		lang = c.Lang
	}
	ls := []string{
		c.T("privacy.export_title", when(e.now())),
		c.T("privacy.export_profile", orNone(res.Name), orNone(phone), orNone(res.Building), lang, when(res.CreatedAt),
			when(res.ConsentAt), yesNo(res.Unsubscribed)),
	}
	if tags, err := e.st.ResidentTags(c, rid); err != nil {
		return nil, err
	} else if len(tags) > 0 {
		ls = append(ls, c.T("privacy.export_tags", strings.Join(tags, "、")))
	}

	ids, err := e.st.Identities(c, rid)
	if err != nil {
		return nil, err
	}
	ls = append(ls, "", c.T("privacy.export_ids"))
	for _, i := range ids {
		who := i.DisplayName
		if i.Channel != bot.ChannelWeb { // a web identity is a random session name, nothing of theirs
			who = strings.TrimSpace(who + " " + i.ExternalID)
		}
		ls = append(ls, c.T("privacy.export_id_line", e.channelName(c, i.Channel), who, when(i.CreatedAt), when(i.LastInboundAt)))
	}

	ts, err := e.st.ResidentTickets(c, rid, false)
	if err != nil {
		return nil, err
	}
	ls = append(ls, "", c.T("privacy.export_tickets", len(ts)))
	for _, t := range ts {
		ls = append(ls, c.T("privacy.export_ticket", t.Number, e.categoryName(c, t.Category), c.T("status."+t.Status), when(t.CreatedAt)),
			"  "+c.T("ticket.description", clip(t.Description, 500)))
		if p := ticketPlace(c, t); p != "" {
			ls = append(ls, "  "+c.T("ticket.place", p))
		}
		if t.ContactPhone != "" {
			ls = append(ls, "  "+c.T("privacy.export_phone", t.ContactPhone))
		}
		if t.Photo != "" || t.PhotoURL != "" {
			ls = append(ls, "  "+c.T("privacy.export_photo"))
		}
		if t.Rating > 0 {
			ls = append(ls, "  "+c.T("ticket.rating", t.Rating))
		}
		evs, err := e.st.TicketEvents(c, t.ID)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			l := "  " + ev.CreatedAt.In(e.loc).Format("01-02 15:04") + " " + c.T("ev."+ev.Kind)
			if ev.Note != "" {
				l += "：" + clip(ev.Note, 300)
			}
			ls = append(ls, l)
		}
	}

	bs, err := e.st.AllResidentBookings(c, rid)
	if err != nil {
		return nil, err
	}
	ls = append(ls, "", c.T("privacy.export_bookings", len(bs)))
	for _, b := range bs {
		p := e.bookingInfo(c.Lang, b)
		ls = append(ls, strings.Join([]string{b.Code, p.name, e.fmtWhen(c.Lang, b.SlotAt), e.placeStatusWord(c, b.Status)}, " · "))
	}
	gs, err := e.st.AllResidentRegistrations(c, rid)
	if err != nil {
		return nil, err
	}
	ls = append(ls, "", c.T("privacy.export_regs", len(gs)))
	for _, g := range gs {
		p, err := e.registrationInfo(c, c.Lang, g)
		if err != nil {
			return nil, err
		}
		l := strings.Join([]string{g.Code, p.name, e.fmtWhen(c.Lang, p.start), e.placeStatusWord(c, g.Status)}, " · ")
		if g.Companions > 0 {
			l += T(c.Lang, "events.plus", g.Companions)
		}
		if !g.CheckedInAt.IsZero() {
			l += " · " + c.T("privacy.export_checked", when(g.CheckedInAt))
		}
		ls = append(ls, l)
	}

	msgs, err := e.st.RecentMessages(c, rid, exportMessages)
	if err != nil {
		return nil, err
	}
	keep := c.T("privacy.keep_forever")
	if d := e.cfg.MessageRetentionDays; d > 0 {
		keep = c.T("privacy.keep_days", d)
	}
	ls = append(ls, "", c.T("privacy.export_messages", len(msgs), keep))
	for _, m := range msgs {
		dir := c.T("privacy.export_you")
		if m.Direction == store.DirectionOut {
			dir = c.T("privacy.export_us")
		}
		ls = append(ls, m.CreatedAt.In(e.loc).Format("01-02 15:04")+" "+dir+"："+clip(strings.ReplaceAll(m.Text, "\n", " "), 200))
	}
	return append(ls, "", c.T("privacy.export_end")), nil
}

// placeStatusWord names any status of a booking or registration.
func (e *Engine) placeStatusWord(c *Ctx, status string) string {
	switch status {
	case store.PlaceConfirmed:
		return c.T("place.confirmed")
	case store.PlaceCancelled:
		return c.T("place.cancelled")
	case store.PlaceDeclined:
		return c.T("place.declined_status")
	case store.PlaceLapsed:
		return c.T("place.lapsed_status")
	case store.PlaceWaiting:
		return c.T("place.waiting_status")
	case store.PlaceOffered:
		return c.T("place.offered_status")
	}
	return status
}

func (e *Engine) channelName(c *Ctx, ch string) string {
	if _, ok := lookup("channel." + ch); ok {
		return c.T("channel." + ch)
	}
	return ch
}

// packReplies puts lines into as few replies as fit under limit runes
// each; a longer line is cut.
func packReplies(ls []string, limit int) []bot.Reply {
	var out []bot.Reply
	var b strings.Builder
	n := 0
	for _, l := range ls {
		l = clip(l, limit-1)
		ln := utf8.RuneCountInString(l)
		if n > 0 && n+1+ln > limit {
			out = append(out, bot.Reply{Text: strings.TrimRight(b.String(), "\n")})
			b.Reset()
			n = 0
		}
		if n > 0 {
			b.WriteByte('\n')
			n++
		}
		b.WriteString(l)
		n += ln
	}
	if n > 0 {
		out = append(out, bot.Reply{Text: strings.TrimRight(b.String(), "\n")})
	}
	return out
}
