// CGK_X86: whether the AVX2 and AVX-512 paths are compiled. Elsewhere (arm64: Apple silicon,
// Graviton, Raspberry Pi) only the scalar level is built, which the compiler vectorises for the
// target on its own (NEON on arm64); every x86-only function and its dispatch sits inside
// `#if CGK_X86`, and the run-time level (runtime.h) is then always kScalar.
#ifndef CGK_CPU_ARCH_H
#define CGK_CPU_ARCH_H

#if defined(__x86_64__) || defined(__i386__)
#define CGK_X86 1
#else
#define CGK_X86 0
#endif

#endif  // CGK_CPU_ARCH_H
