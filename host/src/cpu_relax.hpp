// The instruction a spinning thread executes between looks at a shared word: it tells the core
// (and a hyperthread sibling) that this is a wait loop. Shared by the thread pool and the process
// pool's polling.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TANDEM_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define TANDEM_CPU_RELAX() asm volatile("yield")
#else
#define TANDEM_CPU_RELAX() ((void)0)
#endif
