package telegram

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// runner handles jobs one at a time per chat, in the order they were
// submitted, and different chats in parallel. A chat with work has one
// goroutine draining its queue; it ends when the queue is empty.
type runner struct {
	log   *slog.Logger
	mu    sync.Mutex
	chats map[int64][]func()
	wg    sync.WaitGroup
	// quiet is signalled whenever a chat's queue runs empty.
	quiet *sync.Cond
}

func newRunner(log *slog.Logger) *runner {
	r := &runner{log: log, chats: map[int64][]func(){}}
	r.quiet = sync.NewCond(&r.mu)
	return r
}

// submit queues job behind the chat's earlier jobs. It never blocks.
func (r *runner) submit(chat int64, job func()) {
	r.wg.Add(1)
	r.mu.Lock()
	q, busy := r.chats[chat]
	r.chats[chat] = append(q, job)
	r.mu.Unlock()
	if !busy {
		go r.drain(chat)
	}
}

func (r *runner) drain(chat int64) {
	for {
		r.mu.Lock()
		q := r.chats[chat]
		if len(q) == 0 {
			delete(r.chats, chat)
			r.quiet.Broadcast()
			r.mu.Unlock()
			return
		}
		job := q[0]
		q[0] = nil
		r.chats[chat] = q[1:]
		r.mu.Unlock()
		r.run(job)
		r.wg.Done()
	}
}

// run calls one job; a panic is logged (without the update, which may
// hold a resident's words) and the chat's next job runs.
func (r *runner) run(job func()) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("telegram: update handler panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	job()
}

// wait returns when every submitted job has run.
func (r *runner) wait() { r.wg.Wait() }

// settle returns once chat has no work, including jobs submitted for it
// while it waits. Unlike wait it may be called while others submit: the
// webhook answers before a turn's replies are sent, and tests settle a
// chat to see them.
func (r *runner) settle(chat int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if _, busy := r.chats[chat]; !busy {
			return
		}
		r.quiet.Wait()
	}
}
