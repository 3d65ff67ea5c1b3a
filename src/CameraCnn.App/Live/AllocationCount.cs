// AllocationCount: the bytes one thread (the inference worker) allocates per inference in the steady state, between a
// Start and a Stop that another thread (the render loop) asks for; the counted thread reads its own allocation counter
// after each pass of its loop, so nothing is measured from outside it. Allocates nothing itself.
namespace CameraCnn.App.Live;

/// <summary>Counts a thread's allocated bytes and inferences from a requested start to a requested stop.</summary>
internal sealed class AllocationCount
{
    private const int Idle = 0, StartAsked = 1, Counting = 2, Stopped = 3;
    private readonly Lock _lock = new();
    private volatile int _state;
    private long _start, _end, _inferences;

    /// <summary>Counting begins after the counted thread's next pass (any thread; a second call does nothing).</summary>
    public void Start()
    {
        lock (_lock)
            if (_state == Idle) _state = StartAsked;
    }

    /// <summary>Counting ends; the passes counted so far are the result (any thread).</summary>
    public void Stop()
    {
        lock (_lock) _state = Stopped;
    }

    /// <summary>The counted thread, after each pass of its loop (<paramref name="inference"/>: the pass ran one).</summary>
    public void Tick(bool inference = false)
    {
        if (_state is Idle or Stopped) return;
        long now = GC.GetAllocatedBytesForCurrentThread();
        lock (_lock)
        {
            if (_state == StartAsked)
            {
                (_start, _end, _inferences) = (now, now, 0);
                _state = Counting;
            }
            else if (_state == Counting)
            {
                _end = now;
                if (inference) _inferences++;
            }
        }
    }

    /// <summary>Bytes allocated and inferences run while counting.</summary>
    public (long Bytes, long Inferences) Result
    {
        get
        {
            lock (_lock) return (_end - _start, _inferences);
        }
    }
}
