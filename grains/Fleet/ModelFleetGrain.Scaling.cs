using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>The autoscaler's tick: demand and its forecast, scaling decisions, reviving silent replicas, draining.</summary>
internal sealed partial class ModelFleetGrain
{
    private async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        foreach (var f in _versions.Values)
        {
            gauges.Set(_model.Name, f.Version, state.State.Unloaded.Contains(f.Version) ? 0 : f.Desired, f.InRotation);
        }

        await RebalanceIfUnevenAsync();
        var policy = _model.Config.Replicas;
        foreach (var fleet in _versions.Values.Where(f => f.InRotation > 0))
        {
            await DrainDueAsync(fleet);
            await ReviveSilentAsync(fleet);
            var inFlight = 0.0;
            for (var i = 0; i < fleet.InRotation; i++)
            {
                if (fleet.Loads.TryGetValue(ReplicaKey.Format(_model.Name, fleet.Version, i), out var report)
                    && time.GetElapsedTime(report.At) < ReportsStaleAfter)
                {
                    // The instant count sees requests held long in a queue; the mean sees a busy replica whose
                    // requests come and go between reports.
                    inFlight += Math.Max(report.Load.InFlight, report.Load.MeanInFlight);
                }
            }

            fleet.Demand.Add(inFlight);
            var forecast = fleet.Demand.Forecast(ForecastSteps(policy));
            var demand = Math.Max(inFlight, forecast);
            var mean = demand / fleet.InRotation;
            var now = time.GetTimestamp();
            if (mean > policy.TargetInFlightPerReplica && fleet.InRotation < policy.MaxReplicas)
            {
                fleet.UnderSince = null;
                fleet.OverSince ??= now;
                if (time.GetElapsedTime(fleet.OverSince.Value) >= TimeSpan.FromMilliseconds(policy.UpscaleDelayMs))
                {
                    var to = Math.Clamp((int)Math.Ceiling(demand / policy.TargetInFlightPerReplica), fleet.InRotation + 1, policy.MaxReplicas);
                    var basis = forecast > inFlight
                        ? $"forecast {forecast:0.#} in flight {policy.UpscaleDelayMs} ms ahead ({inFlight:0.#} now), {mean:0.#} per replica"
                        : $"mean in-flight {mean:0.#} per replica";
                    await DecideAsync(fleet, to, $"{basis} above target {policy.TargetInFlightPerReplica} for {policy.UpscaleDelayMs} ms");
                    fleet.OverSince = null;
                }
            }
            else if (mean < policy.TargetInFlightPerReplica / 2.0 && fleet.InRotation > policy.MinReplicas)
            {
                fleet.OverSince = null;
                fleet.UnderSince ??= now;
                if (time.GetElapsedTime(fleet.UnderSince.Value) >= TimeSpan.FromMilliseconds(policy.DownscaleDelayMs))
                {
                    await DecideAsync(fleet, fleet.InRotation - 1, $"mean in-flight {mean:0.#} per replica below half of target {policy.TargetInFlightPerReplica} for {policy.DownscaleDelayMs} ms");
                    fleet.UnderSince = null;
                }
            }
            else
            {
                fleet.OverSince = null;
                fleet.UnderSince = null;
            }
        }
    }

    /// <summary>The forecast looks one upscale delay ahead, in evaluation ticks.</summary>
    private static int ForecastSteps(ReplicaPolicy policy) =>
        Math.Max(1, (int)Math.Ceiling(policy.UpscaleDelayMs / EvaluateEvery.TotalMilliseconds));

    /// <summary>
    /// Calls each replica in rotation that has stopped reporting. A live one just answers; one whose silo died is
    /// re-activated by the call on a surviving silo (once membership has declared the old one dead; until then the
    /// call fails fast and the next tick tries again), which restores the version's replica count.
    /// </summary>
    private async Task ReviveSilentAsync(VersionFleet fleet)
    {
        for (var i = 0; i < fleet.InRotation; i++)
        {
            var key = ReplicaKey.Format(_model.Name, fleet.Version, i);
            if (!fleet.Loads.TryGetValue(key, out var last) || time.GetElapsedTime(last.At) < ReportsStaleAfter)
            {
                continue;
            }

            try
            {
                var status = await Replica(fleet.Version, i).WarmUpAsync().WaitAsync(ReviveTimeout);
                if (status.Silo != last.Load.Silo)
                {
                    await RecordAsync(fleet.Version, fleet.InRotation, fleet.InRotation,
                        $"replica {key} lost on silo {last.Load.Silo} (silent for {time.GetElapsedTime(last.At).TotalSeconds:0.0} s); re-activated on silo {status.Silo}");
                }

                fleet.Loads[key] = (LoadOf(status), time.GetTimestamp());
            }
            catch (Exception e)
            {
                LogReviveFailed(logger, key, e.Message);
            }
        }
    }

    private async Task DecideAsync(VersionFleet fleet, int to, string reason)
    {
        state.State.Desired[fleet.Version] = to;
        await RecordAsync(fleet.Version, fleet.InRotation, to, reason);
        await ScaleToAsync(fleet, to);
    }

    private async Task DrainDueAsync(VersionFleet fleet)
    {
        foreach (var (index, since) in fleet.Draining.ToArray())
        {
            if (time.GetElapsedTime(since) >= DrainAfter)
            {
                fleet.Draining.Remove(index);
                fleet.Loads.Remove(ReplicaKey.Format(_model.Name, fleet.Version, index));
                await Replica(fleet.Version, index).UnloadAsync();
            }
        }
    }

    private async Task ScaleToAsync(VersionFleet fleet, int target)
    {
        fleet.Desired = target;
        while (fleet.InRotation < target)
        {
            var index = fleet.InRotation;
            fleet.Draining.Remove(index);
            var warm = await Replica(fleet.Version, index).WarmUpAsync(); // warm before it takes traffic
            fleet.Loads[warm.ReplicaId] = (LoadOf(warm), time.GetTimestamp());
            fleet.InRotation++;
            fleet.Revision++;
        }

        while (fleet.InRotation > target)
        {
            fleet.InRotation--;
            fleet.Revision++;
            fleet.Draining[fleet.InRotation] = time.GetTimestamp();
        }
    }
}
