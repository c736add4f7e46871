#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The high-water mark of this process's anonymous memory (`RssAnon` in `/proc/self/status`),
/// sampled every 10 ms by a thread of its own. The kernel keeps a peak only of the whole RSS
/// (`VmHWM`), which counts the mapped pages of a store's index and segments: page cache, shared
/// and reclaimable, not memory the store took. `RssAnon` is what its heap and tables cost.
final class AnonymousPeakSampler: Sendable {
    private let peak = Atomic<Int>(0)
    private let started = Atomic<Bool>(false)

    /// Starts a new peak from the current value (and the sampler, the first time).
    func reset() {
        peak.store(AnonymousPeak.current(), ordering: .relaxed)
        startOnce()
    }

    /// Starts a new peak from `kilobytes` instead of the current value: tests use 0 to see the
    /// sampler's own figures, unmixed with a value read at the reset.
    func reset(toKB kilobytes: Int) {
        peak.store(kilobytes, ordering: .relaxed)
        startOnce()
    }

    /// The largest `RssAnon` seen since the last reset, KiB (the current value included).
    func peakKB() -> Int { max(AnonymousPeak.current(), peak.load(ordering: .relaxed)) }

    /// The largest value the sampler has seen since the last reset (not the current one), KiB.
    func sampledKB() -> Int { peak.load(ordering: .relaxed) }

    private func sample() {
        let now = AnonymousPeak.current()
        var seen = peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    private func startOnce() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 256 << 10)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // The sampler thread keeps its sampler alive for the life of the process.
        let context = Unmanaged.passRetained(self).toOpaque()
        _ = pthread_create(&thread, &attributes, { context in
            let sampler = Unmanaged<AnonymousPeakSampler>.fromOpaque(context!).takeUnretainedValue()
            while true {
                sampler.sample()
                usleep(10_000)
            }
        }, context)
    }
}

/// The process's sampler, which kvbench reports as `peak_anon_kb`.
enum AnonymousPeak {
    static let shared = AnonymousPeakSampler()

    static func reset() { shared.reset() }
    static func peakKB() -> Int { shared.peakKB() }

    /// `RssAnon` now, KiB; 0 where the kernel does not report it.
    static func current() -> Int { ProcessSnapshot.statusFields()["RssAnon"] ?? 0 }
}
