using Orleans.AiFleet.ClientApi.Cluster;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.GrainInterfaces.Courses;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Course generation: <c>POST /v1/courses</c> starts a saga (202, idempotent per <c>Idempotency-Key</c>), its progress
/// as JSON and as server-sent events, cancel, the generated course, and the caller's courses. Only the owner or an
/// admin sees a saga or a course; anyone else gets 404, as for one that does not exist.
/// </summary>
internal static class CoursesApi
{
    public static IEndpointRouteBuilder MapCoursesApi(this IEndpointRouteBuilder app)
    {
        var courses = app.MapGroup("/v1/courses").WithTags("Courses");
        courses.MapPost("", StartAsync);
        courses.MapGet("", ListAsync);
        courses.MapGet("/jobs/{id}", StatusAsync);
        courses.MapGet("/jobs/{id}/events", EventsAsync);
        courses.MapPost("/jobs/{id}/cancel", CancelAsync);
        courses.MapGet("/{courseId}", CourseAsync);
        return app;
    }

    public sealed record StartBody(
        string? Subject,
        string? Level,
        int? Lessons,
        string? Language,
        string? Model,
        [property: JsonPropertyName("min_quality")] double? MinQuality,
        [property: JsonPropertyName("budget_ceiling")] decimal? BudgetCeiling,
        [property: JsonPropertyName("lesson_tokens")] int? LessonTokens);

    public sealed record Job(string Id, string State, string StatusUrl, string EventsUrl, SagaStatus Status);

