package bot

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"linli/store"
)

// claimingEngine plays a second process that takes the message while this
// one's step is running, then answers and saves a conversation.
type claimingEngine struct {
	other *store.Store
	st    *store.Store
	key   string
}

func (e *claimingEngine) Handle(ctx context.Context, t *Turn) ([]Reply, error) {
	if _, err := e.other.ClaimInbound(context.Background(), t.Channel, e.key, t.At); err != nil {
		return nil, err
	}
	if err := e.st.SaveConversation(ctx, store.Conversation{ResidentID: t.Resident.ID, Flow: "x", State: []byte("{}"), UpdatedAt: t.At}); err != nil {
		return nil, err
	}
	return []Reply{{Text: "done"}}, nil
}

// A message taken by another process during the step is a duplicate here:
// no reply, nothing stored, not even the log.
func TestMessageTakenElsewhereDuringStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linli.db")
	ctx := context.Background()
	open := func() *store.Store {
		st, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st, other := open(), open()
	eng := &claimingEngine{other: other, st: st}
	b := New(st, eng, Options{})
	// The first message of a sender is claimed before the step; the race
	// is about a known sender's later messages.
	eng.key = "unused"
	if _, err := b.Handle(ctx, Message{Channel: ChannelWeChat, UserID: "oA", DedupeKey: "m0", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	id, _ := st.FindIdentity(ctx, ChannelWeChat, "oA")
	st.DeleteConversation(ctx, id.ResidentID)
	before, _ := st.RecentMessages(ctx, id.ResidentID, 10)

	eng.key = "m1"
	rs, err := b.Handle(ctx, Message{Channel: ChannelWeChat, UserID: "oA", DedupeKey: "m1", Text: "again"})
	if !errors.Is(err, ErrDuplicate) || len(rs) != 0 {
		t.Fatalf("%v %v", rs, err)
	}
	if _, err := st.Conversation(ctx, id.ResidentID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the duplicate's conversation was stored: %v", err)
	}
	if after, _ := st.RecentMessages(ctx, id.ResidentID, 10); len(after) != len(before) {
		t.Fatalf("the duplicate was logged: %d lines, had %d", len(after), len(before))
	}
}

// A step that fails still uses up its key: a redelivery is refused.
func TestFailedStepIsNotRunAgain(t *testing.T) {
	rec := &recorder{}
	b, _ := newTestBot(t, rec)
	ctx := context.Background()
	m := Message{Channel: ChannelWeChat, UserID: "oA", DedupeKey: "m0", Text: "hi"}
	b.Handle(ctx, m) // first contact
	rec.fail = errors.New("db down")
	m.DedupeKey = "m1"
	if rs, err := b.Handle(ctx, m); err != nil || len(rs) != 1 {
		t.Fatalf("failed step: %v %v", rs, err)
	}
	rec.fail = nil
	if _, err := b.Handle(ctx, m); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("redelivery of a failed step: %v", err)
	}
	if len(rec.turns) != 2 {
		t.Fatalf("engine ran %d times", len(rec.turns))
	}
}
