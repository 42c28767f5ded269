package bot

import "sync"

// keyedQueue lets one holder per key run at a time and hands the key to
// waiters strictly in the order they asked (sync.Mutex does not promise
// that), so a resident's messages are handled in arrival order while
// different residents run in parallel.
type keyedQueue struct {
	mu   sync.Mutex
	keys map[string]*waiters
}

type waiters struct {
	queue []chan struct{}
}

func newKeyedQueue() *keyedQueue { return &keyedQueue{keys: map[string]*waiters{}} }

// acquire blocks until the key is free for this caller.
func (q *keyedQueue) acquire(key string) {
	q.mu.Lock()
	w, busy := q.keys[key]
	if !busy {
		q.keys[key] = &waiters{}
		q.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	w.queue = append(w.queue, ch)
	q.mu.Unlock()
	<-ch
}

// release hands the key to the next waiter, or frees it.
func (q *keyedQueue) release(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.keys[key]
	if w == nil {
		return
	}
	if len(w.queue) == 0 {
		delete(q.keys, key)
		return
	}
	next := w.queue[0]
	w.queue = w.queue[1:]
	close(next)
}
