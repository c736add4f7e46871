/// Identifies the current boot of the machine (Linux: `/proc/sys/kernel/random/boot_id`).
///
/// The index file records the boot during which it was written. After `kill -9` the page cache,
/// and with it every store the dead process made into the mapped index, is intact, so an index
/// from this boot can be trusted and only the log after it needs replaying. After a reboot (power
/// loss) any subset of its pages may be stale, so an index from another boot is rebuilt.
enum BootID {
    static func current() -> [UInt8] {
        guard let text = try? readWholeFile("/proc/sys/kernel/random/boot_id") else {
            // No boot id: never trust an index that was not closed cleanly.
            return [UInt8](repeating: 0, count: 16)
        }
        var out: [UInt8] = []
        var pending: UInt8? = nil
        for c in text {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            default: continue
            }
            if let high = pending { out.append(high << 4 | v); pending = nil } else { pending = v }
        }
        return out.count == 16 ? out : [UInt8](repeating: 0, count: 16)
    }
}
