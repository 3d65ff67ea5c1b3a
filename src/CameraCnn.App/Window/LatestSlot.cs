// LatestSlot: a single-producer, single-consumer "newest value wins" exchange over three preallocated buffers
// (darknet's frame ring, lock-free): the producer fills its back buffer and swaps it into the middle; the consumer
// swaps the middle out when it is fresh. Neither side ever waits for the other, and a value the consumer did not
// take in time is overwritten (counted as dropped).
namespace CameraCnn.App.Window;

/// <summary>Triple buffer of reusable objects. <see cref="Back"/> belongs to the producer, <see cref="Front"/> to the consumer.</summary>
internal sealed class LatestSlot<T> where T : class
{
    private const int Fresh = 4, IndexMask = 3;
    private readonly T[] _buffers;
    private int _middle = 1;     // index of the shared buffer, | Fresh when it holds a value not yet taken
    private int _back, _front = 2;
    private long _dropped;

    public LatestSlot(Func<T> create) => _buffers = [create(), create(), create()];

    /// <summary>The buffer the producer fills next.</summary>
    public T Back => _buffers[_back];

    /// <summary>The consumer's current value (the last one it took).</summary>
    public T Front => _buffers[_front];

    /// <summary>Values overwritten before the consumer took them.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Producer: publishes <see cref="Back"/> as the newest value and gets a new back buffer.</summary>
    public void Publish()
    {
        int old = Interlocked.Exchange(ref _middle, _back | Fresh);
        if ((old & Fresh) != 0) Interlocked.Increment(ref _dropped);
        _back = old & IndexMask;
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
