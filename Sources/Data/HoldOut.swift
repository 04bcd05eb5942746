import Numerics

extension Dataset {
    /// The rows held out when a seeded random `fraction` of `rows` (at least one, and at least one left) is set
    /// aside as a test set: the same on every machine for the same `seed`, in file order.
    public static func heldOutRows(fraction: Double, of rows: Int, seed: UInt64) -> [Int] {
        precondition(fraction > 0 && fraction < 1 && rows >= 2, "hold out a fraction in (0, 1) of at least 2 rows")
        let count = min(max(Int((fraction * Double(rows)).rounded()), 1), rows - 1)
        var order = Array(0 ..< rows)
        var rng = SeededGenerator(seed: seed, streams: 0x4E1D)
        rng.shuffle(&order)
        return order.prefix(count).sorted()
    }

    /// This data set split in two: the rows `heldOutRows` picks for `fraction` and `seed`, and the rest, each
    /// keeping its rows' file order and lines.
    public func holdingOut(fraction: Double, seed: UInt64) -> (kept: Dataset, heldOut: Dataset) {
        (selecting(rows: Self.keptRows(fraction: fraction, of: rows, seed: seed)),
         selecting(rows: Self.heldOutRows(fraction: fraction, of: rows, seed: seed)))
    }

    /// The rows left when `heldOutRows` are held out, in file order.
    public static func keptRows(fraction: Double, of rows: Int, seed: UInt64) -> [Int] {
        var isHeld = [Bool](repeating: false, count: rows)
        for row in heldOutRows(fraction: fraction, of: rows, seed: seed) { isHeld[row] = true }
        return (0 ..< rows).filter { !isHeld[$0] }
    }
}
