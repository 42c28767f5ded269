package telegram

import (
	"context"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// SetSleep replaces the wait before a retry, so tests see the waits asked
// for without spending them.
func SetSleep(c *Channel, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }

// SendMessageJSON is the channel's own sendMessage (call.go).
func SendMessageJSON(ctx context.Context, c *Channel, p *tgbot.SendMessageParams) (*models.Message, error) {
	return c.sendMessage(ctx, p)
}

// Settle waits until every update of u's chat taken so far is handled
// and its replies sent: the webhook answers before the replies go out.
func Settle(c *Channel, u *models.Update) { c.runner.settle(chatKey(u)) }

// SendPhotoJSON is the channel's own sendPhoto (call.go).
func SendPhotoJSON(ctx context.Context, c *Channel, p *tgbot.SendPhotoParams) (*models.Message, error) {
	return c.sendPhoto(ctx, p)
}
