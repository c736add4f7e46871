@testable import KVBenchCore
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The sampled `RssAnon` high-water mark kvbench reports as `peak_anon_kb`.
@Suite("kvbench: peak anonymous memory")
struct AnonymousPeakTests {
    /// Other tests share this process and allocate and free meanwhile, so the figures are read
    /// relative to what is resident at each step, not to a value taken before.
    @Test func aPeakHeldLongerThanASampleIsSeenAfterItIsFreed() {
        ProcessSnapshot.resetPeak()
        #expect(AnonymousPeak.current() > 0, "RssAnon is reported")
        let bytes = 64 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        // Touched, so that it is resident; held until the sampler (every 10 ms; on a loaded
        // machine its thread may wait for a core much longer: up to 20 s here) has seen a value
        // as high as what is resident with it.
        block.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        for _ in 0..<2_000 where AnonymousPeak.sampledKB() < AnonymousPeak.current() - (8 << 10) { usleep(10_000) }
        block.deallocate()
        let peak = ProcessSnapshot.now().peakAnonKB
        let after = AnonymousPeak.current()
        #expect(peak >= after + (32 << 10), "peak \(peak) KiB, resident after the free \(after) KiB")
        // A new peak starts from what is resident now.
        ProcessSnapshot.resetPeak()
        #expect(ProcessSnapshot.now().peakAnonKB < peak)
    }
}
