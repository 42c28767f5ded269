package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/go-telegram/bot/models"

	"linli/bot"
)

// ServeHTTP is the webhook endpoint (POST telegram.webhook_path). A wrong
// or missing X-Telegram-Bot-Api-Secret-Token is refused with 401 before
// the body is read, so nothing is handled; the body is bounded by
// bot.MaxBody. The answer comes once the update is stored (its turn and
// its update_id committed together), so an update Telegram does not see
// answered is sent again and recognised. The replies go out after the
// answer: a crash between the two loses them whichever comes first, since
// a redelivery would be refused as seen, and Telegram does not hold the
// connection (or the next update) while they are sent. Updates of one chat
// are handled, and answered, in the order they arrive.
func (c *Channel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if c.cfg.WebhookSecret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.cfg.WebhookSecret)) != 1 {
		c.log.Warn("telegram: webhook refused: wrong secret", "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, ok := bot.ReadBody(w, r, bot.MaxBody)
	if !ok {
		return
	}
	u := new(models.Update)
	if err := json.Unmarshal(body, u); err != nil {
		http.Error(w, "not an update", http.StatusBadRequest)
		return
	}
	stored := make(chan struct{})
	c.take(context.WithoutCancel(r.Context()), u, func() { close(stored) })
	select {
	case <-stored:
		w.WriteHeader(http.StatusOK)
	case <-r.Context().Done():
	}
}
