@testable import KVBenchCore
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The sampled `RssAnon` high-water mark kvbench reports as `peak_anon_kb`.
@Suite("kvbench: peak anonymous memory")
struct AnonymousPeakTests {
    @Test func aPeakHeldLongerThanASampleIsSeenAfterItIsFreed() {
        ProcessSnapshot.resetPeak()
        let before = AnonymousPeak.current()
        #expect(before > 0, "RssAnon is reported")
        let bytes = 64 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        // Touched, so that it is resident; held for several sampling periods.
        block.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        // Held until the sampler has run with it resident (every 10 ms; on a loaded machine its
        // thread may wait for a core much longer: up to 20 s here).
        for _ in 0..<2_000 where AnonymousPeak.sampledKB() < before + 48 << 10 { usleep(10_000) }
        block.deallocate()
        let peak = ProcessSnapshot.now().peakAnonKB
        #expect(peak >= before + 48 << 10, "peak \(peak) KiB, before \(before) KiB")
        // A new peak starts from what is resident now.
        ProcessSnapshot.resetPeak()
        #expect(ProcessSnapshot.now().peakAnonKB < peak)
    }
}
