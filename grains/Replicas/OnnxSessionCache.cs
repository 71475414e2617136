using Microsoft.Extensions.Logging;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// The silo's sessions, one per model version, counted by the replicas that hold them: the first replica of a
/// version on the silo loads the session, the last one to leave disposes it.
/// </summary>
internal sealed partial class OnnxSessionCache(ILogger<OnnxSessionCache> logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _disposals;

    /// <summary>Sessions disposed since the silo started.</summary>
    public long Disposals => Interlocked.Read(ref _disposals);

    /// <summary>The open session of a model version, if a replica holds one.</summary>
    public ModelSession? Peek(string model, string version)
    {
        lock (_lock)
        {
            return _entries.GetValueOrDefault(Key(model, version))?.Session;
        }
    }

    /// <summary>Takes a reference on the version's session, loading it if this is the first.</summary>
    public Lease Acquire(RepositoryModel model, string version)
    {
        var key = Key(model.Name, version);
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                // Loading inside the lock keeps one session per version; it takes tens of milliseconds, once.
                var session = new ModelSession(model, version);
                entry = new Entry(session);
                _entries[key] = entry;
                LogLoaded(logger, model.Name, version, session.ExecutionProvider, session.ProviderReason);
            }

            entry.References++;
            return new Lease(this, key, entry.Session);
        }
    }

    private void Release(string key)
    {
        ModelSession? toDispose = null;
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var entry) && --entry.References == 0)
            {
                _entries.Remove(key);
                toDispose = entry.Session;
            }
        }

        if (toDispose is not null)
        {
            toDispose.Dispose();
            Interlocked.Increment(ref _disposals);
            LogDisposed(logger, toDispose.Model, toDispose.Version);
        }
    }

    private static string Key(string model, string version) => $"{model}/{version}";

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Model} version {Version} on the {Provider} execution provider ({Reason})")]
    private static partial void LogLoaded(ILogger logger, string model, string version, string provider, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Disposed the session of {Model} version {Version}: its last replica on this silo left")]
    private static partial void LogDisposed(ILogger logger, string model, string version);

    private sealed class Entry(ModelSession session)
    {
        public ModelSession Session { get; } = session;
        public int References { get; set; }
    }

    /// <summary>A replica's hold on a session; disposing it releases the reference once.</summary>
    public sealed class Lease(OnnxSessionCache owner, string key, ModelSession session) : IDisposable
    {
        private int _released;

        public ModelSession Session { get; } = session;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Release(key);
            }
        }
    }
}
