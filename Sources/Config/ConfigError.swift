/// A problem with a configuration: which file and line or which key, what is wrong, and what to do.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// "configs/mlp.yaml, line 7", "command line", or "" when only the key is known.
    public var source: String
    /// The dotted key, such as "optimizer.lr".
    public var key: String?
    public var message: String
    public var hint: String?

    public init(source: String = "", key: String? = nil, message: String, hint: String? = nil) {
        self.source = source
        self.key = key
        self.message = message
        self.hint = hint
    }

    public var description: String {
        let place = [source, key].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        return (place.isEmpty ? "" : place + ": ") + message + (hint.map { "\n  hint: \($0)" } ?? "")
    }
}
