package bot

import "runtime"

func runtimeGosched() { runtime.Gosched() }
