/// Number formatting for text output: no Foundation, no locale.
enum Format {
    /// `49902` → `49,902`.
    static func count(_ n: some BinaryInteger) -> String {
        let digits = Array(String(n.magnitude))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// Bytes in binary units with three significant digits: `312 MiB`, `1.42 GiB`, `900 B`.
    static func bytes(_ n: some BinaryInteger) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(Int64(n))
        var unit = 0
        while abs(value) >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(Int64(n)) B" }
        let digits = abs(value) >= 100 ? 0 : abs(value) >= 10 ? 1 : 2
        return fixed(value, digits: digits) + " " + units[unit]
    }

    /// `x` with exactly `digits` decimals, rounded half away from zero.
    static func fixed(_ x: Double, digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(x) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9e15 else { return String(x) }
        let whole = Int64(scaled)
        let sign = x < 0 && whole != 0 ? "-" : ""
        let integer = whole / Int64(scale)
        guard digits > 0 else { return sign + String(integer) }
        let fraction = String(whole % Int64(scale))
        return sign + String(integer) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// A share as a percentage with one decimal: `0.2345` → `23.5%`.
    static func percent(_ share: Double) -> String { fixed(share * 100, digits: 1) + "%" }

    /// Seconds since 1970 as an ISO 8601 UTC date: `2026-11-28T01:26:00Z`.
    static func date(secondsSince1970 t: UInt64) -> String {
        let days = Int64(t / 86_400), seconds = Int64(t % 86_400)
        // Civil from days (H. Hinnant's algorithm), proleptic Gregorian calendar.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))Z"
    }

    /// `0x2e0d8f380916d0fe`.
    static func hex64(_ n: UInt64) -> String {
        let s = String(n, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - s.count) + s
    }

    /// Left-pads (right-aligns) `s` to `width` characters.
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// Right-pads (left-aligns) `s` to `width` characters.
    static func padRight(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
