using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using static Orleans.AiFleet.Grains.Lifecycle.ExperimentStatistics;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>Starting experiments, operators' actions, and the tests that step, promote or roll back.</summary>
internal sealed partial class ModelExperimentsGrain
{
    /// <summary>Fewer requests than this in either arm in a step and the error and latency tests wait.</summary>
    private const int MinCompared = 10;

    public async Task<ExperimentView> StartAsync(ExperimentSpec spec)
    {
        if (Current is { } running)
        {
            throw AiFleetException.Conflict($"experiment {running.Id} of model '{_model}' has not ended; promote it or roll it back first");
        }

        var fleet = GrainFactory.GetGrain<IModelFleetGrain>(_model);
        var policy = await fleet.GetPolicyAsync();
        spec = spec with { Baseline = string.IsNullOrEmpty(spec.Baseline) ? policy.DefaultVersion : spec.Baseline, Steps = spec.Steps.ToArray() }; // an array: see SetPolicyAsync
        var model = repository.Find(_model)!;
        foreach (var (field, version) in new[] { ("candidate", spec.Candidate), ("baseline", spec.Baseline) })
        {
            if (!model.Versions.Contains(version))
            {
                throw AiFleetException.NotFound($"model '{_model}' has no version '{version}'", FailureCodes.ModelNotFound, field);
            }
        }

        if (spec.Candidate == spec.Baseline)
        {
            throw AiFleetException.Invalid($"the candidate and the baseline are both version {spec.Candidate}", "candidate");
        }

        var now = time.GetUtcNow();
        var experiment = new Experiment
        {
            Id = ExperimentId.Format(_model, state.State.Next),
            Spec = spec,
            StartedAt = now,
            StepStartedAt = now,
        };

        await fleet.SetPolicyAsync(PolicyOf(experiment), experiment.Id); // refused (and nothing kept) while versions are unloaded
        state.State.Next++;
        state.State.Experiments.Add(experiment);
        if (state.State.Experiments.Count > MaxKept)
        {
            state.State.Experiments.RemoveAt(0);
        }

        await DecideAsync(experiment, "start", $"{spec.Kind} of version {spec.Candidate} against {spec.Baseline} at {spec.Steps[0]:0.##} %", []);
        await this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        return View(experiment);
    }

    public async Task<ExperimentView> ActAsync(string id, string action)
    {
        var experiment = state.State.Experiments.FirstOrDefault(e => e.Id == id)
            ?? throw AiFleetException.NotFound($"model '{_model}' has no experiment '{id}'", field: "id");
        if (!experiment.IsLive)
        {
            throw AiFleetException.Conflict($"experiment {id} has ended ({experiment.State})");
        }

        switch (action)
        {
            case "pause" when experiment.State == ExperimentStates.Running:
                experiment.State = ExperimentStates.Paused;
                await DecideAsync(experiment, "pause", "by an operator; traffic stays as it is", []);
                break;
            case "resume" when experiment.State == ExperimentStates.Paused:
                experiment.State = ExperimentStates.Running;
                BeginStep(experiment, experiment.Step);
                await DecideAsync(experiment, "resume", "by an operator; the step starts over", []);
                break;
            case "pause" or "resume":
                throw AiFleetException.Conflict($"experiment {id} is {experiment.State}");
            case "promote":
                await EndAsync(experiment, promote: true, "by an operator", []);
                break;
            case "rollback":
                await EndAsync(experiment, promote: false, "by an operator", []);
                break;
            default:
                throw AiFleetException.Invalid($"'{action}' is not an action; use pause, resume, promote or rollback", "action");
        }

        return View(experiment);
    }

    private async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        PublishGauges();
        if (Current is not { State: ExperimentStates.Running } experiment)
        {
            return;
        }

