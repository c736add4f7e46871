/// Number formatting without Foundation: fixed decimals, padding and short "1.23M" forms.
enum Format {
    /// `value` with exactly `decimals` digits after the point ("%.*f").
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let negative = value < 0
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return String(value) }
        let whole = UInt64(scaled)
        let integer = whole / UInt64(scale)
        var text = String(integer)
        if decimals > 0 {
            var fraction = String(whole % UInt64(scale))
            while fraction.count < decimals { fraction = "0" + fraction }
            text += "." + fraction
        }
        return negative && scaled != 0 ? "-" + text : text
    }

    /// `text` right-aligned in `width` columns.
    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// `text` left-aligned in `width` columns.
    static func left(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// A rate or count in 3–4 significant digits: "812", "811.0k", "3.16M".
    static func short(_ value: Double) -> String {
        switch abs(value) {
        case 1e9...: return fixed(value / 1e9, 2) + "G"
        case 1e6...: return fixed(value / 1e6, 2) + "M"
        case 1e4...: return fixed(value / 1e3, 1) + "k"
        case 100...: return fixed(value, 0)
        default: return fixed(value, 2)
        }
    }

    /// A latency in microseconds with 2–3 significant digits.
    static func micros(_ value: Double) -> String {
        switch value {
        case 1000...: return fixed(value, 0)
        case 100...: return fixed(value, 1)
        default: return fixed(value, 2)
        }
    }

    /// A byte count in MiB/GiB.
    static func bytes(_ value: Int64) -> String {
        let mib = Double(value) / 1_048_576
        return mib >= 1024 ? fixed(mib / 1024, 2) + " GiB" : fixed(mib, 1) + " MiB"
    }
}
