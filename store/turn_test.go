package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// openTwo opens one database file twice, as two processes would.
func openTwo(t *testing.T) (*Store, *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "linli.db")
	a, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func countKeys(t *testing.T, st *Store, key string) int {
	t.Helper()
	var n int
	if err := st.db.QueryRow("SELECT COUNT(*) FROM inbound_keys WHERE key = ?", key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStartTurnFirstContactAndRepeat(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	k := IdentityKey{Channel: "wechat", ExternalID: "o1", DisplayName: "张"}
	tctx, ts, err := st.StartTurn(ctx, "wechat", "m1", k, at)
	if err != nil || ts.Seen || !ts.Created || ts.Resident.ID == 0 || ts.Identity.ExternalID != "o1" {
		t.Fatalf("first contact: %+v %v", ts, err)
	}
	// A first contact is claimed at once: there is nothing to be atomic with.
	if countKeys(t, st, "m1") != 1 {
		t.Fatal("first contact's key not claimed")
	}
	if _, err := st.Conversation(tctx, ts.Resident.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("new resident's conversation: %v", err)
	}
	if err := st.FlushWrites(tctx); err != nil {
		t.Fatal(err)
	}
	if _, ts2, err := st.StartTurn(ctx, "wechat", "m1", k, at); err != nil || !ts2.Seen {
		t.Fatalf("repeat: %+v %v", ts2, err)
	}
	// Without a key nothing is de-duplicated.
	if _, ts3, err := st.StartTurn(ctx, "wechat", "", k, at); err != nil || ts3.Seen || ts3.Created || ts3.Resident.ID != ts.Resident.ID {
		t.Fatalf("no key: %+v %v", ts3, err)
	}
	if _, _, err := st.StartTurn(ctx, "wechat", "m9", IdentityKey{}, at); err == nil {
		t.Fatal("empty identity accepted")
	}
}

// A known sender's turn writes nothing until FlushWrites, which commits the
// claim, the identity's touch and the held writes together.
func TestStartTurnHoldsClaimUntilFlush(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	res, _, _, err := st.ResolveIdentity(ctx, IdentityKey{Channel: "telegram", ExternalID: "7", ChatID: "7"}, at)
	if err != nil {
		t.Fatal(err)
	}
	st.SetIdentityUnreachable(ctx, "telegram", "7", true)
	st.SaveConversation(ctx, Conversation{ResidentID: res.ID, Flow: "report", State: []byte(`{"step":"a"}`), UpdatedAt: at})

	later := at.Add(time.Minute)
	tctx, ts, err := st.StartTurn(ctx, "telegram", "u1", IdentityKey{Channel: "telegram", ExternalID: "7", ChatID: "7", DisplayName: "Li"}, later)
	if err != nil || ts.Seen || ts.Created || ts.Resident.ID != res.ID {
		t.Fatalf("start: %+v %v", ts, err)
	}
	if !ts.Identity.LastInboundAt.Equal(later) || ts.Identity.Unreachable || ts.Identity.DisplayName != "Li" {
		t.Fatalf("turn's identity not touched: %+v", ts.Identity)
	}
	// The engine's load is answered from the turn's read, once.
	c, err := st.Conversation(tctx, res.ID)
	if err != nil || c.Flow != "report" || string(c.State) != `{"step":"a"}` || !c.UpdatedAt.Equal(at) {
		t.Fatalf("preloaded conversation: %+v %v", c, err)
	}
	if _, ok := preloaded(tctx, res.ID); ok {
		t.Fatal("preloaded conversation served twice")
	}
	if err := st.SaveConversation(tctx, Conversation{ResidentID: res.ID, Flow: "report", State: []byte(`{"step":"b"}`), UpdatedAt: later}); err != nil {
		t.Fatal(err)
	}
	if countKeys(t, st, "u1") != 0 {
		t.Fatal("key claimed before the flush")
	}
	if id, _ := st.FindIdentity(ctx, "telegram", "7"); !id.Unreachable || id.LastInboundAt.Equal(later) {
		t.Fatalf("identity touched before the flush: %+v", id)
	}
	if err := st.FlushWrites(tctx); err != nil {
		t.Fatal(err)
	}
	if countKeys(t, st, "u1") != 1 {
		t.Fatal("key not claimed by the flush")
	}
	id, _ := st.FindIdentity(ctx, "telegram", "7")
	if id.Unreachable || !id.LastInboundAt.Equal(later) || id.DisplayName != "Li" || !reflect.DeepEqual(id, ts.Identity) {
		t.Fatalf("identity after the flush: %+v, turn saw %+v", id, ts.Identity)
	}
	if c, _ := st.Conversation(ctx, res.ID); string(c.State) != `{"step":"b"}` {
		t.Fatalf("conversation %s", c.State)
	}
	// A second flush writes nothing again.
	if err := st.FlushWrites(tctx); err != nil {
		t.Fatal(err)
	}
}

// The turn's resident and identity are exactly what Resident and
// FindIdentity read.
func TestStartTurnReadsWholeRows(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	res, _, _, err := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o2", ChatID: "c", DisplayName: "王"}, at)
	if err != nil {
		t.Fatal(err)
	}
	st.SetResidentLanguage(ctx, res.ID, "en")
	st.SetResidentPhone(ctx, res.ID, "13812345678")
	st.SetResidentBuilding(ctx, res.ID, "3号楼")
	st.SetUnsubscribed(ctx, res.ID, true)
	st.SetConsent(ctx, res.ID, at.Add(time.Hour))
	st.db.Exec("UPDATE residents SET name = '王阿姨' WHERE id = ?", res.ID)
	_, ts, err := st.StartTurn(ctx, "wechat", "m1", IdentityKey{Channel: "wechat", ExternalID: "o2"}, at)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := st.Resident(ctx, res.ID)
	if !reflect.DeepEqual(ts.Resident, want) || want.Name != "王阿姨" || want.ConsentAt.IsZero() {
		t.Fatalf("resident %+v, want %+v", ts.Resident, want)
	}
	wantID, _ := st.FindIdentity(ctx, "wechat", "o2")
	if !reflect.DeepEqual(ts.Identity, wantID) {
		t.Fatalf("identity %+v, want %+v", ts.Identity, wantID)
	}
}

// Another process claiming the key while the step runs wins: the turn's
// flush stores nothing and reports ErrClaimed.
func TestFlushLosesClaimToAnotherProcess(t *testing.T) {
	a, b := openTwo(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	k := IdentityKey{Channel: "wechat", ExternalID: "o1"}
	res, _, _, err := a.ResolveIdentity(ctx, k, at)
	if err != nil {
		t.Fatal(err)
	}
	tctx, ts, err := a.StartTurn(ctx, "wechat", "m1", k, at.Add(time.Minute))
	if err != nil || ts.Seen {
		t.Fatalf("start: %+v %v", ts, err)
	}
	if fresh, err := b.ClaimInbound(ctx, "wechat", "m1", at); err != nil || !fresh {
		t.Fatalf("other process: %v %v", fresh, err)
	}
	a.SaveConversation(tctx, Conversation{ResidentID: res.ID, Flow: "report", State: []byte("{}"), UpdatedAt: at})
	if err := a.FlushWrites(tctx); !errors.Is(err, ErrClaimed) {
		t.Fatalf("flush: %v", err)
	}
	if _, err := a.Conversation(ctx, res.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a duplicate's conversation was stored: %v", err)
	}
	if id, _ := a.FindIdentity(ctx, "wechat", "o1"); !id.LastInboundAt.Equal(at) {
		t.Fatal("a duplicate touched the identity")
	}
	if err := a.FlushWrites(tctx); !errors.Is(err, ErrClaimed) {
		t.Fatalf("second flush: %v", err)
	}
}

// A write the step makes at once carries the claim, so it is never stored
// without the key; the flush then writes the rest without claiming again.
func TestImmediateWriteCarriesClaim(t *testing.T) {
	a, b := openTwo(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	k := IdentityKey{Channel: "wechat", ExternalID: "o1"}
	res, _, _, _ := a.ResolveIdentity(ctx, k, at)

	tctx, _, err := a.StartTurn(ctx, "wechat", "m1", k, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetResidentLanguage(tctx, res.ID, "en"); err != nil {
		t.Fatal(err)
	}
	if countKeys(t, a, "m1") != 1 {
		t.Fatal("immediate write stored without its key")
	}
	if _, _, err := a.CreateTicket(tctx, NewTicket{ResidentID: res.ID, Category: "other", Description: "x", Channel: "wechat", DueAt: at}); err != nil {
		t.Fatalf("second immediate write: %v", err)
	}
	a.SaveConversation(tctx, Conversation{ResidentID: res.ID, Flow: "report", State: []byte("{}"), UpdatedAt: at})
	if err := a.FlushWrites(tctx); err != nil {
		t.Fatalf("flush after the claim went: %v", err)
	}
	if _, err := a.Conversation(ctx, res.ID); err != nil {
		t.Fatal(err)
	}

	// Claimed elsewhere first: the immediate write fails and stores nothing.
	tctx, _, err = a.StartTurn(ctx, "wechat", "m2", k, at)
	if err != nil {
		t.Fatal(err)
	}
	b.ClaimInbound(ctx, "wechat", "m2", at)
	if err := a.SetResidentLanguage(tctx, res.ID, "zh-CN"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("write of a duplicate: %v", err)
	}
	if r, _ := a.Resident(ctx, res.ID); r.Language != "en" {
		t.Fatalf("a duplicate's write was stored: %q", r.Language)
	}
	if err := a.FlushWrites(tctx); !errors.Is(err, ErrClaimed) {
		t.Fatalf("flush of a duplicate: %v", err)
	}
}

// A failed step keeps its claim and nothing else.
func TestDiscardWritesKeepsClaim(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	k := IdentityKey{Channel: "wechat", ExternalID: "o1"}
	res, _, _, _ := st.ResolveIdentity(ctx, k, at)
	tctx, _, _ := st.StartTurn(ctx, "wechat", "m1", k, at)
	st.SaveConversation(tctx, Conversation{ResidentID: res.ID, Flow: "report", State: []byte("{}"), UpdatedAt: at})
	DiscardWrites(tctx)
	if err := st.FlushWrites(tctx); err != nil {
		t.Fatal(err)
	}
	if countKeys(t, st, "m1") != 1 {
		t.Fatal("failed step's key not kept")
	}
	if _, err := st.Conversation(ctx, res.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("failed step's conversation stored")
	}
}
