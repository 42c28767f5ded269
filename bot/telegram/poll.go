package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-telegram/bot/models"
)

// maxPollBody bounds one getUpdates answer (100 updates of at most a few
// kilobytes each, with room to spare).
const maxPollBody = 16 << 20

// apiError is an error answer to getUpdates.
type apiError struct {
	Code        int
	Description string
	RetryAfter  int
}

func (e *apiError) Error() string {
	return fmt.Sprintf("telegram: getUpdates: %d %s", e.Code, e.Description)
}

// poll receives updates by long polling until ctx ends. Each batch is
// queued per chat, and the next poll, which confirms the batch to
// Telegram, waits until the batch is handled or MaxHold passed: a crash
// then loses at most the updates that took longer than that, where the
// library's own poller loses everything it queued. Redelivered updates are
// recognised by their update_id (the message's DedupeKey).
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
			var ae *apiError
			if errors.As(err, &ae) && ae.RetryAfter > 0 {
				wait = time.Duration(ae.RetryAfter) * time.Second
			}
			c.log.Warn("telegram: poll failed", "err", err, "retry_in", wait)
			if c.sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		backoff = 0
		if len(ups) == 0 {
			continue
		}
		handled := make(chan struct{}, len(ups))
		for _, u := range ups {
			offset = max(offset, u.ID+1)
			c.runner.submit(chatKey(u), func() {
				defer func() { handled <- struct{}{} }()
				c.handle(work, u)
			})
		}
		c.hold(ctx, handled, len(ups))
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

// hold waits until n updates are handled, MaxHold passes or ctx ends.
func (c *Channel) hold(ctx context.Context, handled <-chan struct{}, n int) {
	t := time.NewTimer(c.opt.MaxHold)
	defer t.Stop()
	for ; n > 0; n-- {
		select {
		case <-handled:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// getUpdates is one long poll, made here rather than by the library (which
// has no public call for it). It posts JSON, which the Bot API accepts.
func (c *Channel) getUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]*models.Update, error) {
	body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": int(timeout / time.Second), "allowed_updates": allowedUpdates})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/bot"+c.cfg.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("telegram: getUpdates: %s", c.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.opt.PollClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("telegram: getUpdates: %s", c.redact(err.Error()))
	}
	defer resp.Body.Close()
	var r struct {
		OK          bool             `json:"ok"`
		Result      []*models.Update `json:"result"`
		ErrorCode   int              `json:"error_code"`
		Description string           `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPollBody)).Decode(&r); err != nil {
		return nil, fmt.Errorf("telegram: getUpdates: HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if !r.OK {
		return nil, &apiError{Code: r.ErrorCode, Description: r.Description, RetryAfter: r.Parameters.RetryAfter}
	}
	return r.Result, nil
}
