package flows

import (
	"context"
	"errors"

	"linli/store"
)

// addBookingAudiences lets /broadcast reach the registrants of an event
// (by its number or config key) and the residents with an upcoming booking
// of a service (by its key).
func (e *Engine) addBookingAudiences() {
	e.addAudience("event", func(ctx context.Context, key string) ([]int64, error) {
		ev, err := e.FindEvent(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ids, err := e.st.EventRegistrants(ctx, ev.ID)
		if ids == nil && err == nil {
			ids = []int64{}
		}
		return ids, err
	})
	e.addAudience("service", func(ctx context.Context, key string) ([]int64, error) {
		if _, ok := e.cfg.service(key); !ok {
			return nil, nil
		}
		ids, err := e.st.ServiceBookers(ctx, key, e.now())
		if ids == nil && err == nil {
			ids = []int64{}
		}
		return ids, err
	})
}
