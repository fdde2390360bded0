/* CPU features the data path's SIMD code depends on. */
#ifndef WGD_CPU_H
#define WGD_CPU_H

#include <stdbool.h>

/* True when the CPU has AVX2 and the OS saves the YMM registers. Read with
 * CPUID/XGETBV rather than __builtin_cpu_supports, whose runtime support
 * (compiler-rt's __cpu_model) is missing from some toolchains (zig's
 * FreeBSD and macOS targets). Always false off x86-64. */
bool wg_cpu_has_avx2(void);

#endif
