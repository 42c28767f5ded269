package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// walFrames is the number of frames in the WAL now.
func walFrames(t *testing.T, st *Store) int {
	t.Helper()
	var busy, frames, copied int
	if err := st.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	return frames
}

// Under writes with reads always running, the WAL still starts over once
// it is large, instead of growing for as long as the load lasts.
func TestCheckpointRestartsLargeWAL(t *testing.T) {
	old := walRestartFrames
	walRestartFrames = 64
	t.Cleanup(func() { walRestartFrames = old })
	path := filepath.Join(t.TempDir(), "linli.db")
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()

	// Readers that overlap each other, as under load: some read
	// transaction is open nearly all the time.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tx, err := st.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					continue
				}
				var n int
				tx.QueryRow("SELECT COUNT(*) FROM kv").Scan(&n)
				tx.QueryRow("SELECT COUNT(*) FROM kv WHERE key > 'k'").Scan(&n)
				tx.Rollback()
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	most := 0
	for round := 0; round < 10; round++ {
		for i := 0; i < 40; i++ {
			if err := st.SetValue(ctx, fmt.Sprint("k", round, "-", i), "v", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		st.checkpoint(ctx)
		most = max(most, walFrames(t, st))
	}
	// 400 commits of at least one frame each: without starting over the
	// WAL would hold 400+ frames.
	if most > 200 {
		t.Fatalf("WAL grew to %d frames", most)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() > 64<<20 {
		t.Fatalf("WAL file %v %v", fi, err)
	}
}