    /// <summary>The saga id for a user's idempotency key: the same key always names the same saga.</summary>
    public static string SagaId(string user, string? idempotencyKey) =>
        idempotencyKey is null
            ? "saga_" + Guid.NewGuid().ToString("N")
            : "saga_" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(user + "\n" + idempotencyKey)))[..32].ToLowerInvariant();

    private static async Task<Results<Accepted<Job>, ProblemHttpResult>> StartAsync(
        HttpContext http, StartBody body, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        var key = http.Request.Headers["Idempotency-Key"].FirstOrDefault();
        if (key is { Length: 0 or > InputBounds.MaxIdempotencyKeyLength })
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid Idempotency-Key", $"the Idempotency-Key header must be 1 to {InputBounds.MaxIdempotencyKeyLength} characters");
        }

        var request = new CourseRequest(body.Subject ?? "", body.Level ?? "beginner", body.Lessons ?? 5, body.Language ?? "English",
            body.Model ?? "auto", body.MinQuality, body.BudgetCeiling, body.LessonTokens ?? 160);
        var id = SagaId(caller.UserId(), key);
        var status = await calls.RunAsync(_ => grains.GetGrain<ICourseGenerationGrain>(id).StartAsync(caller.UserId(), caller.UserTier(), request, caller.ChargedTeam()));
        return TypedResults.Accepted($"/v1/courses/jobs/{id}", ToJob(status));
    }

    private static Job ToJob(SagaStatus s) => new(s.Id, s.State, $"/v1/courses/jobs/{s.Id}", $"/v1/courses/jobs/{s.Id}/events", s);

    private static async Task<Results<Ok<SagaStatus>, ProblemHttpResult>> StatusAsync(string id, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls) =>
        await OwnedAsync(id, caller, grains, calls) is { } status ? TypedResults.Ok(status) : NotFound(id);

    private static async Task<Results<Accepted<SagaStatus>, ProblemHttpResult>> CancelAsync(string id, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        if (await OwnedAsync(id, caller, grains, calls) is null)
        {
            return NotFound(id);
        }

        var status = await calls.RunAsync(_ => grains.GetGrain<ICourseGenerationGrain>(id).CancelAsync());
        return TypedResults.Accepted($"/v1/courses/jobs/{id}", status!);
    }

    /// <summary>
    /// Server-sent events: every event the saga has recorded (from <c>Last-Event-ID</c> on, when a client reconnects),
    /// then each new one as the saga pushes it, until the saga ends; the last is <c>event: end</c> with the final status.
    /// </summary>
    private static async Task<IResult> EventsAsync(string id, HttpContext http, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        if (await OwnedAsync(id, caller, grains, calls) is null)
        {
            return NotFound(id);
        }

        long.TryParse(http.Request.Headers["Last-Event-ID"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var after);
        return TypedResults.ServerSentEvents(ProgressAsync(grains.GetGrain<ICourseGenerationGrain>(id), after, http.RequestAborted));
    }

    /// <summary>
    /// The saga's pushed progress as events. When the saga's stream breaks (its silo died and it resumes elsewhere,
    /// or the gateway changed) it is watched again from the last event sent, for up to <see cref="WatchRetries"/> tries.
    /// </summary>
    private static async IAsyncEnumerable<SseItem<string>> ProgressAsync(
        ICourseGenerationGrain saga, long after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var tries = 0; tries < WatchRetries; tries++)
        {
            var progress = saga.WatchAsync(after, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                while (true)
                {
                    SagaProgress? next;
                    try
                    {
                        next = await progress.MoveNextAsync() ? progress.Current : null;
                    }
                    catch (Exception) when (!cancellationToken.IsCancellationRequested)
                    {
                        break; // watched again below
                    }

                    if (next is null)
                    {
                        yield break;
                    }

                    if (next.Event is { } e)
                    {
                        (after, tries) = (e.Seq, 0);
                        yield return new SseItem<string>(JsonSerializer.Serialize(e, Json), e.Kind) { EventId = e.Seq.ToString(CultureInfo.InvariantCulture) };
                        continue;
                    }

                    yield return new SseItem<string>(JsonSerializer.Serialize(next.End, Json), "end");
                    yield break;
                }
            }
            finally
            {
                try
                {
                    await progress.DisposeAsync();
                }
                catch (Exception)
                {
                    // A broken stream may fail to dispose; its grain side expires by itself.
                }
            }

            await Task.Delay(WatchRetryDelay, cancellationToken);
        }
    }

    private const int WatchRetries = 50;

    private static readonly TimeSpan WatchRetryDelay = TimeSpan.FromMilliseconds(200);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static async Task<Results<Ok<Course>, ProblemHttpResult>> CourseAsync(string courseId, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await Admission.AdmitAsync(caller, grains, calls);
        var course = InputBounds.IsKey(courseId) ? await calls.RunAsync(_ => grains.GetGrain<ICourseGrain>(courseId).GetAsync()) : null;
        return course is not null && (course.User == caller.UserId() || caller.IsAdmin())
            ? TypedResults.Ok(course)
            : Problem(StatusCodes.Status404NotFound, "Course not found", $"no course '{courseId}' of yours");
    }

    private static async Task<Results<Ok<CoursePage>, ProblemHttpResult>> ListAsync(int? offset, int? limit, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        if (offset is < 0 || limit is < 1 or > 100)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid page", "'offset' must be 0 or more and 'limit' from 1 to 100");
        }

        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserCoursesGrain>(caller.UserId()).ListAsync(offset ?? 0, limit ?? 20)));
    }

    /// <summary>Whether <paramref name="id"/> could name a saga (checked before a grain is activated for it).</summary>
    internal static bool IsSagaId(string id) => id.StartsWith("saga_", StringComparison.Ordinal) && id.Length <= 64;

    /// <summary>The saga's status when it exists and the caller owns it or is an admin.</summary>
    private static async Task<SagaStatus?> OwnedAsync(string id, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await Admission.AdmitAsync(caller, grains, calls);
        if (!IsSagaId(id))
        {
            return null; // not a saga id: no grain is activated for it
        }

        var status = await calls.RunAsync(_ => grains.GetGrain<ICourseGenerationGrain>(id).GetStatusAsync());
        return status is not null && (status.User == caller.UserId() || caller.IsAdmin()) ? status : null;
    }

    private static ProblemHttpResult NotFound(string id) =>
        Problem(StatusCodes.Status404NotFound, "Course job not found", $"no course job '{id}' of yours");

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title);
}
