/// Checks of what must hold of the index and its relation to the log. Expensive (they read the
/// whole table), so the library runs them only in debug builds (`KVSTORE_INTERNAL_CHECKS`), where
/// they must hold by construction: a table just rebuilt or grown. Tests call
/// ``StoreEngine/invariantViolations()`` where they must hold for a whole store: after recovery,
/// growth, compaction and at close, on stores no test damaged (an index damaged at rest breaks
/// them by definition: FORMAT.md §6).
extension HashIndex {
    /// What is wrong with the table against `segments` and the log's `end`; empty when nothing.
    /// `dataEnd` gives each segment's data end (the writer's position for the active one).
    func invariantViolations(end: LogPosition, dataEnd: (UInt32) -> Int?) -> [String] {
        var problems: [String] = []
        let (live, tombstones) = recount()
        if live != liveCount { problems.append("liveCount is \(liveCount), the table holds \(live) keys") }
        if tombstones != tombstoneCount { problems.append("tombstoneCount is \(tombstoneCount), the table holds \(tombstones)") }
        if Double(live + tombstones) > Double(capacity) * Self.maximumLoad + 1 {
            problems.append("\(live + tombstones) used slots pass the maximum load of \(capacity) slots")
        }
        if covered > end { problems.append("covered \(covered) is past the end of the log \(end)") }
        forEachLive { slot, _, word in
            let location = Location(word: word)
            guard let limit = dataEnd(location.segmentID) else {
                problems.append("slot \(slot) points into segment \(location.segmentID), which is not in the store")
                return
            }
            if location.offset < SegmentHeader.size || location.offset + RecordHeader.size > limit {
                problems.append("slot \(slot) points at \(FileNames.segment(location.segmentID))@\(location.offset), past its data end \(limit)")
            }
        }
        return problems
    }

    /// In debug builds, stops at a broken invariant of a table this process just built.
    func assertBuiltCorrectly(_ what: @autoclosure () -> String) {
        #if KVSTORE_INTERNAL_CHECKS
        let (live, tombstones) = recount()
        assert(live == liveCount && tombstones == tombstoneCount,
               "\(what()): counters \(liveCount)/\(tombstoneCount), table \(live)/\(tombstones)")
        #endif
    }
}

extension StoreEngine {
    /// What is wrong with the store's index against its log (see ``HashIndex/invariantViolations(end:dataEnd:)``).
    func invariantViolations() throws(KVError) -> [String] {
        let check = { (index: HashIndex, segments: SegmentTable, end: LogPosition) throws(KVError) -> [String] in
            var ends: [UInt32: Int] = [:]
            var problems: [String] = []
            for file in segments.all {
                ends[file.id] = file.id == end.segmentID ? end.offset : try file.size()
                // Only the newest segment is active (in a read-only store, none is); none that
                // readers still see is retired.
                if file.state == .retired || (file.state == .active) != (file.id == end.segmentID && !self.configuration.readOnly) {
                    problems.append("\(FileNames.segment(file.id)) is \(file.state)")
                }
            }
            return problems + index.invariantViolations(end: end) { ends[$0] }
        }
        if let live {
            let view = try live.current(try views.get())
            return try check(view.index, view.segments, view.index.covered)
        }
        return try withWriter { (w) throws(KVError) in
            try check(w.index, w.segments, LogPosition(segmentID: w.active.id, offset: w.active.end))
        }
    }
}