        var (verdict, reason, statistics) = Test(experiment);
        switch (verdict)
        {
            case Verdict.RollBack:
                await EndAsync(experiment, promote: false, reason, statistics);
                return;
            case Verdict.Better when !experiment.Decisions.Any(d => d.Action == "better"):
                await DecideAsync(experiment, "better", reason, statistics);
                if (experiment.Spec.PromoteWhenBetter)
                {
                    await EndAsync(experiment, promote: true, "significantly better, and the experiment promotes when it is", statistics);
                }

                return;
            case Verdict.StepPassed when experiment.Step + 1 < experiment.Spec.Steps.Count && experiment.Spec.Steps[experiment.Step + 1] < 100:
                BeginStep(experiment, experiment.Step + 1);
                await GrainFactory.GetGrain<IModelFleetGrain>(_model).SetPolicyAsync(PolicyOf(experiment), experiment.Id);
                await DecideAsync(experiment, "step", $"{reason}; on to {experiment.Spec.Steps[experiment.Step]:0.##} %", statistics);
                return;
            case Verdict.StepPassed:
                await EndAsync(experiment, promote: true, $"{reason} at the last step", statistics);
                return;
        }

        if (time.GetUtcNow() - _persistedAt >= PersistEvery)
        {
            await PersistAsync();
        }
    }

    private enum Verdict
    {
        Wait,
        RollBack,
        Better,
        StepPassed,
    }

    /// <summary>The tests, in order: guardrail, errors, latency, accuracy, then (canaries) whether the step has passed.</summary>
    private (Verdict Verdict, string Reason, Dictionary<string, double> Statistics) Test(Experiment experiment)
    {
        var spec = experiment.Spec;
        var alpha = 1 - spec.Confidence;
        var (c, b) = (Arm(experiment.InStep, spec.Candidate), Arm(experiment.InStep, spec.Baseline));
        var stats = new Dictionary<string, double>
        {
            ["candidateRequests"] = c.N, ["candidateErrors"] = c.Errors, ["baselineRequests"] = b.N, ["baselineErrors"] = b.Errors,
        };

        var (errorLow, errorHigh) = WilsonOneSided(c.Errors, c.N, spec.Confidence);
        stats["candidateErrorRateLow"] = errorLow;
        if (c.N >= MinCompared && errorLow > spec.MaxErrorRate)
        {
            return (Verdict.RollBack, $"error rate {Rate(c.Errors, c.N):P1} is above the {spec.MaxErrorRate:P1} guardrail (lower bound {errorLow:P2} at {spec.Confidence:P0})", stats);
        }

        var pErrors = FisherMore(c.Errors, c.N, b.Errors, b.N);
        stats["errorsPValue"] = pErrors;
        if (c.N >= MinCompared && b.N >= MinCompared && pErrors < alpha)
        {
            return (Verdict.RollBack, $"error rate {Rate(c.Errors, c.N):P2} against {Rate(b.Errors, b.N):P2} (Fisher p = {pErrors:G3})", stats);
        }

        if (c.Latency.Count >= MinCompared && b.Latency.Count >= MinCompared)
        {
            var pLatency = MannWhitneySlower(c.Latency, b.Latency);
            var (p50c, p50b) = (c.Latency.Quantile(0.5)!.Value, b.Latency.Quantile(0.5)!.Value);
            (stats["latencyPValue"], stats["candidateP50Ms"], stats["baselineP50Ms"]) = (pLatency, p50c, p50b);
            if (pLatency < alpha && p50c > p50b * (1 + spec.LatencyTolerance))
            {
                return (Verdict.RollBack, $"median latency {p50c:0.##} ms against {p50b:0.##} ms (Mann–Whitney p = {pLatency:G3})", stats);
            }
        }

        var (lc, lb) = (experiment.Labels.GetValueOrDefault(spec.Candidate) ?? new(), experiment.Labels.GetValueOrDefault(spec.Baseline) ?? new());
        if (lc.Labelled >= spec.MinLabels && lb.Labelled >= spec.MinLabels)
        {
            var (wrongC, wrongB) = (lc.Labelled - lc.Correct, lb.Labelled - lb.Correct);
            var (pWorse, pBetter) = (FisherMore(wrongC, lc.Labelled, wrongB, lb.Labelled), FisherFewer(wrongC, lc.Labelled, wrongB, lb.Labelled));
            (stats["accuracyWorsePValue"], stats["accuracyBetterPValue"]) = (pWorse, pBetter);
            (stats["candidateAccuracy"], stats["baselineAccuracy"]) = (Rate(lc.Correct, lc.Labelled), Rate(lb.Correct, lb.Labelled));
            var accuracy = $"accuracy {Rate(lc.Correct, lc.Labelled):P1} against {Rate(lb.Correct, lb.Labelled):P1} over {lc.Labelled} and {lb.Labelled} labels";
            if (pWorse < alpha)
            {
                return (Verdict.RollBack, $"{accuracy} (Fisher p = {pWorse:G3})", stats);
            }

            if (pBetter < alpha)
            {
                return (Verdict.Better, $"{accuracy} (Fisher p = {pBetter:G3})", stats);
            }
        }

        stats["candidateErrorRateHigh"] = errorHigh;
        var dwelt = time.GetUtcNow() - experiment.StepStartedAt >= TimeSpan.FromSeconds(spec.DwellSeconds);
        var nonInferior = errorHigh <= Rate(b.Errors, b.N) + spec.Margin;
        return spec.Kind == ExperimentKinds.Canary && dwelt && c.N >= spec.MinSamples && nonInferior
            ? (Verdict.StepPassed, $"step {spec.Steps[experiment.Step]:0.##} %: {c.N} requests, error rate at most {errorHigh:P2} against {Rate(b.Errors, b.N):P2} + {spec.Margin:P1}", stats)
            : (Verdict.Wait, "", stats);
    }

    private static double Rate(long events, long total) => total == 0 ? 0 : (double)events / total;

    /// <summary>An arm's counts: requests it answered plus requests mirrored to it.</summary>
    private static (long N, long Errors, GrainInterfaces.Lifecycle.LatencySketch Latency) Arm(Dictionary<string, VersionCounts> counts, string version) =>
        counts.GetValueOrDefault(version) is { } v ? (v.Requests + v.Mirrored, v.Errors + v.MirrorErrors, v.Latency) : (0, 0, new());

    private void BeginStep(Experiment experiment, int step)
    {
        experiment.Step = step;
        experiment.StepStartedAt = time.GetUtcNow();
        experiment.InStep.Clear();
    }

    private async Task EndAsync(Experiment experiment, bool promote, string reason, Dictionary<string, double> statistics)
    {
        var fleet = GrainFactory.GetGrain<IModelFleetGrain>(_model);
        var version = promote ? experiment.Spec.Candidate : experiment.Spec.Baseline;
        await fleet.SetPolicyAsync(new TrafficPolicy(version, [], null), experiment.Id); // all traffic to one version, at once
        experiment.State = promote ? ExperimentStates.Promoted : ExperimentStates.RolledBack;
        experiment.EndedAt = time.GetUtcNow();
        await DecideAsync(experiment, promote ? "promote" : "rollback", reason, statistics);
        await ForgetReminderAsync();
    }

    private async Task DecideAsync(Experiment experiment, string action, string reason, Dictionary<string, double> statistics)
    {
        experiment.Decisions.Add(new ExperimentDecision(time.GetUtcNow(), action, reason, statistics));
        LogDecision(logger, experiment.Id, action, reason);
        await PersistAsync();
    }

    private async Task PersistAsync()
    {
        await state.WriteStateAsync();
        _persistedAt = time.GetUtcNow();
    }

    /// <summary>The traffic policy an experiment's current step calls for; the candidate's arm first, so its users stay in it as it grows.</summary>
    private static TrafficPolicy PolicyOf(Experiment experiment)
    {
        var spec = experiment.Spec;
        var share = (int)Math.Round(spec.Steps[experiment.Step] * 100);
        return spec.Kind == ExperimentKinds.Shadow
            ? new TrafficPolicy(spec.Baseline, [], new ShadowPolicy(spec.Candidate, share), Experiment: experiment.Id)
            : new TrafficPolicy(spec.Baseline, [new(spec.Candidate, share), new(spec.Baseline, TrafficPolicy.Whole - share)], null, Experiment: experiment.Id);
    }
}
