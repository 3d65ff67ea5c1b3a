// LatestSlot: a single-producer, single-consumer "newest value wins" exchange over three preallocated buffers
// (darknet demo.c's frame ring, lock-free): the producer fills its back buffer and swaps it into the middle; the
// consumer swaps the middle out when it is fresh. Neither side ever waits for the other or allocates, and a value the
// consumer did not take in time is overwritten (counted as dropped). The capture thread's readers and the inference
// worker's results both go through it.
namespace CameraCnn.Vision;

/// <summary>
/// Triple buffer of reusable objects. <see cref="Back"/> belongs to the producer, <see cref="Front"/> to the consumer;
/// the middle buffer travels between them in one int (index | fresh bit) swapped with
/// <see cref="Interlocked.Exchange(ref int, int)"/>.
/// </summary>
public sealed class LatestSlot<T> where T : class
{
    private const int Fresh = 4, IndexMask = 3;
    private readonly T[] _buffers;
    private int _back;            // producer's
    private int _front = 1;       // consumer's
    private int _middle = 2;      // shared: index | Fresh when it holds a value the consumer has not taken
    private long _dropped;

    public LatestSlot(Func<T> create) => _buffers = [create(), create(), create()];

    /// <summary>The buffer the producer fills next.</summary>
    public T Back => _buffers[_back];

    /// <summary>The consumer's current value (the last one it took).</summary>
    public T Front => _buffers[_front];

    /// <summary>Whether a published value is waiting for the consumer.</summary>
    public bool HasFresh => (Volatile.Read(ref _middle) & Fresh) != 0;

    /// <summary>Values overwritten before the consumer took them.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Producer: publishes <see cref="Back"/> as the newest value and gets a new back buffer. True when this
    /// replaced a value the consumer never took (a drop).</summary>
    public bool Publish()
    {
        int old = Interlocked.Exchange(ref _middle, _back | Fresh);
        _back = old & IndexMask;
        if ((old & Fresh) == 0) return false;
        Interlocked.Increment(ref _dropped);
        return true;
    }

    /// <summary>Consumer: makes the newest published value <see cref="Front"/>; false when nothing new arrived.</summary>
    public bool TryTake()
    {
        if ((Volatile.Read(ref _middle) & Fresh) == 0) return false;
        int old = Interlocked.Exchange(ref _middle, _front);
        _front = old & IndexMask;
        return true;
    }

    /// <summary>Every buffer, for set-up and tear-down (not while both threads run).</summary>
    public IReadOnlyList<T> All => _buffers;
}
