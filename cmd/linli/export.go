package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"linli/store"
)

// exportRegistrations writes the roster of one event as CSV, the same file
// staff get with /event ID csv, to out or to the file outPath.
func exportRegistrations(ctx context.Context, cfg Config, log *slog.Logger, eventRef, outPath string, out io.Writer) error {
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	ev, err := a.engine.FindEvent(ctx, eventRef)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no event %q (give its number as in /event, or its config key)", eventRef)
	}
	if err != nil {
		return err
	}
	_, data, err := a.engine.EventCSV(ctx, cfg.Community.Language, ev.ID)
	if err != nil {
		return err
	}
	if outPath == "" {
		_, err = out.Write(data)
		return err
	}
	// The roster names residents: readable by the operator only.
	return os.WriteFile(outPath, data, 0o600)
}
