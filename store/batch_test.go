package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func openBatchTest(t *testing.T) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestDeferWritesHoldsUntilFlush(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	res, _, _, err := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, at)
	if err != nil {
		t.Fatal(err)
	}
	dctx := DeferWrites(ctx)
	if err := st.SaveConversation(dctx, Conversation{ResidentID: res.ID, Flow: "report", State: []byte(`{"step":"a"}`), UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.LogMessages(dctx, []LoggedMessage{{ResidentID: res.ID, Direction: DirectionIn, Channel: "wechat", Text: "hi", CreatedAt: at}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Conversation(ctx, res.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("conversation written before the flush: %v", err)
	}
	if ms, _ := st.RecentMessages(ctx, res.ID, 10); len(ms) != 0 {
		t.Fatal("log written before the flush")
	}
	if err := st.FlushWrites(dctx); err != nil {
		t.Fatal(err)
	}
	if c, err := st.Conversation(ctx, res.ID); err != nil || c.Flow != "report" {
		t.Fatalf("after flush: %+v %v", c, err)
	}
	if ms, _ := st.RecentMessages(ctx, res.ID, 10); len(ms) != 1 {
		t.Fatalf("log after flush: %v", ms)
	}
	// Held in order: a save then a delete leaves nothing.
	st.SaveConversation(dctx, Conversation{ResidentID: res.ID, Flow: "x", State: []byte("{}"), UpdatedAt: at})
	st.DeleteConversation(dctx, res.ID)
	if err := st.FlushWrites(dctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Conversation(ctx, res.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("order not kept: %v", err)
	}
	if err := st.FlushWrites(dctx); err != nil {
		t.Fatalf("empty flush: %v", err)
	}
	if err := st.FlushWrites(ctx); err == nil {
		t.Fatal("flush without DeferWrites accepted")
	}
	// A failing write rolls the whole flush back.
	st.LogMessages(dctx, []LoggedMessage{{ResidentID: res.ID, Direction: DirectionIn, Channel: "wechat", Text: "kept?", CreatedAt: at}})
	st.SaveConversation(dctx, Conversation{ResidentID: 999999, Flow: "x", State: []byte("{}"), UpdatedAt: at}) // no such resident
	if err := st.FlushWrites(dctx); err == nil {
		t.Fatal("foreign key violation not reported")
	}
	if ms, _ := st.RecentMessages(ctx, res.ID, 10); len(ms) != 1 {
		t.Fatalf("partial flush: %d lines", len(ms))
	}
}

func TestClaimAndResolve(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	k := IdentityKey{Channel: "wechat", ExternalID: "o1", DisplayName: "张"}
	fresh, res, id, created, err := st.ClaimAndResolve(ctx, "wechat", "msg:1", k, at)
	if err != nil || !fresh || !created || res.ID == 0 || id.ExternalID != "o1" || !id.LastInboundAt.Equal(at) {
		t.Fatalf("first: %v %v %+v %+v %v", fresh, created, res, id, err)
	}
	fresh, res2, _, _, err := st.ClaimAndResolve(ctx, "wechat", "msg:1", k, at.Add(time.Second))
	if err != nil || fresh || res2.ID != 0 {
		t.Fatalf("repeat: %v %+v %v", fresh, res2, err)
	}
	got, _ := st.FindIdentity(ctx, "wechat", "o1")
	if !got.LastInboundAt.Equal(at) {
		t.Fatal("a repeat touched the identity")
	}
	fresh, res3, id3, created, err := st.ClaimAndResolve(ctx, "wechat", "msg:2", k, at.Add(time.Minute))
	if err != nil || !fresh || created || res3.ID != res.ID || !id3.LastInboundAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("second message: %v %v %+v %v", fresh, created, id3, err)
	}
	// The same key on another channel is another message.
	if fresh, _, _, _, err := st.ClaimAndResolve(ctx, "telegram", "msg:1", IdentityKey{Channel: "telegram", ExternalID: "7"}, at); err != nil || !fresh {
		t.Fatalf("other channel: %v %v", fresh, err)
	}
	if _, _, _, _, err := st.ClaimAndResolve(ctx, "wechat", "msg:3", IdentityKey{}, at); err == nil {
		t.Fatal("empty identity accepted")
	}
	var keys int
	st.DB().QueryRow("SELECT COUNT(*) FROM inbound_keys").Scan(&keys)
	if keys != 3 {
		t.Fatalf("%d keys", keys)
	}
}
