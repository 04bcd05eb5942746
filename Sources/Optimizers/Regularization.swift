/// Penalties that join the gradient before the update rule (coupled regularisation).
public enum Regularization {
    /// `g += l1 * sign(w) + l2 * w`: the gradients of `l1 * |w|` and `l2 / 2 * w²`. Elastic net uses both.
    public static func addPenalties(to gradient: UnsafeMutableBufferPointer<Float>, weights: UnsafeBufferPointer<Float>, l1: Float, l2: Float) {
        if l2 != 0 {
            for i in gradient.indices { gradient[i] += l2 * weights[i] }
        }
        if l1 != 0 {
            for i in gradient.indices {
                let w = weights[i]
                gradient[i] += w > 0 ? l1 : (w < 0 ? -l1 : 0)
            }
        }
    }
}
