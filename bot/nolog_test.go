package bot

import (
	"context"
	"testing"
)

// quietEngine marks turns whose text is "secret" as not to be logged, as
// flows does for a resident who has not consented yet.
type quietEngine struct{}

func (quietEngine) Handle(_ context.Context, t *Turn) ([]Reply, error) {
	if t.Text == "secret" {
		t.NoLog = true
	}
	return []Reply{{Text: "re " + t.Text}}, nil
}

// TestNoLogTurnLeavesNoMessageLog: a turn the engine marks NoLog is not in
// the message log, in either direction; the next turn is.
func TestNoLogTurnLeavesNoMessageLog(t *testing.T) {
	b, st := newTestBot(t, quietEngine{})
	ctx := context.Background()
	if rs, _ := b.Handle(ctx, Message{Channel: ChannelWeChat, UserID: "oQ", DedupeKey: "m1", Text: "secret"}); len(rs) != 1 || rs[0].Text != "re secret" {
		t.Fatalf("replies %+v", rs)
	}
	b.Handle(ctx, Message{Channel: ChannelWeChat, UserID: "oQ", DedupeKey: "m2", Text: "open"})
	id, err := st.FindIdentity(ctx, ChannelWeChat, "oQ")
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := st.RecentMessages(ctx, id.ResidentID, 10)
	if len(ms) != 2 || ms[0].Text != "open" || ms[1].Text != "re open" {
		t.Fatalf("log %+v", ms)
	}
}
