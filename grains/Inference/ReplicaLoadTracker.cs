using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Inference;

/// <summary>
/// The silo's count of requests it has in flight on each replica, shared by all local router activations. The
/// router picks by power of two choices over it: two random replicas, the less loaded wins. That keeps load even
/// without a central counter on the request path.
/// </summary>
internal sealed class ReplicaLoadTracker(IGrainFactory grains)
{
    private readonly ConcurrentDictionary<(string Model, string Version), ReplicaSet> _sets = new();

    public ReplicaSet Get(string model, string version, int replicas)
    {
        var set = _sets.GetOrAdd((model, version), static (k, arg) => new ReplicaSet(arg.grains, k.Model, k.Version, arg.replicas), (grains, replicas));
        if (set.Count != replicas)
        {
            set = new ReplicaSet(grains, model, version, replicas);
            _sets[(model, version)] = set;
        }

        return set;
    }

    internal sealed class ReplicaSet
    {
        private readonly IModelReplicaGrain[] _replicas;
        private readonly int[] _inFlight;

        public ReplicaSet(IGrainFactory grains, string model, string version, int count)
        {
            _replicas = new IModelReplicaGrain[count];
            _inFlight = new int[count];
            for (var i = 0; i < count; i++)
            {
                _replicas[i] = grains.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(model, version, i));
            }
        }

        public int Count => _replicas.Length;

        public IModelReplicaGrain this[int index] => _replicas[index];

        public int InFlight(int index) => Volatile.Read(ref _inFlight[index]);

        /// <summary>Power of two choices; ties go to the first pick so equal replicas share load at random.</summary>
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

            return InFlight(b) < InFlight(a) ? b : a;
        }

        public void Begin(int index) => Interlocked.Increment(ref _inFlight[index]);

        public void End(int index) => Interlocked.Decrement(ref _inFlight[index]);
    }
}
