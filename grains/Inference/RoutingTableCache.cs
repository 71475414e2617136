using System.Collections.Concurrent;
using System.Diagnostics;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Inference;

/// <summary>
/// The silo's copy of each version's routing table, shared by all local router activations, with the count of
/// requests this silo has in flight on each replica. A table older than a second is refreshed in the background
/// while the old one keeps serving, so the fleet grain is off the request path; only a version's first request on
/// a silo waits for its table. The router picks by power of two choices over the in-flight counts.
/// </summary>
internal sealed class RoutingTableCache(IGrainFactory grains)
{
    private static readonly long RefreshEvery = Stopwatch.Frequency;

    private readonly ConcurrentDictionary<(string Model, string Version), Entry> _entries = new();

    public ValueTask<ReplicaSet> GetAsync(string model, string version)
    {
        if (_entries.TryGetValue((model, version), out var entry))
        {
            if (Stopwatch.GetTimestamp() - entry.FetchedAt > RefreshEvery && entry.TryBeginRefresh())
            {
                _ = RefreshAsync(model, version, entry);
            }

            return ValueTask.FromResult(entry.Set);
        }

        return new ValueTask<ReplicaSet>(FetchAsync(model, version));
    }

    private async Task<ReplicaSet> FetchAsync(string model, string version)
    {
        var table = await grains.GetGrain<IModelFleetGrain>(model).GetRoutingTableAsync(version);
        var entry = _entries.GetOrAdd((model, version), _ => new Entry(new ReplicaSet(grains, table)));
        return entry.Set;
    }

    private async Task RefreshAsync(string model, string version, Entry entry)
    {
        try
        {
            var table = await grains.GetGrain<IModelFleetGrain>(model).GetRoutingTableAsync(version);
            if (table.Revision != entry.Set.Revision)
            {
                entry.Set = new ReplicaSet(grains, table);
            }
        }
        catch (Exception)
        {
            // The fleet could not answer (its silo is moving, say): keep routing on the last table and retry later.
        }
        finally
        {
            entry.EndRefresh();
        }
    }

    private sealed class Entry(ReplicaSet set)
    {
        private int _refreshing;

        public ReplicaSet Set { get; set; } = set;

        public long FetchedAt { get; private set; } = Stopwatch.GetTimestamp();

        public bool TryBeginRefresh() => Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0;

        public void EndRefresh()
        {
            FetchedAt = Stopwatch.GetTimestamp();
            Volatile.Write(ref _refreshing, 0);
        }
    }

    internal sealed class ReplicaSet
    {
        /// <summary>How long a replica whose call failed in transport is passed over (about membership's detection time).</summary>
        private static readonly long AvoidFor = 5 * Stopwatch.Frequency;

        private readonly IModelReplicaGrain[] _replicas;
        private readonly int[] _inFlight;
        private readonly long[] _avoidUntil;

        public ReplicaSet(IGrainFactory grains, RoutingTable table)
        {
            Revision = table.Revision;
            _replicas = table.Replicas.Select(key => grains.GetGrain<IModelReplicaGrain>(key)).ToArray();
            _inFlight = new int[_replicas.Length];
            _avoidUntil = new long[_replicas.Length];
        }

        public long Revision { get; }

        public int Count => _replicas.Length;

        public IModelReplicaGrain this[int index] => _replicas[index];

        public int InFlight(int index) => Volatile.Read(ref _inFlight[index]);

        /// <summary>
        /// Power of two choices: of two random replicas, one not being avoided, else the one with fewer requests in
        /// flight; ties go to the first pick so equal replicas share load at random.
        /// </summary>
        public int Pick()
        {
            if (_replicas.Length == 1)
            {
                return 0;
            }

            var a = Random.Shared.Next(_replicas.Length);
            var b = Random.Shared.Next(_replicas.Length - 1);
            if (b >= a)
            {
                b++;
            }

            var now = Stopwatch.GetTimestamp();
            var aAvoided = Volatile.Read(ref _avoidUntil[a]) > now;
            var bAvoided = Volatile.Read(ref _avoidUntil[b]) > now;
            if (aAvoided != bAvoided)
            {
                return aAvoided ? b : a;
            }

            return InFlight(b) < InFlight(a) ? b : a;
        }

        /// <summary>Passes the replica over for a while: its silo did not answer.</summary>
        public void Avoid(int index) => Volatile.Write(ref _avoidUntil[index], Stopwatch.GetTimestamp() + AvoidFor);

        public void Begin(int index) => Interlocked.Increment(ref _inFlight[index]);

        public void End(int index) => Interlocked.Decrement(ref _inFlight[index]);
    }
}
