package flows

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"linli/bot"
	"linli/store"
)

// Outbox kinds and channels this file enqueues under; notify names the same
// strings (flows does not import notify).
const (
	kindVerifyCode = "verify_code"
	kindSurvey     = "survey"
	kindNotice     = "notice"
	channelSMS     = "sms"
	// StaffChannel addresses the staff group in outbox rows; the wiring
	// registers a sender under this name that knows where the group is.
	StaffChannel = "staff"
)

// Phone binding rules: a 6-digit code, valid 10 minutes, 5 tries; the
// per-number caps are Aliyun's for verification codes.
const (
	codeValid      = 10 * time.Minute
	codeTries      = 5
	codesPerMinute = 1
	codesPerHour   = 5
	codesPerDay    = 10
)

var (
	wordsResend    = []string{"重发", "重新发送", "resend", "again", "再发一次"}
	wordsSubscribe = []string{"订阅", "恢复订阅", "恢复通知", "subscribe", "resubscribe"}
)

// addPhone registers phone binding and the opt-out words.
func (e *Engine) addPhone() {
	e.addIntent(intent{key: "phone", label: "menu.phone", words: wordsPhone, flow: "phone", start: func(c *Ctx) []bot.Reply {
		return e.begin(c, "phone", nil)
	}})
	e.addIntent(intent{key: "unsubscribe", words: wordsUnsubscribe, start: e.unsubscribe})
	e.addIntent(intent{key: "subscribe", words: wordsSubscribe, start: e.resubscribe})
	e.addFlow(&flow{name: "phone", title: "flow.phone", start: "number", steps: map[string]*step{
		"number": {ask: simpleAsk("phone.ask"), handle: e.handlePhoneNumber},
		"code":   {ask: e.askCode, handle: e.handleCode},
	}})
}

func (e *Engine) unsubscribe(c *Ctx) []bot.Reply {
	if err := e.st.SetUnsubscribed(c, c.Turn.Resident.ID, true); err != nil {
		e.log.Error("unsubscribe", "err", err)
		return Unavailable(c.Lang)
	}
	return []bot.Reply{{Text: c.T("unsub.done")}}
}

func (e *Engine) resubscribe(c *Ctx) []bot.Reply {
	if err := e.st.SetUnsubscribed(c, c.Turn.Resident.ID, false); err != nil {
		e.log.Error("resubscribe", "err", err)
		return Unavailable(c.Lang)
	}
	return []bot.Reply{{Text: c.T("unsub.resumed")}}
}

func (e *Engine) handlePhoneNumber(c *Ctx) result {
	p, ok := NormalizePhone(c.In.Raw)
	if !ok || !mobileRe.MatchString(p) {
		return invalid(c.T("phone.expect"))
	}
	if c.Turn.Resident.Phone == p {
		if at, err := e.st.PhoneVerifiedAt(c, c.Turn.Resident.ID); err == nil && !at.IsZero() {
			return done(bot.Reply{Text: c.T("phone.already", MaskPhone(p))})
		}
	}
	if why := e.codeCap(c, p); why != "" {
		return done(bot.Reply{Text: c.T(why)})
	}
	if err := e.sendCode(c, p); err != nil {
		e.log.Error("phone code", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	return next("code")
}

// codeCap names the text of the cap a new code to phone would break, or "".
// Codes asked for count, sent or not, so that nobody can flood a number.
func (e *Engine) codeCap(c *Ctx, phone string) string {
	now := e.now()
	y, m, d := now.In(e.loc).Date()
	for _, lim := range []struct {
		since time.Time
		max   int
		key   string
	}{
		{now.Add(-time.Minute), codesPerMinute, "phone.cap_minute"},
		{now.Add(-time.Hour), codesPerHour, "phone.cap_hour"},
		{time.Date(y, m, d, 0, 0, 0, 0, e.loc), codesPerDay, "phone.cap_day"},
	} {
		n, err := e.st.CountOutboxTo(c, kindVerifyCode, phone, lim.since)
		if err != nil {
			e.log.Error("phone code caps", "err", err)
			return "unavailable"
		}
		if n >= lim.max {
			return lim.key
		}
	}
	return ""
}

// sendCode makes a code, keeps only its hash in the flow, and enqueues the
// SMS to the number being bound (not the resident's current one).
func (e *Engine) sendCode(c *Ctx, phone string) error {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	sends, _ := strconv.Atoi(c.Get("sends"))
	sends++
	row := store.OutboxRow{
		Kind: kindVerifyCode, ResidentID: c.Turn.Resident.ID, TargetChannel: channelSMS, TargetAddress: phone,
		Urgent: true, DueAt: e.now(), DedupeKey: "verify:" + c.FlowID() + ":" + strconv.Itoa(sends),
		Body: store.OutboxBody{Template: kindVerifyCode, Params: map[string]string{"code": code},
			Text: c.T("phone.sms", code), Lang: c.Lang},
	}
	if err := e.out.Enqueue(c, row); err != nil {
		return err
	}
	c.Set("phone", phone)
	c.Set("code_hash", codeHash(c.FlowID(), code))
	c.Set("code_exp", strconv.FormatInt(e.now().Add(codeValid).Unix(), 10))
	c.Set("tries", "0")
	c.Set("sends", strconv.Itoa(sends))
	return nil
}

func codeHash(flowID, code string) string {
	h := sha256.Sum256([]byte(flowID + ":" + code))
	return hex.EncodeToString(h[:])
}

func (e *Engine) askCode(c *Ctx) []bot.Reply {
	return []bot.Reply{{Text: c.T("phone.sent", MaskPhone(c.Get("phone")))}}
}

func (e *Engine) handleCode(c *Ctx) result {
	phone := c.Get("phone")
	if is(c.In.Norm, wordsResend) {
		if why := e.codeCap(c, phone); why != "" {
			return invalid(c.T(why))
		}
		if err := e.sendCode(c, phone); err != nil {
			e.log.Error("phone code", "err", err)
			return stay(Unavailable(c.Lang)...)
		}
		return stay()
	}
	code := c.In.Norm
	if len(code) != 6 || !isDigits(code) {
		return invalid(c.T("phone.expect_code"))
	}
	exp, _ := strconv.ParseInt(c.Get("code_exp"), 10, 64)
	if e.now().Unix() > exp {
		return invalid(c.T("phone.expired"))
	}
	if subtle.ConstantTimeCompare([]byte(codeHash(c.FlowID(), code)), []byte(c.Get("code_hash"))) != 1 {
		tries, _ := strconv.Atoi(c.Get("tries"))
		tries++
		c.Set("tries", strconv.Itoa(tries))
		if tries >= codeTries {
			return done(bot.Reply{Text: c.T("phone.too_many")})
		}
		// Not the engine's invalid(): five tries are the code's own limit.
		return stay(bot.Reply{Text: c.T("phone.wrong", codeTries-tries)})
	}
	merged, err := e.st.BindPhone(c, c.Turn.Resident.ID, phone, e.now())
	if err != nil {
		e.log.Error("bind phone", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	out := []bot.Reply{{Text: c.T("phone.done", MaskPhone(phone))}}
	if len(merged) > 0 {
		e.log.Info("residents merged by phone binding", "into", c.Turn.Resident.ID, "from", merged)
		out = append(out, bot.Reply{Text: c.T("phone.merged")})
	}
	return done(out...)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
