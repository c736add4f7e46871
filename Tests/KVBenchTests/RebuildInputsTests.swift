@testable import KVBenchCore
import Testing

/// What the `rebuild` benchmark warms: what a rebuild reads, not the old index or hinted segments.
@Suite("kvbench: rebuild inputs")
struct RebuildInputsTests {
    @Test func hintsUnhintedSegmentsTheNewestSegmentAndStoreAreWarmedNothingElse() {
        let d = "/db/kvstore/"
        let files = ["STORE", "LOCK", "index", "00000001.seg", "00000001.hint", "00000002.seg", "00000003.seg",
                     "00000003.hint", "00000004.seg"].map { d + $0 }
        let warmed = Set(EngineRun.rebuildInputs(files))
        #expect(warmed == Set(["STORE", "00000001.hint", "00000002.seg", "00000003.hint", "00000004.seg"].map { d + $0 }))
    }
}
