package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// walFileFrames is the most frames the WAL file has held: it is written
// over from the start when the WAL starts over, and not shortened below
// journal_size_limit.
func walFileFrames(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Size() / (4096 + 24))
}

// Under load a short read is nearly always running. SQLite starts the WAL
// over only when a writer begins while no reader uses it, so a read that
// overlaps the first write after each checkpoint keeps the WAL growing for
// as long as the load lasts; the checkpoint must make it start over.
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
	write := func(round int) {
		for i := 0; i < 40; i++ {
			if err := st.SetValue(ctx, fmt.Sprint("k", round, "-", i), "v", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := 0; round < 20; round++ {
		write(round)
		// A reader that began before the checkpoint and ends a moment
		// after it, once the next writes have started.
		tx, err := st.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow("SELECT COUNT(*) FROM kv").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			<-time.After(50 * time.Millisecond)
			tx.Rollback()
		}()
		st.checkpoint(ctx)
		write(100 + round)
		<-ended
	}
	// 800 commits of at least one frame each.
	if n := walFileFrames(t, path); n > 400 {
		t.Fatalf("WAL grew to %d frames", n)
	}
}
