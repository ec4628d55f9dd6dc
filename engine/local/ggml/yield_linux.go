package ggml

import "syscall"

// osYield gives the core to another runnable thread, if the OS has one
// waiting on it (another process, or a pool thread it preempted).
func osYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
