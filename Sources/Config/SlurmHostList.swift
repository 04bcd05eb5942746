/// Slurm's compressed host lists, as in `SLURM_JOB_NODELIST`: `node[01-03,07],gpu1,rack[1-2]-n[1-2]`.
public enum SlurmHostList {
    /// The host names, in order. Ranges keep their zero padding (`[08-10]` gives 08, 09, 10); several bracket
    /// groups in one name multiply (`r[1-2]-n[1-2]` gives r1-n1, r1-n2, r2-n1, r2-n2).
    public static func expand(_ list: String) throws(ConfigError) -> [String] {
        var hosts: [String] = []
        for item in try topLevelItems(list) { hosts += try expandItem(item, whole: list) }
        return hosts
    }

    /// Splits at the commas outside brackets.
    static func topLevelItems(_ list: String) throws(ConfigError) -> [String] {
        var items: [String] = [], current = "", depth = 0
        for c in list {
            switch c {
            case "[": depth += 1
            case "]":
                depth -= 1
                guard depth >= 0 else { throw bad(list, "a ']' without its '['") }
            case "," where depth == 0:
                items.append(current)
                current = ""
                continue
            default: break
            }
            guard depth <= 1 else { throw bad(list, "nested brackets") }
            current.append(c)
        }
        guard depth == 0 else { throw bad(list, "a '[' without its ']'") }
        items.append(current)
        guard items.allSatisfy({ !$0.isEmpty }) else { throw bad(list, "an empty host name") }
        return items
    }

    static func expandItem(_ item: String, whole: String) throws(ConfigError) -> [String] {
        guard let open = item.firstIndex(of: "["), let close = item[open...].firstIndex(of: "]") else { return [item] }
        let prefix = String(item[..<open]), rest = String(item[item.index(after: close)...])
        var names: [String] = []
        for part in item[item.index(after: open) ..< close].split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1 ... 2).contains(bounds.count), bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  let low = Int(bounds[0]), let high = Int(bounds.last!), low <= high else {
                throw bad(whole, "'\(part)' in '\(item)' is not a number or a range like 01-04")
            }
            guard high - low < 100_000 else { throw bad(whole, "the range \(part) is too large") }
            let width = bounds[0].count
            for n in low ... high {
                let digits = String(n)
                names.append(prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits)
            }
        }
        var hosts: [String] = []
        let tails = try expandItem(rest, whole: whole)
        for name in names { hosts += tails.map { name + $0 } }
        return hosts
    }

    static func bad(_ list: String, _ message: String) -> ConfigError {
        ConfigError(source: "SLURM_JOB_NODELIST", message: "'\(list)' is not a Slurm host list: \(message)")
    }
}
