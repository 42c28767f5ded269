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
// bot.MaxBody. The answer comes after the update is handled, so an update
// Telegram does not see answered is sent again (and recognised by its
// update_id); updates of one chat are handled in the order they arrive.
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
	done := make(chan struct{})
	work := context.WithoutCancel(r.Context())
	c.runner.submit(chatKey(u), func() {
		defer close(done)
		c.handle(work, u)
	})
	select {
	case <-done:
		w.WriteHeader(http.StatusOK)
	case <-r.Context().Done():
	}
}
