package store

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupUnderWriteLoad takes a backup while tickets are being written and
// restores it: every ticket committed before the backup began is there.
func TestBackupUnderWriteLoad(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	r, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "console", ExternalID: "a"}, time.Now())

	var (
		mu        sync.Mutex
		committed []string
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tk, _, err := s.CreateTicket(ctx, NewTicket{ResidentID: r.ID, Category: "repairs", Description: "load", DueAt: time.Now()})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed = append(committed, tk.Number)
				mu.Unlock()
			}
		}()
	}
	// Let some load build up, then snapshot what is committed and back up.
	for {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n >= 200 {
			break
		}
		<-time.After(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), committed...)
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "backups", "linli-backup.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()

	// Restoring is opening the copy in place of the database.
	restored, err := Open(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	for _, n := range before {
		if _, err := restored.Ticket(ctx, n); err != nil {
			t.Fatalf("ticket %s committed before the backup is missing: %v", n, err)
		}
	}
	var inBackup int
	restored.DB().QueryRow("SELECT COUNT(*) FROM tickets").Scan(&inBackup)
	if inBackup < len(before) {
		t.Fatalf("%d tickets in backup, %d committed before", inBackup, len(before))
	}
	if err := restored.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var check string
	restored.DB().QueryRow("PRAGMA integrity_check").Scan(&check)
	if check != "ok" {
		t.Fatalf("integrity_check: %s", check)
	}
	t.Logf("%d tickets committed before the backup, %d in it, %d written in all", len(before), inBackup, len(committed))
}
