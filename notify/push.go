package notify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"linli/notify/aliyun"
	"linli/store"
)

// SMSReplies handles what residents text back: survey scores and opt-outs
// (flows implements it; the words and the texts are its business).
type SMSReplies interface {
	SMSReply(ctx context.Context, phone, text string, at time.Time) error
}

// AliyunPush serves the two URLs Aliyun pushes to (HTTP batch push mode):
// delivery receipts (SmsReport) and residents' replies (SmsUp). Both are
// guarded by ?key=Secret; with no secret configured every push is refused.
// Aliyun pushes again when the answer is not {"code":0}, so both handlers
// are idempotent.
type AliyunPush struct {
	Secret  string
	Store   *store.Store
	Replies SMSReplies
	Log     *slog.Logger
	Now     func() time.Time
}

// maxPushBody bounds a push; Aliyun sends at most a few hundred items.
const maxPushBody = 1 << 20

var pushOK = []byte(`{"code":0,"msg":"接收成功"}`)

func (p *AliyunPush) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func (p *AliyunPush) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// read checks the key and reads the body; it answers and returns false on
// any problem.
func (p *AliyunPush) read(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	key := r.URL.Query().Get("key")
	if p.Secret == "" || subtle.ConstantTimeCompare([]byte(key), []byte(p.Secret)) != 1 {
		p.log().Warn("sms push refused: wrong key", "path", r.URL.Path)
		http.Error(w, "forbidden", http.StatusForbidden)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}

func answer(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// ReportHandler serves POST /sms/aliyun/report: delivery receipts.
func (p *AliyunPush) ReportHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := p.read(w, r)
		if !ok {
			return
		}
		reports, err := aliyun.ParseReports(body)
		if err != nil {
			p.log().Warn("sms report unreadable", "err", err)
			// Aliyun would push the same bytes again; nothing to gain.
			answer(w, http.StatusBadRequest, []byte(`{"code":1,"msg":"bad request"}`))
			return
		}
		for _, rep := range reports {
			at := rep.ReportTime
			if at.IsZero() {
				at = p.now()
			}
			detail := strings.TrimSpace(rep.ErrCode + " " + rep.ErrMsg)
			n, err := p.Store.RecordSMSReceipt(r.Context(), rep.OutID, rep.BizID, normalizeMobile(rep.Phone), rep.Success, detail, at)
			if err != nil {
				p.log().Error("sms report", "err", err)
				answer(w, http.StatusInternalServerError, []byte(`{"code":1,"msg":"try again"}`))
				return
			}
			p.log().Debug("sms receipt", "to", aliyun.MaskPhone(rep.Phone), "out_id", rep.OutID, "success", rep.Success, "rows", n)
		}
		answer(w, http.StatusOK, pushOK)
	})
}

// ReplyHandler serves POST /sms/aliyun/up: texts residents send back.
func (p *AliyunPush) ReplyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := p.read(w, r)
		if !ok {
			return
		}
		replies, err := aliyun.ParseReplies(body)
		if err != nil {
			p.log().Warn("sms reply unreadable", "err", err)
			answer(w, http.StatusBadRequest, []byte(`{"code":1,"msg":"bad request"}`))
			return
		}
		for _, rep := range replies {
			key := rep.SequenceID
			if key == "" {
				h := sha256.Sum256([]byte(rep.Phone + "\x00" + rep.SendTime.String() + "\x00" + rep.Content))
				key = "h:" + hex.EncodeToString(h[:12])
			}
			at := rep.SendTime
			if at.IsZero() {
				at = p.now()
			}
			fresh, err := p.Store.ClaimInbound(r.Context(), "sms-up", key, p.now())
			if err != nil {
				p.log().Error("sms reply", "err", err)
				answer(w, http.StatusInternalServerError, []byte(`{"code":1,"msg":"try again"}`))
				return
			}
			if !fresh || p.Replies == nil {
				continue
			}
			if err := p.Replies.SMSReply(r.Context(), normalizeMobile(rep.Phone), strings.TrimSpace(rep.Content), at); err != nil {
				// The key is claimed; a retry by Aliyun would be dropped, so
				// the failure is logged for a person rather than retried.
				p.log().Error("sms reply not handled", "from", aliyun.MaskPhone(rep.Phone), "err", err)
			}
		}
		answer(w, http.StatusOK, pushOK)
	})
}

// normalizeMobile drops a +86/0086/86 prefix, as the outbox stores numbers
// without one.
func normalizeMobile(p string) string {
	p = strings.TrimSpace(p)
	for _, prefix := range []string{"+86", "0086", "86"} {
		if len(p) == len(prefix)+11 && strings.HasPrefix(p, prefix) {
			return p[len(prefix):]
		}
	}
	return p
}
