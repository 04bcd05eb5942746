import Data

/// Range checks that decoding cannot express. Each failure names the key and the accepted range.
extension RunConfig {
    public func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ key: String, _ message: String, hint: String? = nil) throws(ConfigError) {
            if !ok { throw ConfigError(key: key, message: message, hint: hint) }
        }
        let o = optimizer
        try require(o.lr > 0 && o.lr.isFinite, "optimizer.lr", "must be a positive number, got \(o.lr)", hint: "typical values: 0.1 for SGD, 0.001 for Adam")
        try require((0 ..< 1).contains(o.momentum ?? 0), "optimizer.momentum", "must be in [0, 1), got \(o.momentum ?? 0)")
        try require((0 ..< 1).contains(o.beta1), "optimizer.beta1", "must be in [0, 1), got \(o.beta1)")
        try require((0 ..< 1).contains(o.beta2), "optimizer.beta2", "must be in [0, 1), got \(o.beta2)")
        try require((0 ..< 1).contains(o.rho), "optimizer.rho", "must be in [0, 1), got \(o.rho)")
        try require(o.epsilon > 0, "optimizer.epsilon", "must be positive, got \(o.epsilon)")
        try require(o.initialAccumulator >= 0, "optimizer.initial_accumulator", "must be at least 0, got \(o.initialAccumulator)")
        try require((o.weightDecay ?? 0) >= 0, "optimizer.weight_decay", "must be at least 0, got \(o.weightDecay ?? 0)")
        try require(o.l1 >= 0, "optimizer.l1", "must be at least 0, got \(o.l1)")
        try require(o.l2 >= 0, "optimizer.l2", "must be at least 0, got \(o.l2)")
        try require((o.clipNorm ?? 1) > 0, "optimizer.clip_norm", "must be positive, got \(o.clipNorm ?? 0)", hint: "leave it out to turn clipping off")
        try require((o.clipValue ?? 1) > 0, "optimizer.clip_value", "must be positive, got \(o.clipValue ?? 0)", hint: "leave it out to turn clipping off")
        try require(o.gamma > 0, "optimizer.gamma", "must be positive, got \(o.gamma)")
        try require(o.stepSize >= 1, "optimizer.step_size", "must be at least 1, got \(o.stepSize)")
        try require(o.decaySteps >= 1, "optimizer.decay_steps", "must be at least 1, got \(o.decaySteps)")
        try require(o.minLr >= 0 && o.minLr <= o.lr, "optimizer.min_lr", "must be in [0, lr], got \(o.minLr)")
        try require(o.warmupSteps >= 0, "optimizer.warmup_steps", "must be at least 0, got \(o.warmupSteps)")

        try require(train.epochs >= 1, "train.epochs", "must be at least 1, got \(train.epochs)")
        try require(train.batchSize >= 1, "train.batch_size", "must be at least 1, got \(train.batchSize)")
        try require(train.logEvery >= 1, "train.log_every", "must be at least 1, got \(train.logEvery)")
        try require(train.blasThreads >= 1, "train.blas_threads", "must be at least 1, got \(train.blasThreads)")
        try require(train.checkpointEvery >= 0, "train.checkpoint_every", "must be at least 0 (0: not by steps), got \(train.checkpointEvery)")
        try require(train.checkpointSeconds >= 0, "train.checkpoint_seconds", "must be at least 0 (0: not by time), got \(train.checkpointSeconds)")
        try require(train.keepCheckpoints >= 1, "train.keep_checkpoints", "must be at least 1, got \(train.keepCheckpoints)")

        try require(model.hidden.allSatisfy { $0 > 0 }, "model.hidden", "layer widths must be positive, got \(model.hidden)")
        try require(model.kind != .mlp || !model.hidden.isEmpty, "model.hidden", "an MLP needs at least one hidden layer",
                    hint: "for no hidden layer use model.kind: softmax, logistic or linear")
        try require((0 ..< 1).contains(model.dropout), "model.dropout", "must be in [0, 1), got \(model.dropout)")
        try require((model.classes ?? 2) >= 2, "model.classes", "must be at least 2, got \(model.classes ?? 0)")
        try require(model.initScale > 0, "model.init_scale", "must be positive, got \(model.initScale)")

        let c = cluster
        try require(c.workers >= 1, "cluster.workers", "must be at least 1, got \(c.workers)")
        try require(c.servers >= 1, "cluster.servers", "must be at least 1, got \(c.servers)")
        try require(c.mode != .bounded || c.staleness >= c.workers - 1, "cluster.staleness",
                    "must be at least workers - 1 = \(c.workers - 1) in bounded mode, got \(c.staleness)",
                    hint: "staleness counts server versions: with N workers even lockstep training applies gradients N - 1 versions old")
        try require(c.topkFraction > 0 && c.topkFraction <= 1, "cluster.topk_fraction", "must be in (0, 1], got \(c.topkFraction)",
                    hint: "0.01 sends the largest 1 % of the entries of each gradient")
        try require(c.heartbeatInterval > 0, "cluster.heartbeat_interval", "must be positive, got \(c.heartbeatInterval)")
        try require(c.heartbeatTimeout > c.heartbeatInterval, "cluster.heartbeat_timeout",
                    "must exceed heartbeat_interval (\(c.heartbeatInterval)), got \(c.heartbeatTimeout)")
        try require(c.serverTimeout > c.heartbeatInterval, "cluster.server_timeout", "must exceed heartbeat_interval, got \(c.serverTimeout)")
        try require(c.stepTimeout >= 0, "cluster.step_timeout", "must be at least 0 (0: no limit), got \(c.stepTimeout)")
        try require(c.replacementTimeout > 0, "cluster.replacement_timeout", "must be positive, got \(c.replacementTimeout)")
        try require(c.maxRestarts >= 0, "cluster.max_restarts", "must be at least 0, got \(c.maxRestarts)")
        try require(c.reconnectMax >= 0.1, "cluster.reconnect_max", "must be at least 0.1 (the first pause), got \(c.reconnectMax)")
        try require(c.maxMessageMb >= 1, "cluster.max_message_mb", "must be at least 1, got \(c.maxMessageMb)")

        if let fraction = data.testFraction {
            try require(fraction > 0 && fraction < 1, "data.test_fraction", "must be in (0, 1), got \(fraction)", hint: "0.2 holds out a fifth of the rows")
            try require(data.format != .synthetic, "data.test_fraction", "synthetic data makes a test set of its own",
                        hint: "data.test_samples sets its size")
            try require(data.test == nil, "data.test_fraction", "the test set is data.test's file already", hint: "give one or the other")
        }
        switch data.format {
        case .synthetic:
            try require(data.samples >= 1, "data.samples", "must be at least 1, got \(data.samples)")
            try require(data.testSamples >= 0, "data.test_samples", "must be at least 0, got \(data.testSamples)")
            try require(data.classes >= 2, "data.classes", "must be at least 2, got \(data.classes)")
            try require((data.noise ?? 0) >= 0, "data.noise", "must be at least 0, got \(data.noise ?? 0)")
            try require((data.features ?? 1) >= 1, "data.features", "must be at least 1, got \(data.features ?? 0)")
        case .csv, .libsvm, .idx, .npy:
            try require(data.train != nil, "data.train", "a \(data.format.rawValue) run needs a training file", hint: "set data.train: path/to/train.\(data.format.rawValue)")
            try require((data.features ?? 1) >= 1, "data.features", "must be at least 1, got \(data.features ?? 0)")
            try require(data.delimiter.map { CSVDelimiter(configName: $0) != nil } ?? true, "data.delimiter",
                        "'\(data.delimiter ?? "")' cannot separate columns of numbers",
                        hint: "give one character that is not a letter, digit, sign, dot or quote (',', ';', '|'), tab, or whitespace "
                            + "for runs of spaces and tabs")
            if data.format == .idx || data.format == .npy {
                try require(data.trainLabels != nil, "data.train_labels", "\(data.format.rawValue) keeps labels in a separate file; name it")
                try require(data.test == nil || data.testLabels != nil, "data.test_labels", "\(data.format.rawValue) keeps labels in a separate file; name it")
            }
        }
    }
}
