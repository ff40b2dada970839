#pragma once
// Clang's thread-safety attributes (-Wthread-safety, checked by the tsan preset); nothing
// under GCC. Names as in Abseil and the clang documentation.
#if defined(__clang__)
#define MI_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MI_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) MI_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY MI_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) MI_THREAD_ANNOTATION(guarded_by(x))
#define REQUIRES(...) MI_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) MI_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) MI_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) MI_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) MI_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
