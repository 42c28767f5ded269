package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the live database to path. It reads one
// snapshot (VACUUM INTO), so writers keep going while it runs and the copy
// holds exactly the transactions committed before it started. The copy is
// written beside path and renamed into place, so path is either the old file
// or a complete new one, never half a backup.
func (s *Store) Backup(ctx context.Context, path string) error {
	if path == "" {
		return errors.New("store: backup: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := s.syncLog(ctx); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	tmp := abs + ".partial"
	os.Remove(tmp)
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
