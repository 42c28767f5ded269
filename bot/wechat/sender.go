package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/notify"
	"linli/store"
)

// Platform limits of customer-service messages.
const (
	// CSWindow is how long after a resident's last message the account may
	// send them customer-service messages.
	CSWindow = 48 * time.Hour
	// DefaultCSQuota is how many customer-service messages the sender lets
	// follow one resident message before it goes to a template message
	// instead of provoking 45047.
	DefaultCSQuota = 5
)

// SenderStore is what the sender reads and records: the resident's last
// inbound time, the per-window counter, unreachable identities.
// *store.Store satisfies it.
type SenderStore interface {
	FindIdentity(ctx context.Context, channel, externalID string) (store.Identity, error)
	SetIdentityUnreachable(ctx context.Context, channel, externalID string, v bool) error
	GetValue(ctx context.Context, key string) (string, time.Time, error)
	SetValue(ctx context.Context, key, value string, expires time.Time) error
	DeleteValue(ctx context.Context, key string) error
}

// Sender pushes outbox rows to residents over WeChat: a customer-service
// message while the 48-hour window is open and its quota lasts, else the
// configured template message, else an error that says the resident is
// unreachable here so the dispatcher falls through to SMS. It implements
// notify.Sender for the channel "wechat".
type Sender struct {
	api       *Client
	st        SenderStore
	templates Templates
	// Quota is the customer-service messages allowed per window.
	Quota int
	now   func() time.Time
	log   *slog.Logger
}

// NewSender returns a sender over api.
func NewSender(api *Client, st SenderStore, templates Templates, now func() time.Time, log *slog.Logger) *Sender {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sender{api: api, st: st, templates: templates, Quota: DefaultCSQuota, now: now, log: log}
}

var _ notify.Sender = (*Sender)(nil)

// unreachableError says WeChat cannot carry this row to the resident now;
// cause, when set, is the API's answer that decided it (IsCode sees it).
type unreachableError struct {
	reason string
	cause  error
}

func (e *unreachableError) Error() string {
	if e.cause == nil {
		return "wechat: " + e.reason
	}
	return "wechat: " + e.reason + ": " + strings.TrimPrefix(e.cause.Error(), "wechat: ")
}

func (e *unreachableError) Unwrap() error     { return e.cause }
func (e *unreachableError) Unreachable() bool { return true }

// Temporary is false: another try on WeChat fails the same way; the
// dispatcher moves on to the next channel instead.
func (e *unreachableError) Temporary() bool { return false }

// temporary reports an error worth retrying on WeChat itself: busy, an API
// quota, a token problem, the network or a gateway.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// unreachable makes err say Unreachable unless it already does.
func unreachable(reason string, err error) error {
	var u interface{ Unreachable() bool }
	if errors.As(err, &u) && u.Unreachable() {
		return err
	}
	return &unreachableError{reason: reason, cause: err}
}

// Send implements notify.Sender. The provider id is "cs" for a customer-
// service message and "template:MSGID" for a template message, the id its
// delivery report (TEMPLATESENDJOBFINISH) names.
//
// What an error means to the dispatcher: temporary (busy, quota, token,
// network, 5xx) → this row again later; the resident unfollowed or the
// openid is not theirs (43004, 40003) → unreachable, and the identity is
// marked so; any other refusal of the customer-service message (45015,
// 45047, or an errcode about the account or the message, such as 48001 for
// an account without customer-service rights) → the template message; a
// template that is missing or refused for good → unreachable, so the chain
// moves on to SMS rather than failing the row.
func (s *Sender) Send(ctx context.Context, to notify.Recipient, body store.OutboxBody) (string, error) {
	openID := to.Address
	if openID == "" {
		return "", &unreachableError{reason: "no openid"}
	}
	id, err := s.st.FindIdentity(ctx, bot.ChannelWeChat, openID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("wechat: identity: %w", err)
	}
	var csErr error
	text := renderBody(body)
	if text != "" {
		if ok, why := s.windowOpen(ctx, id); !ok {
			csErr = &unreachableError{reason: why}
		} else {
			var sent int
			sent, csErr = s.sendParts(ctx, openID, text)
			if sent > 0 {
				s.count(ctx, id, sent)
			}
			switch {
			case csErr == nil:
				return "cs", nil
			case IsCode(csErr, CodeRequireSubscribe, CodeInvalidOpenID):
				return "", s.gone(ctx, openID, csErr)
			case IsCode(csErr, CodeOutOfQuota):
				s.count(ctx, id, s.Quota) // WeChat's count beats ours
			case IsCode(csErr, CodeOutOfWindow):
			case temporary(csErr):
				// The same call may work later; a template now would
				// most likely meet the same outage.
				return "", csErr
			default:
				// Said once per row: the row may still arrive by template,
				// hiding an account that lacks customer-service rights.
				s.log.Warn("wechat: customer-service message refused, trying the template", "err", csErr)
			}
		}
	}
	tmpl := s.templateFor(body)
	if tmpl == "" {
		if csErr == nil {
			return "", &unreachableError{reason: "nothing to send: no text and no template for " + strconv.Quote(body.Template)}
		}
		return "", unreachable("customer-service message refused and no template", csErr)
	}
	msgID, err := s.api.SendTemplate(ctx, TemplateMessage{ToUser: openID, TemplateID: tmpl, Data: templateData(body)})
	switch {
	case err == nil:
		return "template:" + strconv.FormatInt(msgID, 10), nil
	case IsCode(err, CodeRequireSubscribe, CodeInvalidOpenID):
		return "", s.gone(ctx, openID, err)
	case temporary(err):
		return "", err
	}
	return "", unreachable("template message refused", err)
}

