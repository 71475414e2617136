using Orleans.AiFleet.ClientApi.Cluster;
using System.Security.Claims;
using System.Text.Json.Serialization;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The model lifecycle over HTTP: each model's traffic policy (admin: default version, sticky split, shadow),
/// experiments (read by any key; started, paused, resumed, promoted and rolled back by admins), and feedback on
/// earlier answers (any key, for its own answers). Errors are problem details naming the field.
/// </summary>
internal static class LifecycleApi
{
    public const int MaxFeedbackRows = 1024;

    public static IEndpointRouteBuilder MapLifecycleApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/admin").WithTags("Lifecycle").RequireAuthorization(ApiKeyAuthenticationHandler.AdminPolicy);
        admin.MapGet("/models/{model}/traffic", GetTrafficAsync);
        admin.MapPut("/models/{model}/traffic", SetTrafficAsync);
        admin.MapPost("/experiments", StartAsync);
        admin.MapPost("/experiments/{id}/{action}", ActAsync);

        var open = app.MapGroup("/v1").WithTags("Lifecycle");
        open.MapGet("/experiments", ListAsync);
        open.MapGet("/experiments/{id}", GetAsync);
        open.MapPost("/feedback", FeedbackAsync);
        return app;
    }

    public sealed record ShareBody(string? Version, double? Percent);

    public sealed record TrafficBody(string? DefaultVersion, IReadOnlyList<ShareBody?>? Split, ShareBody? Shadow);

    public sealed record TrafficView(string Model, string DefaultVersion, IReadOnlyList<ShareView> Split, ShareView? Shadow, long Revision, string? Experiment);

    public sealed record ShareView(string Version, double Percent);

    public sealed record FeedbackBody(string? Model, string? Id, int? Label, int[]? Labels, double? Score, double[]? Scores);

    public sealed record ExperimentBody(
        string? Model, ExperimentKind? Kind, string? Candidate, string? Baseline, double[]? Steps, int? MinSamples, double? DwellSeconds,
        double? Confidence, double? MaxErrorRate, double? LatencyTolerance, double? Margin, int? MinLabels, bool? PromoteWhenBetter);

    [JsonConverter(typeof(StrictEnumConverter<ExperimentKind>))]
    public enum ExperimentKind
    {
        Canary,
        Ab,
        Shadow,
    }

    private static async Task<IResult> GetTrafficAsync(string model, ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        await FindAsync(model, catalog);
        return TypedResults.Ok(View(model, await calls.RunAsync(_ => grains.GetGrain<IModelFleetGrain>(model).GetPolicyAsync())));
    }

    private static async Task<IResult> SetTrafficAsync(string model, TrafficBody body, ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        var descriptor = await FindAsync(model, catalog);
        var split = (body.Split ?? []).Select((s, i) => Share(s, $"split[{i}]")).ToArray();
        (string Version, int BasisPoints)? shadow = body.Shadow is null ? null : Share(body.Shadow, "shadow");
        var policy = new TrafficPolicy(
            body.DefaultVersion ?? descriptor.DefaultVersion,
            split.Select(s => new VersionShare(s.Version, s.BasisPoints)).ToArray(),
            shadow is null ? null : new ShadowPolicy(shadow.Value.Version, shadow.Value.BasisPoints));
        var set = await calls.RunAsync(_ => grains.GetGrain<IModelFleetGrain>(model).SetPolicyAsync(policy));
        return TypedResults.Ok(View(model, set));
    }

    /// <summary>A share in percent, to two decimals (basis points).</summary>
    private static (string Version, int BasisPoints) Share(ShareBody? share, string field)
    {
        if (share?.Version is not { Length: > 0 } version || !InputBounds.IsModelName(version))
        {
            throw AiFleetException.Invalid($"'{field}.version' must name a version", $"{field}.version");
        }

        var basisPoints = Math.Round((share.Percent ?? -1) * 100);
        if (share.Percent is not (>= 0 and <= 100) || Math.Abs((share.Percent.Value * 100) - basisPoints) > 1e-6)
        {
            throw AiFleetException.Invalid($"'{field}.percent' must be from 0 to 100, to at most two decimals", $"{field}.percent");
        }

        return (version, (int)basisPoints);
    }

    private static TrafficView View(string model, TrafficPolicy policy) => new(
        model, policy.DefaultVersion,
        policy.Split.Select(a => new ShareView(a.Version, a.BasisPoints / 100.0)).ToArray(),
        policy.Shadow is { } s ? new ShareView(s.Version, s.BasisPoints / 100.0) : null,
        policy.Revision, policy.Experiment);

    internal static async Task<IResult> StartAsync(ExperimentBody body, ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        if (body.Model is null)
        {
            throw AiFleetException.Invalid("'model' is required", "model");
        }

        await FindAsync(body.Model, catalog);
        var spec = Spec(body);
        var view = await calls.RunOnceAsync(() => grains.GetGrain<IModelExperimentsGrain>(body.Model).StartAsync(spec));
        return TypedResults.Created($"/v1/experiments/{view.Id}", view);
    }

    /// <summary>The spec with its defaults: a canary of 1, 5, 25, 50, 100 % (an A/B of 50 %, a shadow of 100 %) at 99 % confidence.</summary>
    private static ExperimentSpec Spec(ExperimentBody body)
    {
        var kind = body.Kind ?? ExperimentKind.Canary;
        if (body.Candidate is not { Length: > 0 } candidate || !InputBounds.IsModelName(candidate))
        {
            throw AiFleetException.Invalid("'candidate' must name the version to try", "candidate");
        }

        if (body.Baseline is { } baseline && !InputBounds.IsModelName(baseline))
        {
            throw AiFleetException.Invalid("'baseline' must name a version", "baseline");
        }

        double[] steps = body.Steps ?? (kind switch { ExperimentKind.Canary => [1, 5, 25, 50, 100], ExperimentKind.Ab => [50], _ => [100] });
        if (steps.Length is 0 or > 20 || steps.Any(s => s is not (> 0 and <= 100)) || steps.Zip(steps.Skip(1)).Any(p => p.First >= p.Second))
        {
            throw AiFleetException.Invalid("'steps' must be 1 to 20 rising shares in percent, each above 0 and at most 100", "steps");
        }

        if (kind != ExperimentKind.Canary && (steps.Length != 1 || (kind == ExperimentKind.Ab && steps[0] >= 100)))
        {
            throw AiFleetException.Invalid("an A/B or a shadow takes one step: the candidate's share (below 100 % for an A/B)", "steps");
        }

        return new ExperimentSpec(
            kind switch { ExperimentKind.Canary => ExperimentKinds.Canary, ExperimentKind.Ab => ExperimentKinds.AB, _ => ExperimentKinds.Shadow },
            candidate, body.Baseline ?? "", steps,
            Bounded(body.MinSamples ?? 200, 1, 10_000_000, "minSamples"),
            Bounded(body.DwellSeconds ?? 10, 0, 86_400, "dwellSeconds"),
            Bounded(body.Confidence ?? 0.99, 0.5, 0.9999, "confidence"),
            Bounded(body.MaxErrorRate ?? 0.05, 0.0001, 1, "maxErrorRate"),
            Bounded(body.LatencyTolerance ?? 0.2, 0, 10, "latencyTolerance"),
            Bounded(body.Margin ?? 0.02, 0, 1, "margin"),
            Bounded(body.MinLabels ?? 50, 1, 10_000_000, "minLabels"),
            body.PromoteWhenBetter ?? true);
    }

    private static T Bounded<T>(T value, T min, T max, string field)
        where T : IComparable<T> =>
        value.CompareTo(min) >= 0 && value.CompareTo(max) <= 0
            ? value
            : throw AiFleetException.Invalid($"'{field}' must be from {min} to {max}", field);

    internal static async Task<IResult> ActAsync(string id, string action, IGrainFactory grains, ClusterCalls calls) =>
        TypedResults.Ok(await calls.RunAsync(_ => Experiments(grains, id).ActAsync(id, action)));

    private static async Task<IResult> GetAsync(string id, IGrainFactory grains, ClusterCalls calls) =>
        await calls.RunAsync(_ => Experiments(grains, id).GetAsync(id)) is { } view
            ? TypedResults.Ok(view)
            : throw AiFleetException.NotFound($"no experiment has id '{id}'", field: "id");

    internal static async Task<IResult> ListAsync(ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        var models = (await catalog.ListAsync()).Where(m => m.Catalog?.Provider is null).Select(m => m.Name).Order(StringComparer.Ordinal);
        var views = await Task.WhenAll(models.Select(m => calls.RunAsync(_ => grains.GetGrain<IModelExperimentsGrain>(m).GetViewAsync())));
        return TypedResults.Ok(new
        {
            experiments = views.SelectMany(v => v.Experiments).OrderByDescending(e => e.StartedAt).ToArray(),
            models = views.Select(v => new { model = v.Model, versions = v.Versions }).ToArray(),
        });
    }

    private static async Task<IResult> FeedbackAsync(FeedbackBody body, ClaimsPrincipal caller, ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        await Admission.AdmitAsync(caller, grains, calls); // counted like any request, found or not
        if (body.Model is null)
        {
            throw AiFleetException.Invalid("'model' is required", "model");
        }

        if (body.Id is not { Length: > 0 } id || !InputBounds.IsKey(id))
        {
            throw AiFleetException.Invalid($"'id' must be the request id of an answer (1 to {InputBounds.MaxNameLength} printable characters)", "id");
        }

        await FindAsync(body.Model, catalog);
        var given = new object?[] { body.Label, body.Labels, body.Score, body.Scores }.Count(v => v is not null);
        if (given != 1)
        {
            throw AiFleetException.Invalid("give exactly one of 'label', 'labels', 'score' or 'scores'", "label");
        }

        var labels = body.Label is { } label ? [label] : body.Labels;
        var scores = body.Score is { } score ? [score] : body.Scores;
        if ((labels?.Length ?? scores!.Length) is 0 or > MaxFeedbackRows)
        {
            throw AiFleetException.Invalid($"feedback holds 1 to {MaxFeedbackRows} rows", labels is null ? "scores" : "labels");
        }

        if (scores?.Any(s => !double.IsFinite(s)) == true)
        {
            throw AiFleetException.Invalid("scores must be finite numbers", "scores");
        }

        var feedback = new Feedback(caller.UserId(), id, labels, scores);
        var result = await calls.RunAsync(_ => grains.GetGrain<IModelExperimentsGrain>(body.Model).FeedbackAsync(feedback));
        return TypedResults.Ok(new
        {
            model = result.Model, version = result.Version, rows = result.Rows, correct = result.Correct,
            experiment = result.Experiment, countedInExperiment = result.CountedInExperiment, notCountedBecause = result.NotCountedBecause,
        });
    }

    private static IModelExperimentsGrain Experiments(IGrainFactory grains, string id)
    {
        if (!InputBounds.IsKey(id) || !ExperimentId.TryParse(id, out var model) || !InputBounds.IsModelName(model))
        {
            throw AiFleetException.NotFound($"no experiment has id '{id}'", field: "id");
        }

        return grains.GetGrain<IModelExperimentsGrain>(model);
    }

    /// <summary>A local model of the repository (remote chat models have one version and no experiments).</summary>
    private static async Task<ModelDescriptor> FindAsync(string model, ModelCatalog catalog) =>
        await catalog.FindAsync(model) is { Catalog.Provider: null } descriptor
            ? descriptor
            : throw AiFleetException.ModelNotFound($"model '{model}' is not a local model of the repository");
}
