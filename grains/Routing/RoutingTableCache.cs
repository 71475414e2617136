using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// The silo's copy of each version's routing table, shared by all local router activations, with the count of
/// requests this silo has in flight on each replica and each replica's circuit breaker. A table older than a
/// second is refreshed in the background while the old one keeps serving, so the fleet grain is off the request
/// path; only a version's first request on a silo waits for its table. The router picks by power of two choices
/// over the in-flight counts, among replicas whose circuit admits a call.
/// </summary>
internal sealed class RoutingTableCache(IGrainFactory grains, ReplicaCircuits circuits)
{
    private readonly ConcurrentDictionary<(string Model, string Version), RefreshedEntry<ReplicaSet>> _entries = new();

    public ValueTask<ReplicaSet> GetAsync(string model, string version)
    {
        if (_entries.TryGetValue((model, version), out var entry))
        {
            if (entry.TryBeginRefresh())
            {
                _ = RefreshAsync(model, version, entry);
            }

            return ValueTask.FromResult(entry.Value);
        }

        return new ValueTask<ReplicaSet>(FetchAsync(model, version));
    }

    private async Task<ReplicaSet> FetchAsync(string model, string version)
    {
        var table = await grains.GetGrain<IModelFleetGrain>(model).GetRoutingTableAsync(version);
        var entry = _entries.GetOrAdd((model, version), _ => new RefreshedEntry<ReplicaSet>(new ReplicaSet(grains, circuits, table)));
        return entry.Value;
    }

    private async Task RefreshAsync(string model, string version, RefreshedEntry<ReplicaSet> entry)
    {
        try
        {
            var table = await grains.GetGrain<IModelFleetGrain>(model).GetRoutingTableAsync(version);
            if (table.Revision != entry.Value.Revision)
            {
                entry.Value = new ReplicaSet(grains, circuits, table);
            }
        }
        catch (AiFleetException e) when (e.Code == FailureCodes.ModelUnavailable)
        {
            // The fleet says the version does not serve (an operator unloaded it): forget the table, so the next
            // request asks the fleet and gets its answer rather than reach replicas that are draining.
            _entries.TryRemove(new KeyValuePair<(string, string), RefreshedEntry<ReplicaSet>>((model, version), entry));
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

    internal sealed class ReplicaSet
    {
        private readonly IModelReplicaGrain[] _replicas;
        private readonly ReplicaCircuits.Circuit[] _circuits;
        private readonly int[] _inFlight;

        public ReplicaSet(IGrainFactory grains, ReplicaCircuits circuits, RoutingTable table)
        {
            Revision = table.Revision;
            Version = table.Version;
            Faults = table.Faults;
            _replicas = table.Replicas.Select(key => grains.GetGrain<IModelReplicaGrain>(key)).ToArray();
            _circuits = table.Replicas.Select(circuits.Get).ToArray();
            _inFlight = new int[_replicas.Length];
        }

        public long Revision { get; }

        public string Version { get; }

        /// <summary>Faults an operator injected into this version, or null (the usual case).</summary>
        public VersionFaults? Faults { get; }

        public int Count => _replicas.Length;

        public IModelReplicaGrain this[int index] => _replicas[index];

        public ReplicaCircuits.Circuit Circuit(int index) => _circuits[index];

        public int InFlight(int index) => Volatile.Read(ref _inFlight[index]);

        /// <summary>
        /// Power of two choices: of two random replicas (never <paramref name="exclude"/> when another exists), the
        /// one whose circuit admits a call, else the one with fewer requests in flight (ties go to the first pick, so
        /// equal replicas share load at random). When neither admits, the first that does; -1 when none does.
        /// </summary>
        public int Pick(int exclude = -1)
        {
            var n = _replicas.Length;
            if (n == 1 || (n == 2 && exclude >= 0))
            {
                var only = n == 1 ? 0 : 1 - exclude;
                return _circuits[only].Admits ? only : FirstAdmitting(exclude);
            }

            int a, b;
            if (exclude >= 0)
            {
                // Two distinct picks among the n - 1 others.
                a = Random.Shared.Next(n - 1);
                b = Random.Shared.Next(n - 2);
                if (b >= a)
                {
                    b++;
                }

                a = a >= exclude ? a + 1 : a;
                b = b >= exclude ? b + 1 : b;
            }
            else
            {
                a = Random.Shared.Next(n);
                b = Random.Shared.Next(n - 1);
                if (b >= a)
                {
                    b++;
                }
            }

            var aAdmits = _circuits[a].Admits;
            var bAdmits = _circuits[b].Admits;
            if (aAdmits && bAdmits)
            {
                return InFlight(b) < InFlight(a) ? b : a;
            }

            if (aAdmits || bAdmits)
            {
                return aAdmits ? a : b;
            }

            return FirstAdmitting(exclude);
        }

        /// <summary>The first replica other than <paramref name="exclude"/> whose circuit admits a call; the excluded one as a last resort.</summary>
        private int FirstAdmitting(int exclude)
        {
            for (var i = 0; i < _circuits.Length; i++)
            {
                if (i != exclude && _circuits[i].Admits)
                {
                    return i;
                }
            }

            return exclude >= 0 && _circuits[exclude].Admits ? exclude : -1;
        }

        public void Begin(int index) => Interlocked.Increment(ref _inFlight[index]);

        public void End(int index) => Interlocked.Decrement(ref _inFlight[index]);
    }
}
