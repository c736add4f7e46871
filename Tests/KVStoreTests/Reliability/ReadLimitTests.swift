@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Lengths and file kinds found on disk are checked before they are used: no huge allocation from a
/// damaged length code, the largest value reads back, a FIFO is refused instead of blocking
/// (issue 7, items 8, 9 and 10). Serialized: the largest-value test needs gigabytes, and the
/// allocation test watches the process's peak virtual memory.
@Suite("Reliability: lengths and file kinds", .serialized)
struct ReadLimitTests {
    @Test func lengthCodeCoversEveryRecordLengthTheFormatAllows() {
        #expect(Location.maximumReadLength >= Limits.maximumRecordLength)
        #expect(Location.maximumReadLength <= Limits.maximumRecordLength + Limits.maximumRecordLength / 1000)
        var lengths = Array(RecordHeader.size ... 20_000)
        for bit in 14...30 {
            let power = 1 << bit
            lengths += Array(power - 64 ... power + 64)
        }
        lengths += Array(Limits.maximumRecordLength - 4_096 ... Limits.maximumRecordLength)
        for length in lengths {
            let read = Location(segmentID: 1, offset: 32, recordLength: length).readLength
            guard read >= length, read <= Location.maximumReadLength else {
                Issue.record("record length \(length) reads \(read)")
                return
            }
        }
    }

    static func peakVirtualMemory() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmPeak:") })
        return try #require(Int(line.split(separator: " ").dropFirst().first ?? "")) * 1024
    }

    @Test func damagedLengthCodeMakesNoGetAllocateAGigabyte() throws {
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration()
            configuration.automaticCompaction = nil
            var store = try Store(path: directory, configuration: configuration)
            try store.set("the value of p0", forKey: "p0")
            try store.close()
            // The slot's length code says 1,073,217,536 bytes (2047 units << 16).
            let path = directory + "/" + FileNames.index
            let bytes = try FileSurgery.read(path)
            var slot = IndexHeader.pageSize
            while bytes[slot ..< slot + 8].allSatisfy({ $0 == 0 }) { slot += HashIndex.slotSize }
            let code = UInt16(16 << 11 | 2047)
            try FileSurgery.overwrite(path, at: slot + 8, with: withUnsafeBytes(of: code.littleEndian, Array.init))

            store = try Store(path: directory, configuration: configuration)
            let peak = try Self.peakVirtualMemory()
            #expect(try store.value(forKey: "p0") == Array("the value of p0".utf8))
            #expect(try store.withValue(forKey: "p0") { $0.count } == 15)
            #expect(try Self.peakVirtualMemory() - peak < 256 << 20, "a get reserved a gigabyte")
            try store.close()
        }
    }

    @Test func largestValueTheFormatAllowsReadsBackWithGet() throws {
        try withTemporaryDirectory { directory in
            var configuration = TestStores.configuration()
            configuration.automaticCompaction = nil
            var store = try Store(path: directory, configuration: configuration)
            var value = [UInt8](repeating: 0xAB, count: Store.maximumValueLength)
            value[0] = 1
            value[value.count - 1] = 2
            try store.set(value, forKey: "k")
            for round in 0..<2 {
                let read = try #require(try store.value(forKey: "k"), "round \(round)")
                #expect(read.count == value.count)
                #expect(read.withUnsafeBytes { r in value.withUnsafeBytes { memcmp(r.baseAddress!, $0.baseAddress!, $0.count) } } == 0)
                try store.close()
                store = try Store(path: directory, configuration: configuration)
            }
            #expect(try store.verify().isOK)
            try store.close()
        }
    }

    @Test func fifoNamedLikeAStoreFileIsRefusedInsteadOfBlocking() throws {
        try withScratchDirectory { directory in
            try Store(path: directory, configuration: TestStores.configuration()).close()
            #expect(mkfifo(directory + "/" + FileNames.segment(99), 0o644) == 0)
            for readOnly in [false, true] {
                var configuration = TestStores.configuration()
                configuration.readOnly = readOnly
                do {
                    let store = try Store(path: directory, configuration: configuration)
                    Issue.record("opened a store with a FIFO for a segment (readOnly: \(readOnly))")
                    try store.close()
                } catch let error as KVError {
                    #expect(error.message.contains("not a regular file"), "\(error)")
                    #expect(error.path?.hasSuffix(FileNames.segment(99)) == true)
                }
            }
        }
    }
}
