@testable import KVBenchCore
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The sampled `RssAnon` high-water mark kvbench reports as `peak_anon_kb`.
@Suite("kvbench: peak anonymous memory")
struct AnonymousPeakTests {
    /// A sampler of its own: the process's is reset by every benchmark that other tests run in
    /// this process meanwhile. Nothing is read relative to another figure of the process either:
    /// while this test holds 64 MiB resident, `RssAnon` is at least 64 MiB, whatever the others do.
    @Test func aPeakHeldLongerThanASampleIsSeenAfterItIsFreed() {
        #expect(AnonymousPeak.current() > 0, "RssAnon is reported")
        let sampler = AnonymousPeakSampler()
        let heldKB = 64 << 10
        // From 0, so that whatever the peak is at the end, only the sampler put it there.
        sampler.reset(toKB: 0)
        let block = UnsafeMutableRawPointer.allocate(byteCount: heldKB << 10, alignment: 4096)
        block.initializeMemory(as: UInt8.self, repeating: 1, count: heldKB << 10)
        // Held until the sampler (every 10 ms; on a loaded machine its thread may wait for a
        // core much longer: up to 20 s here) has seen it.
        var waited = 0
        while sampler.sampledKB() < heldKB, waited < 2_000 { usleep(10_000); waited += 1 }
        block.deallocate()
        #expect(sampler.sampledKB() >= heldKB, "the sampler saw \(sampler.sampledKB()) KiB while 64 MiB were held")
        #expect(sampler.peakKB() >= heldKB, "peak \(sampler.peakKB()) KiB after 64 MiB were held and freed")
        // A new peak starts from what is resident now: lower than the old one, unless the
        // process really holds that much again.
        let peak = sampler.peakKB()
        sampler.reset()
        #expect(sampler.sampledKB() < peak || AnonymousPeak.current() >= peak)
    }
}
