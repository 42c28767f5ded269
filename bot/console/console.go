// Package console is the terminal channel behind `linli chat`: each line of
// input is one message from one resident, and every reply is printed
// followed by an empty line, so a script can drive it through a pipe.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

// Handler is the router (bot.Bot satisfies it).
type Handler interface {
	Handle(ctx context.Context, m bot.Message) ([]bot.Reply, error)
}

// Session is one resident's conversation in the terminal.
type Session struct {
	Handler Handler
	// Store, when set, lets the session show what was queued for this
	// resident while they typed (staff replies, reminders): the console is a
	// pull channel, like the web chat.
	Store *store.Store
	Name  string
	Now   func() time.Time
	// AfterTurn, when set, runs after each message is answered and before
	// held messages are shown: `linli chat` sends the outbox there, so a
	// staff reply, a reminder or a verification code appears without serve.
	AfterTurn func(ctx context.Context)
}

// Run reads messages from in until EOF and writes replies to out.
func (s *Session) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	if s.Name == "" {
		s.Name = "console"
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	// Lines are read in their own goroutine so that an interrupt while the
	// terminal waits for input ends the session at once.
	type line struct {
		text string
		err  error
		eof  bool
	}
	lines := make(chan line)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case lines <- line{text: sc.Text()}:
			case <-ctx.Done():
				return
			}
		}
		select {
		case lines <- line{err: sc.Err(), eof: true}:
		case <-ctx.Done():
		}
	}()
	for {
		var l line
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l = <-lines:
		}
		if l.eof {
			if l.err != nil {
				return fmt.Errorf("console: read: %w", l.err)
			}
			return nil
		}
		text := strings.TrimRight(l.text, "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		replies, err := s.Handler.Handle(ctx, bot.Message{Channel: bot.ChannelConsole, UserID: s.Name, Text: text, At: s.Now()})
		if err != nil && !errors.Is(err, bot.ErrDuplicate) {
			return fmt.Errorf("console: %w", err)
		}
		for _, r := range replies {
			fmt.Fprintf(w, "%s\n\n", r.PlainText())
		}
		if s.AfterTurn != nil {
			s.AfterTurn(ctx)
		}
		if err := s.flushHeld(ctx, w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("console: write: %w", err)
		}
	}
}

// flushHeld prints messages the outbox holds for this console resident and
// marks them sent.
func (s *Session) flushHeld(ctx context.Context, w io.Writer) error {
	if s.Store == nil {
		return nil
	}
	rows, err := s.Store.HeldOutbox(ctx, bot.ChannelConsole, s.Name)
	if err != nil {
		return fmt.Errorf("console: outbox: %w", err)
	}
	for _, r := range rows {
		text := r.Body.Text
		for i, c := range r.Body.Choices {
			text += fmt.Sprintf("\n%d. %s", i+1, c.Label)
		}
		fmt.Fprintf(w, "%s\n\n", text)
		if err := s.Store.FinishOutbox(ctx, r.ID, store.OutboxOutcome{Status: store.OutboxSent, Channel: bot.ChannelConsole, At: s.Now()}); err != nil {
			return fmt.Errorf("console: outbox: %w", err)
		}
	}
	return nil
}
