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

// loadRounds runs rounds of load as a server under load sees it: writes,
// then a checkpoint while a reader that began before it ends a moment
// after it began, then more writes. busy says whether the write lock counts
// as held all round (so checkpoint may wait to start the WAL over) or the
// round as quiet.
func loadRounds(t *testing.T, st *Store, rounds, perWrite int, busy bool) {
	t.Helper()
	ctx := context.Background()
	write := func(round int) {
		for i := 0; i < perWrite; i++ {
			if err := st.SetValue(ctx, fmt.Sprint("k", round, "-", i), "v", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := 0; round < rounds; round++ {
		write(round)
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
		st.ckpt.mu.Lock()
		if busy {
			st.ckpt.held -= time.Hour
		} else {
			st.ckpt.at = time.Time{} // nothing to compare with: quiet
		}
		st.ckpt.mu.Unlock()
		st.checkpoint(ctx)
		write(1000 + round)
		<-ended
	}
}

// openForCheckpoints opens n stores whose WAL starts over above frames,
// with no background checkpoints, and returns them with their paths.
func openForCheckpoints(t *testing.T, frames, n int) ([]*Store, []string) {
	t.Helper()
	oldFrames, oldInterval := walRestartFrames, checkpointInterval
	walRestartFrames, checkpointInterval = frames, time.Hour
	t.Cleanup(func() { walRestartFrames, checkpointInterval = oldFrames, oldInterval })
	var stores []*Store
	var paths []string
	for range n {
		path := filepath.Join(t.TempDir(), "linli.db")
		st, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores, paths = append(stores, st), append(paths, path)
	}
	return stores, paths
}

// Under load a short read is nearly always running. SQLite starts the WAL
// over only when a writer begins while no reader uses it, so a read that
// overlaps the first write after each checkpoint keeps the WAL growing for
// as long as the load lasts; the checkpoint must make it start over.
func TestCheckpointRestartsLargeWAL(t *testing.T) {
	st, path := openForCheckpoints(t, 64, 1)
	loadRounds(t, st[0], 20, 40, false)
	// 800 commits of at least one frame each.
	if n := walFileFrames(t, path[0]); n > 400 {
		t.Fatalf("WAL grew to %d frames", n)
	}
}

// TestCheckpointWaitsWhileWritersAreBusy: starting the WAL over holds every
// writer up, so while the write lock was busy for most of the last round
// the WAL may grow to four times walRestartFrames first, and no further;
// the same load in quiet rounds keeps it near walRestartFrames.
func TestCheckpointWaitsWhileWritersAreBusy(t *testing.T) {
	const frames = 64
	st, path := openForCheckpoints(t, frames, 2)
	loadRounds(t, st[0], 30, 10, true)
	if n := walFileFrames(t, path[0]); n < 3*frames || n > 4*frames+100 {
		t.Fatalf("busy: the WAL grew to %d frames, want between %d and %d", n, 3*frames, 4*frames+100)
	}
	loadRounds(t, st[1], 30, 10, false)
	if n := walFileFrames(t, path[1]); n >= 3*frames {
		t.Fatalf("quiet: the WAL grew to %d frames", n)
	}
}
