#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on `CLOCK_MONOTONIC` (a vDSO call, about 20 ns here): the one clock kvbench times with.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Seconds between two `monotonicNanos()` readings.
@inline(__always)
func seconds(from start: UInt64, to end: UInt64) -> Double {
    Double(end &- start) / 1e9
}
