/// A CSV column named in a config: by position, counting from 0 (a negative position counts from the end, -1 being
/// the last column), or by its name in the file's header line.
///
/// In YAML a whole number is a position and anything else a name: `label_column: -1`, `label_column: species`.
public enum CSVColumn: Codable, Equatable, Sendable {
    case position(Int)
    case name(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let position = try? container.decode(Int.self) {
            self = .position(position)
        } else if let name = try? container.decode(String.self) {
            self = .name(name)
        } else {
            throw DecodingError.typeMismatch(CSVColumn.self, .init(codingPath: decoder.codingPath,
                                                                     debugDescription: "neither a column's position nor its name"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .position(let position): try container.encode(position)
        case .name(let name): try container.encode(name)
        }
    }
}
