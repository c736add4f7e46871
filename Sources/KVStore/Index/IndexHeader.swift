// See FORMAT.md §4.1 "Index header".

/// Field offsets of the index file's header page. The header is read and written in place in the
/// mapping; the fields a writer changes on every put are single aligned 8-byte words.
///
/// ```
/// offset size field
///   0     8  magic          "KVINDEX\0"
///   8     2  formatMajor
///  10     2  formatMinor
///  12     4  checksum       CRC-32C of bytes 0 ..< 128 with this field zeroed; valid when state = clean
///  16     8  storeID
///  24     8  hashSeed
///  32     8  capacity       number of slots
///  40     8  liveCount      slots holding a key
///  48     8  tombstoneCount slots marked removed
///  56     8  generation     +1 on every rebuild or growth
///  64     4  state          1 = open by a writer, 2 = closed cleanly, 3 = found inconsistent
///  68     4  reserved       zero
///  72    16  bootID         the boot during which the header was last written
///  88     8  covered        segmentID << 32 | byte offset: every record before it is in the slots
///  96     8  lastSequence   the highest sequence number covered
/// 104     8  pendingChange  0, or the slot change in flight: kind << 62 | slot (kind 1 insert, 2 remove)
/// 112     8  pendingLive    liveCount before that change
/// 120     8  pendingTombs   tombstoneCount before that change
/// 128     8  writeLimit     segmentID << 32 | offset: the writer may have written bytes up to here
/// 256     8  replaced       0, or a random token: a writer is renaming (or has renamed) another file over this one
/// 264     8  writer         0, or the writer that has this index open: random << 32 | pid
/// 272     8  applying       0, or segmentID << 32 | offset of the batch whose slots the writer is changing
/// ```
/// The header occupies the first 4096-byte page; slots start at byte 4096. The three words at 256
/// are what live readers in other processes watch (FORMAT.md §12): they sit on their own cache
/// line, away from the words the writer stores on every put, so that watching them costs a
/// reader a load from its own cache.
enum IndexHeader {
    static let magic: [UInt8] = Array("KVINDEX\0".utf8)
    static let pageSize = 4096
    static let checksummedLength = 128

    static let formatMajor = 8
    static let formatMinor = 10
    static let checksum = 12
    static let storeID = 16
    static let hashSeed = 24
    static let capacity = 32
    static let liveCount = 40
    static let tombstoneCount = 48
    static let generation = 56
    static let state = 64
    static let bootID = 72
    static let covered = 88
    static let lastSequence = 96
    static let pendingChange = 104
    static let pendingLive = 112
    static let pendingTombstones = 120
    static let writeLimit = 128
    static let replaced = 256
    static let writer = 264
    static let applying = 272

    static let stateOpen: UInt32 = 1
    static let stateClean: UInt32 = 2
    /// A writer found the slots inconsistent with the header (a probe with no empty slot, more
    /// live slots than counted): the next open rebuilds the index from the log.
    static let stateInconsistent: UInt32 = 3
}

/// A position in the log: a segment and a byte offset in it.
struct LogPosition: Comparable, Hashable, Sendable, CustomStringConvertible {
    var segmentID: UInt32
    var offset: Int

    var word: UInt64 { UInt64(segmentID) << 32 | UInt64(UInt32(truncatingIfNeeded: offset)) }
    init(segmentID: UInt32, offset: Int) { self.segmentID = segmentID; self.offset = offset }
    init(word: UInt64) { segmentID = UInt32(truncatingIfNeeded: word >> 32); offset = Int(UInt32(truncatingIfNeeded: word)) }

    static func < (a: LogPosition, b: LogPosition) -> Bool { (a.segmentID, a.offset) < (b.segmentID, b.offset) }
    var description: String { "\(FileNames.segment(segmentID))@\(offset)" }
}
