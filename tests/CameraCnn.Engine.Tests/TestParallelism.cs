// TestParallelism: the engine's test classes run one at a time, so tests that change process-wide settings
// (Parallelism.Threads, the forced GEMM path) and the allocation measurements never overlap with other classes.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
