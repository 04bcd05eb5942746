import CZeroMQ

/// A CurveZMQ key: 32 bytes, written as 40 characters of Z85 (ZeroMQ's base-85) in key files.
public struct CurveKey: Hashable, Sendable {
    public let bytes: [UInt8]

    /// Decodes 40 Z85 characters; nil for anything else.
    public init?(z85: String) {
        let text = Array(z85.utf8)
        guard text.count == 40, text.allSatisfy({ Self.z85Alphabet.contains($0) }) else { return nil }
        var decoded = [UInt8](repeating: 0, count: 32)
        let ok = (text + [0]).withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { zmq_z85_decode(&decoded, $0.baseAddress) != nil }
        }
        guard ok else { return nil }
        bytes = decoded
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// The key as 40 Z85 characters.
    public var z85: String {
        var text = [CChar](repeating: 0, count: 41)
        _ = bytes.withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, 32) }
        return String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
}

/// A CurveZMQ key pair: the public key to give out, the secret key to keep.
public struct CurveKeyPair: Sendable {
    public let publicKey: CurveKey
    public let secretKey: CurveKey

    /// A new random pair (libzmq's, from libsodium).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41), secretText = [CChar](repeating: 0, count: 41)
        _ = try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
        let text = { (chars: [CChar]) in String(decoding: chars.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CurveKeyPair(publicKey: CurveKey(z85: text(publicText))!, secretKey: CurveKey(z85: text(secretText))!)
    }

    /// The pair of `secretKey`, its public key derived from it.
    public init(secretKey: CurveKey) throws(ZMQError) {
        var publicText = [CChar](repeating: 0, count: 41)
        let secretText = Array(secretKey.z85.utf8CString)
        _ = try zmqCall("zmq_curve_public") { zmq_curve_public(&publicText, secretText) }
        publicKey = CurveKey(z85: String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))!
        self.secretKey = secretKey
    }

    init(publicKey: CurveKey, secretKey: CurveKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}
