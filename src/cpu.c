/* CPU feature detection for the SIMD data path. */
#include "cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <stdint.h>

static bool detect_avx2(void)
{
	unsigned int a, b, c, d;
	uint32_t xcr0_lo, xcr0_hi;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	/* OSXSAVE (bit 27) and AVX (bit 28): XGETBV is usable. */
	if ((c & (1u << 27)) == 0 || (c & (1u << 28)) == 0)
		return false;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	(void)xcr0_hi;
	/* The OS must save both XMM (bit 1) and YMM (bit 2) state. */
	if ((xcr0_lo & 6u) != 6u)
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return (b & (1u << 5)) != 0; /* AVX2 */
}
#else
static bool detect_avx2(void)
{
	return false;
}
#endif

bool wg_cpu_has_avx2(void)
{
	static int have = -1;

	if (have < 0)
		have = detect_avx2() ? 1 : 0;
	return have == 1;
}
