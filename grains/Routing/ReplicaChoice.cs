namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Which replica of a version takes a call, for every path: power of two choices over this silo's in-flight counts
/// among replicas whose circuit admits a call, never the one that just failed this request when another exists. With
/// every circuit open, panic mode (as load balancers have): failing would turn a partial outage into a full one
/// (during a failover even healthy replicas can fail lookups for a few seconds), so a replica is tried anyway, past
/// its breaker, when the caller has no other model to go to.
/// </summary>
internal static class ReplicaChoice
{
    /// <summary>The replica to call, or -1 when none admits a call and panic is not allowed.</summary>
    public static int Pick(RoutingTableCache.ReplicaSet replicas, int failed, bool panicAllowed, out bool panic)
    {
        var pick = replicas.Count == 0 ? -1 : replicas.Pick(exclude: failed);
        panic = pick < 0 && panicAllowed && replicas.Count > 0;
        if (panic)
        {
            pick = replicas.Count == 1 || failed < 0 ? Random.Shared.Next(replicas.Count) : (failed + 1) % replicas.Count;
        }

        return pick;
    }
}
