package telegram

import (
	"context"
	"time"
)

// SetSleep replaces the wait before a retry, so tests see the waits asked
// for without spending them.
func SetSleep(c *Channel, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }
