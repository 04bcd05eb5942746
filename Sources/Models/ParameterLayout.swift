/// Where one named tensor lives inside the flat parameter vector.
public struct ParameterEntry: Sendable, Equatable, Codable {
    /// What the tensor is for; initialisers treat weights and biases differently.
    public enum Role: String, Sendable, Codable { case weight, bias }

    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let role: Role

    /// The number of elements, the product of `shape`.
    public var count: Int { shape.reduce(1, *) }
    /// The index range of this tensor in the flat vector.
    public var range: Range<Int> { offset ..< offset + count }
}

/// The table that gives names and shapes to the model's single flat parameter vector.
///
/// Gradients use the same layout, so a push or pull is one contiguous payload and a server shard
/// owns a plain index range of it.
public struct ParameterLayout: Sendable, Equatable, Codable {
    public private(set) var entries: [ParameterEntry] = []
    /// Total number of parameters.
    public private(set) var count = 0

    public init() {}

    /// Appends a tensor after the existing ones.
    public mutating func append(_ name: String, shape: [Int], role: ParameterEntry.Role) {
        precondition(!entries.contains { $0.name == name }, "duplicate parameter name \(name)")
        precondition(shape.allSatisfy { $0 > 0 }, "parameter \(name) has a non-positive dimension: \(shape)")
        let entry = ParameterEntry(name: name, shape: shape, offset: count, role: role)
        entries.append(entry)
        count += entry.count
    }

    /// The entry called `name`, if there is one.
    public subscript(name: String) -> ParameterEntry? { entries.first { $0.name == name } }

    /// A 64-bit FNV-1a hash of names and shapes: two peers agree on the layout iff the hashes agree.
    public var hash: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for entry in entries {
            for byte in "\(entry.name):\(entry.shape.map(String.init).joined(separator: "x"));".utf8 {
                h = (h ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return h
    }
}
