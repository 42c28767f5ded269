package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// hold puts lines in the waiting batch without waking logLoop, so a test
// decides what writes them.
func hold(st *Store, lines ...LoggedMessage) {
	st.logBuf.mu.Lock()
	st.logBuf.lines = append(st.logBuf.lines, lines...)
	st.logBuf.mu.Unlock()
}

func logCount(t *testing.T, st *Store) int {
	t.Helper()
	var n int
	if err := st.db.QueryRow("SELECT COUNT(*) FROM message_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A committed turn's lines reach the table by themselves, soon: another
// process sees them without this one reading anything.
func TestTurnLinesAppendedSoon(t *testing.T) {
	a, b := openTwo(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	res, _, _, _ := a.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	tctx, _, _ := a.StartTurn(ctx, "wechat", "m1", IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	a.LogMessages(tctx, []LoggedMessage{{ResidentID: res.ID, Direction: DirectionIn, Channel: "wechat", Text: "hi", CreatedAt: at}})
	if err := a.FlushWrites(tctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for logCount(t, b) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the turn's line never reached the table")
		}
		select {
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Every other write goes after the waiting lines, inside its own
// transaction: a merge moves lines that were still waiting, a purge sees
// them.
func TestWritesComeAfterWaitingLines(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	from, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	into, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "telegram", ExternalID: "7"}, at)
	hold(st, LoggedMessage{ResidentID: from.ID, Direction: DirectionIn, Channel: "wechat", Text: "waiting", CreatedAt: at})
	if err := st.MergeResidents(ctx, into.ID, from.ID); err != nil {
		t.Fatal(err)
	}
	if st.logBuf.waiting() != 0 {
		t.Fatal("the merge left the line waiting")
	}
	ms, _ := st.RecentMessages(ctx, into.ID, 10)
	if len(ms) != 1 || ms[0].Text != "waiting" {
		t.Fatalf("merged history %+v", ms)
	}
	// A single statement (exec) carries them as well.
	hold(st, LoggedMessage{ResidentID: into.ID, Direction: DirectionIn, Channel: "wechat", Text: "old", CreatedAt: at})
	if n, err := st.PurgeMessages(ctx, at.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("purge removed %d: %v", n, err)
	}
}

// A line whose resident is gone is dropped; the rest of its batch is kept.
func TestLineOfGoneResidentDropped(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	r, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	hold(st,
		LoggedMessage{ResidentID: 999999, Direction: DirectionIn, Channel: "wechat", Text: "orphan", CreatedAt: at},
		LoggedMessage{ResidentID: r.ID, Direction: DirectionIn, Channel: "wechat", Text: "kept", CreatedAt: at})
	ms, err := st.RecentMessages(ctx, r.ID, 10)
	if err != nil || len(ms) != 1 || ms[0].Text != "kept" || logCount(t, st) != 1 {
		t.Fatalf("%+v %v", ms, err)
	}
}

// A transaction that fails keeps the lines it carried waiting.
func TestFailedWriteKeepsLinesWaiting(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	r, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	hold(st, LoggedMessage{ResidentID: r.ID, Direction: DirectionIn, Channel: "wechat", Text: "a", CreatedAt: at})
	boom := errors.New("boom")
	if err := st.tx(ctx, func(*sql.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if st.logBuf.waiting() != 1 || logCount(t, st) != 0 {
		t.Fatalf("%d waiting, %d stored", st.logBuf.waiting(), logCount(t, st))
	}
	// DB() shows a complete table.
	var n int
	st.DB().QueryRow("SELECT COUNT(*) FROM message_log").Scan(&n)
	if n != 1 {
		t.Fatalf("DB() shows %d lines", n)
	}
}

// Close writes what is waiting.
func TestCloseAppendsWaitingLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linli.db")
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1714112445, 0)
	r, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	hold(st, LoggedMessage{ResidentID: r.ID, Direction: DirectionIn, Channel: "wechat", Text: "last", CreatedAt: at})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ms, _ := st.RecentMessages(ctx, r.ID, 10); len(ms) != 1 {
		t.Fatalf("after restart: %+v", ms)
	}
}

// Lines another flush has taken are waited for by a reader: RecentMessages
// right after a turn saw the turn's lines missing while logLoop's
// transaction was still committing them.
func TestReadersWaitForLinesInFlight(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	r, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	hold(st, LoggedMessage{ResidentID: r.ID, Direction: DirectionIn, Channel: "wechat", Text: "hi", CreatedAt: at})
	// Another flush takes the line and is held before its commit.
	lines, batch := st.logBuf.take(0)
	got := make(chan int, 1)
	go func() {
		ms, err := st.RecentMessages(ctx, r.ID, 10)
		if err != nil {
			t.Error(err)
		}
		got <- len(ms)
	}()
	// It waits for that batch (and has not answered).
	for deadline := time.Now().Add(10 * time.Second); ; {
		st.logBuf.mu.Lock()
		waiting := st.logBuf.waiters
		st.logBuf.mu.Unlock()
		if waiting == 1 {
			break
		}
		select {
		case n := <-got:
			t.Fatalf("RecentMessages answered with %d lines while one was being written", n)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("RecentMessages neither answered nor waited")
		}
	}
	if err := st.groupTx(ctx, func(tx *sql.Tx) error { return st.logMessagesTx(ctx, tx, lines) }); err != nil {
		t.Fatal(err)
	}
	st.logBuf.settle(batch)
	if n := <-got; n != 1 {
		t.Fatalf("RecentMessages found %d lines", n)
	}
}

// The waiting lines are bounded while the database refuses them.
func TestLogBufferBounded(t *testing.T) {
	b := newLogBuffer()
	line := LoggedMessage{Text: "x"}
	for i := 0; i < logMaxWaiting+10; i++ {
		b.add([]LoggedMessage{line})
	}
	if b.waiting() != logMaxWaiting {
		t.Fatalf("%d waiting", b.waiting())
	}
	got, batch := b.take(5)
	b.putBack(got, batch)
	b.putBack([]LoggedMessage{line}, 0)
	if b.waiting() != logMaxWaiting {
		t.Fatalf("%d waiting after put back", b.waiting())
	}
}

// A chunk of lines goes in one statement; with a gone resident in it, the
// others are still appended, in order.
func TestLogChunkWithGoneResident(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	r, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	line := func(text string, resident int64) LoggedMessage {
		return LoggedMessage{ResidentID: resident, Direction: DirectionIn, Channel: "wechat", Text: text, CreatedAt: at}
	}
	var want []string
	// A clean chunk and a few more, then a chunk with a gone resident.
	for i := 0; i < logChunk+3; i++ {
		hold(st, line(fmt.Sprint("a", i), r.ID))
		want = append(want, fmt.Sprint("a", i))
	}
	for i := 0; i < logChunk; i++ {
		if i == 5 {
			hold(st, line("orphan", 999999))
			continue
		}
		hold(st, line(fmt.Sprint("b", i), r.ID))
		want = append(want, fmt.Sprint("b", i))
	}
	ms, err := st.RecentMessages(ctx, r.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Text)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || logCount(t, st) != len(want) {
		t.Fatalf("stored %v\nwant %v", got, want)
	}
}
