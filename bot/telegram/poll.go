package telegram

import (
	"context"
	"errors"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// poll receives updates by long polling until ctx ends. Each batch is
// queued per chat, and the next poll, which confirms the batch to
// Telegram, waits until the batch is stored (each turn committed with its
// update_id) or MaxHold passed: a crash then loses at most the updates
// that took longer than that, where the library's own poller loses
// everything it queued. Redelivered updates are recognised by their
// update_id (the message's DedupeKey).
func (c *Channel) poll(ctx context.Context) {
	var offset int64
	backoff := time.Duration(0)
	work := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		ups, err := c.getUpdates(ctx, offset, c.opt.PollTimeout)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			wait := backoff
			var tm *tgbot.TooManyRequestsError
			if errors.As(err, &tm) && tm.RetryAfter > 0 {
				wait = time.Duration(tm.RetryAfter) * time.Second
			}
			c.log.Warn("telegram: poll failed", "err", c.redact(err.Error()), "retry_in", wait)
			if c.sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		backoff = 0
		if len(ups) == 0 {
			continue
		}
		stored := make(chan struct{}, len(ups))
		for _, u := range ups {
			offset = max(offset, u.ID+1)
			c.take(work, u, func() { stored <- struct{}{} })
		}
		c.hold(ctx, stored, len(ups))
	}
	if offset > 0 {
		// Confirm what was taken, so a restart does not see it again.
		confirm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if _, err := c.getUpdates(confirm, offset, 0); err != nil {
			c.log.Warn("telegram: confirm updates", "err", err)
		}
	}
}

// hold waits until n updates are stored, MaxHold passes or ctx ends.
func (c *Channel) hold(ctx context.Context, stored <-chan struct{}, n int) {
	t := time.NewTimer(c.opt.MaxHold)
	defer t.Stop()
	for ; n > 0; n-- {
		select {
		case <-stored:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// getUpdates is one long poll, made here rather than by the library (which
// has no public call for it).
func (c *Channel) getUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]*models.Update, error) {
	var ups []*models.Update
	params := map[string]any{"offset": offset, "timeout": int(timeout / time.Second), "allowed_updates": allowedUpdates}
	if err := c.call(ctx, c.opt.PollClient, "getUpdates", params, &ups); err != nil {
		return nil, err
	}
	return ups, nil
}