// gone records that the resident unfollowed the account, so nothing more is
// pushed to this identity until they write again.
func (s *Sender) gone(ctx context.Context, openID string, cause error) error {
	if err := s.st.SetIdentityUnreachable(ctx, bot.ChannelWeChat, openID, true); err != nil {
		s.log.Warn("wechat: mark identity unreachable", "err", err)
	}
	return cause
}

// windowOpen decides from the resident's last message and the per-window
// counter whether a customer-service message can go out, so that calls
// known to fail are not made. An identity not seen yet gets the benefit of
// the doubt: WeChat itself will say.
func (s *Sender) windowOpen(ctx context.Context, id store.Identity) (bool, string) {
	if id.ID == 0 {
		return true, ""
	}
	if id.LastInboundAt.IsZero() || s.now().Sub(id.LastInboundAt) > CSWindow {
		return false, "48-hour window closed"
	}
	if s.sentInWindow(ctx, id) >= s.Quota {
		return false, "customer-service quota of this window used up"
	}
	return true, ""
}

func counterKey(openID string) string { return "wechat:cs_count:" + openID }

// sentInWindow reads the counter "WINDOWSTART COUNT"; a counter of an older
// window counts as zero, since every resident message opens a new one.
func (s *Sender) sentInWindow(ctx context.Context, id store.Identity) int {
	v, _, err := s.st.GetValue(ctx, counterKey(id.ExternalID))
	if err != nil {
		return 0
	}
	start, n, ok := strings.Cut(v, " ")
	if !ok || start != strconv.FormatInt(id.LastInboundAt.Unix(), 10) {
		return 0
	}
	count, _ := strconv.Atoi(n)
	return count
}

// count adds n sent messages to the window's counter (n = Quota fills it).
func (s *Sender) count(ctx context.Context, id store.Identity, n int) {
	if id.ID == 0 || id.LastInboundAt.IsZero() {
		return
	}
	total := s.sentInWindow(ctx, id) + n
	if total > s.Quota {
		total = s.Quota
	}
	v := strconv.FormatInt(id.LastInboundAt.Unix(), 10) + " " + strconv.Itoa(total)
	if err := s.st.SetValue(ctx, counterKey(id.ExternalID), v, id.LastInboundAt.Add(CSWindow)); err != nil {
		s.log.Warn("wechat: customer-service counter", "err", err)
	}
}

// templateFor maps the row's template name to the configured template id.
func (s *Sender) templateFor(body store.OutboxBody) string {
	switch body.Template {
	case "ticket_update":
		return s.templates.TicketUpdate
	case "reminder":
		return s.templates.Reminder
	}
	return ""
}

// templateData fills the fields the config comments promise:
// ticket_update: first, keyword1 (ticket), keyword2 (status), remark;
// reminder: first, keyword1 (what), keyword2 (when), remark (where).
func templateData(body store.OutboxBody) map[string]TemplateField {
	p := body.Params
	d := map[string]TemplateField{"first": {Value: clipRunes(body.Text, 100)}}
	switch body.Template {
	case "ticket_update":
		d["keyword1"] = TemplateField{Value: p["ticket"]}
		d["keyword2"] = TemplateField{Value: p["status"]}
		d["remark"] = TemplateField{Value: p["remark"]}
	case "reminder":
		d["keyword1"] = TemplateField{Value: p["name"]}
		d["keyword2"] = TemplateField{Value: p["time"]}
		d["remark"] = TemplateField{Value: p["place"]}
	}
	return d
}

// sendParts sends text as one customer-service message, or several when it
// is longer than WeChat takes, and says how many went out. A failure stops
// at the part that failed; how far it got is recorded, so the row's retry
// starts at that part instead of sending the first ones again. The record
// is keyed by the openid and the text: two identical rows to one resident
// are interchangeable, as the dispatcher sends one target's rows in turn.
func (s *Sender) sendParts(ctx context.Context, openID, text string) (int, error) {
	texts := splitText(text, maxTextBytes)
	if len(texts) == 1 {
		if err := s.api.SendText(ctx, openID, texts[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	parts := bot.Parts{KV: s.st, Log: s.log, Now: s.now, Prefix: "wechat:parts:"}
	key := parts.Key(openID, text)
	done := 0
	if v := parts.Load(ctx, key); len(v) == 1 && v[0] > 0 && v[0] < len(texts) {
		done = v[0]
	}
	sent := 0
	for i := done; i < len(texts); i++ {
		if err := s.api.SendText(ctx, openID, texts[i]); err != nil {
			return sent, err
		}
		sent++
		if i < len(texts)-1 {
			parts.Save(ctx, key, i+1)
		}
	}
	parts.Clear(ctx, key)
	return sent, nil
}

// renderBody is a row as one customer-service text: choices as a numbered
// list (WeChat has no buttons in chat), an image link on its own line.
func renderBody(b store.OutboxBody) string {
	r := bot.Reply{Text: b.Text}
	for _, c := range b.Choices {
		r.Choices = append(r.Choices, bot.Choice{Payload: c.Payload, Label: c.Label})
	}
	s := r.PlainText()
	if b.ImageURL != "" {
		if s != "" {
			s += "\n"
		}
		s += b.ImageURL
	}
	return s
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
