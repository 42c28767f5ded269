package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"linli/bot"
)

type echo struct{ got []bot.Message }

func (e *echo) Handle(_ context.Context, m bot.Message) ([]bot.Reply, error) {
	e.got = append(e.got, m)
	return []bot.Reply{{Text: "re " + m.Text, Choices: []bot.Choice{{Payload: "x", Label: "X"}}}}, nil
}

func TestRunPrintsEachReplyAndAnEmptyLine(t *testing.T) {
	h := &echo{}
	var out bytes.Buffer
	after := 0
	s := Session{Handler: h, Name: "alice", AfterTurn: func(context.Context) { after++ }}
	if err := s.Run(context.Background(), strings.NewReader("报修\n\n  \nT1001\r\n"), &out); err != nil {
		t.Fatal(err)
	}
	if want := "re 报修\n1. X\n\nre T1001\n1. X\n\n"; out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	if len(h.got) != 2 || h.got[0].Channel != bot.ChannelConsole || h.got[0].UserID != "alice" || after != 2 {
		t.Fatalf("messages %+v, after %d", h.got, after)
	}
}

func TestRunStopsWhenCancelledWhileWaiting(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Session{Handler: &echo{}}).Run(ctx, r, io.Discard) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
