/// What separates the columns of a CSV line: one character (a comma by default), or any run of spaces and tabs.
public enum CSVDelimiter: Equatable, Sendable {
    case character(UInt8)
    case blanks

    public static let comma = CSVDelimiter.character(UInt8(ascii: ","))

    /// The delimiter a config names: one character, `tab`, or `whitespace` (runs of spaces and tabs); nil for
    /// anything else, and for a character that can be part of a number (a letter, a digit, a sign, a dot) or a
    /// quote.
    public init?(configName name: String) {
        switch name {
        case "tab", "\t": self = .character(9)
        case "whitespace": self = .blanks
        default:
            guard name.utf8.count == 1, let byte = name.utf8.first, byte >= 32, byte < 127,
                  !Character(Unicode.Scalar(byte)).isLetter, !Character(Unicode.Scalar(byte)).isNumber,
                  !".+-\"'".utf8.contains(byte) else { return nil }
            self = .character(byte)
        }
    }

    /// The byte that ends a field; none for blanks, which end one by running.
    var byte: UInt8? {
        if case .character(let byte) = self { byte } else { nil }
    }

    /// How the delimiter reads in a message.
    public var description: String {
        switch self {
        case .character(9): "tabs"
        case .character(let byte): "'\(Character(Unicode.Scalar(byte)))'"
        case .blanks: "runs of spaces and tabs"
        }
    }
}
