import Config

extension RunConfig {
    /// A small softmax regression on synthetic blobs, quick enough for a cluster in one process: `samples` training
    /// rows and `testSamples` test rows of `features` inputs in `classes` classes, in batches of `batchSize`.
    static func softmaxOnBlobs(features: Int = 8, classes: Int = 3, samples: Int, testSamples: Int, epochs: Int = 2, batchSize: Int = 10,
                               workers: Int = 2, mode: ConsistencyMode = .sync) -> RunConfig {
        var c = RunConfig()
        c.data.format = .synthetic
        c.data.generator = .blobs
        c.data.features = features
        c.data.classes = classes
        c.data.samples = samples
        c.data.testSamples = testSamples
        c.model.kind = .softmax
        c.train.epochs = epochs
        c.train.batchSize = batchSize
        c.cluster.workers = workers
        c.cluster.mode = mode
        return c
    }
}
