package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Concurrent callers share commits; a failing member rolls back only its
// own part.
func TestGroupCommitIsolatesMembers(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	at := time.Unix(1714112445, 0)
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%10 == 0 {
				// A member that fails after writing: its log line must go too.
				d := DeferWrites(ctx)
				st.LogMessages(d, []LoggedMessage{{Direction: DirectionIn, Channel: "wechat", Text: "doomed", CreatedAt: at}})
				st.SaveConversation(d, Conversation{ResidentID: 999999, Flow: "x", State: []byte("{}"), UpdatedAt: at})
				errs[i] = st.FlushWrites(d)
				return
			}
			fresh, res, _, _, err := st.ClaimAndResolve(ctx, "wechat", fmt.Sprint("msg:", i), IdentityKey{Channel: "wechat", ExternalID: fmt.Sprint("o", i)}, at)
			if err == nil && (!fresh || res.ID == 0) {
				err = fmt.Errorf("fresh %v, resident %d", fresh, res.ID)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	var keys, ids, doomed int
	st.DB().QueryRow("SELECT COUNT(*) FROM inbound_keys").Scan(&keys)
	st.DB().QueryRow("SELECT COUNT(*) FROM identities").Scan(&ids)
	st.DB().QueryRow("SELECT COUNT(*) FROM message_log WHERE text = 'doomed'").Scan(&doomed)
	if keys != n-n/10 || ids != n-n/10 || doomed != 0 {
		t.Fatalf("%d keys, %d identities, %d doomed lines", keys, ids, doomed)
	}
}
