/// How messages list names (columns, classes): the first `limit` joined by commas, then "..." and, given `noun`,
/// how many there are in all, as in "p0, p1, ... (20 columns)". A list is never cut to drop a single name.
public func nameList(_ names: [String], limit: Int = 10, counting noun: String? = nil) -> String {
    guard names.count > limit + 1 else { return names.joined(separator: ", ") }
    return names.prefix(limit).joined(separator: ", ") + ", ..." + (noun.map { " (\(names.count) \($0))" } ?? "")
}
