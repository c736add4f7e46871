/// Which sealed segments to map, from how hot each one is: the decision alone, with no state and
/// no system call, so that it can be tested on its own. ``MappingManager`` measures, calls it every
/// tick, and carries it out.
///
/// The rules:
/// - A segment's **heat** is its gets per tick, smoothed (halved every tick, plus the tick's
///   gets). Its **score** is heat per byte: a small segment that serves as many gets as a large one
///   earns its place first, since it costs less of the budget.
/// - Only a segment with at least ``minimumHeat`` is worth a mapping: a reopened store maps
///   nothing until reads come, and a segment read now and then stays with `pread`.
/// - The hottest unmapped segments take the free part of the budget, hottest first.
/// - When the budget is full, an unmapped segment takes the place of mapped ones only if it is
///   more than ``displacementFactor`` times hotter than each of them, and only of segments mapped
///   at least ``minimumAgeTicks`` ago: a mapping is not made and unmade back and forth as heat
///   wobbles. A mapped segment that went cold stays mapped until a hotter one needs its room.
/// - A segment larger than the whole budget is never mapped.
struct MappingPolicy {
    struct Candidate: Equatable {
        var id: UInt32
        /// Bytes of address space its mapping takes (or would take).
        var bytes: Int
        var heat: Double
        var isMapped: Bool
        /// Ticks since it was mapped (mapped ones only).
        var age: Int = 0

        var score: Double { heat / Double(max(bytes, 4096)) }
    }

    struct Decision: Equatable {
        /// To map now, in this order: they fit in the free part of the budget.
        var map: [UInt32] = []
        /// To unmap, making room for hotter segments (mapped on a later tick, once their room is
        /// really free: a reader may still hold a mapping that was let go).
        var unmap: [UInt32] = []
    }

    static let minimumHeat = 32.0
    static let displacementFactor = 2.0
    static let minimumAgeTicks = 4

    let budget: Int
    /// ``minimumHeat`` but for tests that map everything (heat 0 then counts as hot).
    var minimumHeatToMap = Self.minimumHeat

    /// `mappedBytes`: bytes of the mappings readers are given now. `releasingBytes`: bytes of
    /// mappings already let go of that a reader may still hold; their room counts as coming, so a
    /// segment waiting for it does not push out more segments meanwhile.
    func decide(_ candidates: [Candidate], mappedBytes: Int, releasingBytes: Int = 0) -> Decision {
        var decision = Decision()
        // Room once everything let go of is unmapped, and room now.
        var room = budget - mappedBytes
        var free = room - releasingBytes
        // Coldest first: the first to give up their room.
        var victims = candidates.filter { $0.isMapped && $0.age >= Self.minimumAgeTicks }.sorted { $0.score < $1.score }
        let wanted = candidates.filter { !$0.isMapped && $0.heat >= minimumHeatToMap && $0.bytes <= budget }
            .sorted { $0.score > $1.score }
        for candidate in wanted {
            if candidate.bytes <= room {
                if candidate.bytes <= free {
                    decision.map.append(candidate.id)
                    free -= candidate.bytes
                }
                // Otherwise it waits for room already on its way.
                room -= candidate.bytes
                continue
            }
            var freed = 0
            var chosen = 0
            while chosen < victims.count, room + freed < candidate.bytes,
                  victims[chosen].score * Self.displacementFactor < candidate.score {
                freed += victims[chosen].bytes
                chosen += 1
            }
            guard room + freed >= candidate.bytes else { continue }
            decision.unmap += victims.prefix(chosen).map(\.id)
            victims.removeFirst(chosen)
            // Its room is promised: colder candidates of this tick do not take it.
            room += freed - candidate.bytes
        }
        return decision
    }
}
