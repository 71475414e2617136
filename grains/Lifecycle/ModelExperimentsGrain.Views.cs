using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>The report's figures: arms with their counts, quantiles, accuracy bounds and drift; gauges for /metrics.</summary>
internal sealed partial class ModelExperimentsGrain
{
    private ExperimentView View(Experiment experiment)
    {
        var spec = experiment.Spec;
        var candidateShare = CandidateShare(experiment);
        var arms = new[] { InArm(spec.Candidate, "candidate", candidateShare), InArm(spec.Baseline, "baseline", 100 - candidateShare) };
        var tests = experiment.IsLive ? Test(experiment).Statistics : experiment.Decisions.LastOrDefault()?.Statistics ?? new Dictionary<string, double>();
        return new ExperimentView(experiment.Id, _model, experiment.State, spec, experiment.Step, experiment.StartedAt, experiment.EndedAt,
            arms, tests.Where(t => t.Key.EndsWith("PValue", StringComparison.Ordinal)).ToDictionary(), experiment.Decisions.ToArray());

        ArmView InArm(string version, string role, double share)
        {
            var labels = experiment.Labels.GetValueOrDefault(version) ?? new LabelCounts();
            return Arm(version, role, share, experiment.Total.GetValueOrDefault(version), labels, spec.Confidence)
                with { Labellers = labels.ByUser.Count, LabelsOverCap = labels.OverCap };
        }
    }

    /// <summary>The candidate's share of live traffic (a shadow's candidate serves none: it is mirrored).</summary>
    private static double CandidateShare(Experiment experiment) => experiment.Spec.Kind == ExperimentKinds.Shadow ? 0 : experiment.SharePercent;

    /// <summary>The arms' shares and requests as the gauges report them: counts only, none of the report's statistics.</summary>
    private static IEnumerable<LifecycleGauges.ArmShare> ArmShares(Experiment experiment)
    {
        var spec = experiment.Spec;
        var candidateShare = CandidateShare(experiment);
        yield return new(experiment.Id, spec.Candidate, "candidate", candidateShare, experiment.Total.GetValueOrDefault(spec.Candidate)?.Requests ?? 0);
        yield return new(experiment.Id, spec.Baseline, "baseline", 100 - candidateShare, experiment.Total.GetValueOrDefault(spec.Baseline)?.Requests ?? 0);
    }

    private ArmView Arm(string version, string role, double? share, VersionCounts? counts, LabelCounts? labels, double confidence = 0.95)
    {
        counts ??= new VersionCounts { Version = version };
        labels ??= new LabelCounts();
        var n = counts.Requests + counts.Mirrored;
        var errors = counts.Errors + counts.MirrorErrors;
        double? accuracy = null, low = null, high = null;
        if (labels.Labelled > 0)
        {
            accuracy = Math.Round((double)labels.Correct / labels.Labelled, 4);
            var bounds = ExperimentStatistics.Wilson(labels.Correct, labels.Labelled, confidence);
            (low, high) = (Math.Round(bounds.Low, 4), Math.Round(bounds.High, 4));
        }

        var psi = Psi(version);
        return new ArmView(
            version, role, share, counts.Requests, errors, n == 0 ? 0 : Math.Round((double)errors / n, 5),
            Round(counts.Latency.Quantile(0.5)), Round(counts.Latency.Quantile(0.95)),
            labels.Labelled, accuracy, low, high,
            labels.Scored == 0 ? null : Math.Round(labels.AbsoluteError / labels.Scored, 5),
            counts.Mirrored, counts.Compared == 0 ? null : Math.Round((double)counts.Agreed / counts.Compared, 4),
            psi, psi > Options.DriftThreshold);
    }

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 3) : null;

    /// <summary>The version's largest per-feature PSI over its live window, or null without a profile or enough samples.</summary>
    private double? Psi(string version)
    {
        if (profiles.Find(_model, version) is not { } profile || !_drift.TryGetValue(version, out var window) || window.Rows < Options.DriftWindow / 2)
        {
            return null;
        }

        return Math.Round(profile.Psi(window.Combined()).Max(), 4);
    }

    /// <summary>Accuracy, drift and request counts of every version, for this silo's /metrics.</summary>
    private void PublishGauges()
    {
        gauges.SetArms(_model, state.State.Experiments.Where(e => e.IsLive).SelectMany(ArmShares));
        foreach (var version in _live.Keys.Union(_liveLabels.Keys).Union(_drift.Keys))
        {
            var labels = _liveLabels.GetValueOrDefault(version);
            var psi = Psi(version);
            gauges.Set(_model, version,
                labels is { Labelled: > 0 } ? (double)labels.Correct / labels.Labelled : null,
                psi,
                psi is { } p ? p > Options.DriftThreshold : null);
        }
    }
}
