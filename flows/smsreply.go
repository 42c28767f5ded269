package flows

import (
	"context"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

// Residents answer by SMS what they were asked by SMS: the offer of a freed
// place says "回复“接受 CODE”", so that reply must accept it.

// smsOffer runs 接受/放弃 CODE (or a bare 接受/放弃 when one offer is open)
// sent by SMS from phone, for the resident of that phone who owns the
// code, and answers by SMS through the outbox. handled is false when the
// text is no answer to an offer.
func (e *Engine) smsOffer(ctx context.Context, phone string, residents []store.Resident, n string, at time.Time) (handled bool, err error) {
	verb, code := "", ""
	if m := actionRe.FindStringSubmatch(n); m != nil {
		verb, code = "accept", strings.ToUpper(m[2])
		if m[1] == "放弃" || m[1] == "decline" {
			verb = "decline"
		}
	} else if is(n, wordsAccept) {
		verb = "accept"
	} else if is(n, wordsDecline) {
		verb = "decline"
	}
	if verb == "" || len(residents) == 0 {
		return false, nil
	}
	owner := residents[0]
	var text string
	if code == "" {
		var offers []string
		for _, r := range residents {
			c := e.offlineCtx(ctx, r)
			codes, err := e.openOffers(c)
			if err != nil {
				return true, err
			}
			if len(codes) > 0 {
				owner = r
			}
			offers = append(offers, codes...)
		}
		c := e.offlineCtx(ctx, owner)
		switch len(offers) {
		case 0:
			text = c.T("place.no_offer")
		case 1:
			code = offers[0]
		default:
			text = c.T("place.which_offer", offers[0])
		}
	} else if r, ok := e.codeOwner(ctx, code, residents); ok {
		owner = r
	}
	if code != "" {
		c := e.offlineCtx(ctx, owner)
		var rs []bot.Reply
		if verb == "accept" {
			rs = e.acceptOffer(c, code) // an unknown or someone else's code: "没有找到"
		} else {
			rs = e.declineOffer(c, code)
		}
		var ls []string
		for _, r := range rs {
			ls = append(ls, r.Text)
		}
		text = strings.Join(ls, "\n")
	}
	ref := code
	if ref == "" {
		ref = "offer"
	}
	lang := e.residentLang(owner)
	return true, e.out.Enqueue(ctx, store.OutboxRow{Kind: kindReply, ResidentID: owner.ID, TargetChannel: channelSMS, TargetAddress: phone,
		Ref: ref, DedupeKey: "sms-answer:" + phone + ":" + strconv.FormatInt(at.Unix(), 10), DueAt: e.now(),
		Body: store.OutboxBody{Text: text, Template: kindNotice, Params: map[string]string{"content": text}, Lang: lang}})
}

// codeOwner finds which of residents holds a booking or registration code.
func (e *Engine) codeOwner(ctx context.Context, code string, residents []store.Resident) (store.Resident, bool) {
	var rid int64
	if bookingCodeRe.MatchString(code) {
		if b, err := e.st.BookingByCode(ctx, code); err == nil {
			rid = b.ResidentID
		}
	} else if g, err := e.st.RegistrationByCode(ctx, code); err == nil {
		rid = g.ResidentID
	}
	for _, r := range residents {
		if rid != 0 && r.ID == rid {
			return r, true
		}
	}
	return store.Resident{}, false
}

// offlineCtx is a turn-less context for acting as a resident on a message
// that came outside any conversation (an SMS reply).
func (e *Engine) offlineCtx(ctx context.Context, r store.Resident) *Ctx {
	lang := e.residentLang(r)
	return &Ctx{Context: ctx, E: e, Turn: &bot.Turn{Resident: r, Lang: lang}, Lang: lang, st: &state{}}
}
